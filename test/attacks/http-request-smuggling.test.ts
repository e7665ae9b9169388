import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { rawHttp, rawStatus } from '../helpers/raw-http.js';
import { startRecordingUpstream, startTestGateway, type TestGateway } from '../helpers/gateway.js';

const raw = rawHttp;
const statusOf = rawStatus;

describe('malformed and smuggling requests never reach the upstream', () => {
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let gw: TestGateway;
  before(async () => {
    upstream = await startRecordingUpstream();
    gw = await startTestGateway({ routes: [{ name: 'echo', prefix: '/echo', upstream: upstream.url }], server: { limits: { max_header_size: '8kb' } } });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  const cases: Array<[string, string, number[]]> = [
    [
      'CL.TE: Content-Length with Transfer-Encoding chunked',
      'POST /echo/a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG',
      [400],
    ],
    [
      'TE.CL: Transfer-Encoding chunked then Content-Length',
      'POST /echo/a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n',
      [400],
    ],
    ['obfuscated Transfer-Encoding', 'POST /echo/a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: xchunked\r\nContent-Length: 4\r\n\r\nabcd', [400, 501]],
    ['duplicate Content-Length', 'POST /echo/a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde', [400]],
    ['invalid header characters', 'GET /echo/a HTTP/1.1\r\nHost: localhost\r\nX-Bad: a\x01b\r\n\r\n', [400]],
    ['CRLF injection via a bare LF in a header value', 'GET /echo/a HTTP/1.1\r\nHost: localhost\r\nX-A: 1\nX-Injected: yes\r\n\r\n', [400]],
    ['header name with a space before the colon', 'GET /echo/a HTTP/1.1\r\nHost: localhost\r\nContent-Length : 0\r\n\r\n', [400]],
    ['oversized headers', `GET /echo/a HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`, [431]],
    ['path escaping its prefix after percent-decoding (/echo/..%2f..%2fadmin)', 'GET /echo/..%2f..%2fadmin HTTP/1.1\r\nHost: localhost\r\n\r\n', [400]],
    ['encoded dot segments (/echo/%2e%2e/admin)', 'GET /echo/%2e%2e/admin HTTP/1.1\r\nHost: localhost\r\n\r\n', [400]],
    ['raw dot segments (/echo/../admin)', 'GET /echo/../admin HTTP/1.1\r\nHost: localhost\r\n\r\n', [400]],
    ['path-parameter dot segments (/echo/..;/admin, the servlet bypass)', 'GET /echo/..;/admin HTTP/1.1\r\nHost: localhost\r\n\r\n', [400]],
    ['backslash path (/echo\\..\\admin)', 'GET /echo\\..\\admin HTTP/1.1\r\nHost: localhost\r\n\r\n', [400]],
    ['encoded NUL', 'GET /echo/a%00b HTTP/1.1\r\nHost: localhost\r\n\r\n', [400]],
    ['a percent-encoded route prefix (/%65cho/x routed as /echo, cut elsewhere upstream)', 'GET /%65cho/x HTTP/1.1\r\nHost: localhost\r\n\r\n', [400]],
    ['absolute-form request target', 'GET http://evil.example/echo/a HTTP/1.1\r\nHost: localhost\r\n\r\n', [400]],
    ['missing Host header', 'GET /echo/a HTTP/1.1\r\n\r\n', [400]],
  ];

  for (const [name, payload, statuses] of cases) {
    test(`refuses ${name}`, async () => {
      const before = upstream.requests.length;
      // Up to 10 s for the answer; then 400 ms more for anything after it (some refusals keep the connection open).
      const response = await raw(gw.port, payload, 10_000, 400);
      assert.ok(statuses.includes(statusOf(response)), `got: ${response.slice(0, 80)}`);
      assert.equal(upstream.requests.length, before, 'the upstream saw the request');
      assert.ok(!/SMUGGLED|X-Injected/i.test(upstream.requests.map((r) => JSON.stringify(r)).join('')));
    });
  }

  test('a well-formed request on the same gateway still works (the refusals are specific)', async () => {
    const before = upstream.requests.length;
    const response = await raw(gw.port, 'GET /echo/a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', 10_000);
    assert.equal(statusOf(response), 200);
    assert.equal(upstream.requests.length, before + 1);
  });

  test('slowloris: headers that never finish are cut off by header_timeout', async () => {
    const slow = await startTestGateway({ routes: [{ name: 'echo', prefix: '/echo', upstream: upstream.url }], server: { limits: { header_timeout: '500ms', request_timeout: '1s' } } });
    try {
      const started = Date.now();
      const response = await raw(slow.port, 'GET /echo/a HTTP/1.1\r\nHost: localhost\r\nX-Slow: ', 5000);
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 4500, `connection held for ${elapsed} ms`);
      assert.ok(response === '' || statusOf(response) === 408, response.slice(0, 60));
    } finally {
      await slow.stop();
    }
  });

  test('connections beyond max_connections_per_ip are closed at once', async () => {
    const small = await startTestGateway({ routes: [{ name: 'echo', prefix: '/echo', upstream: upstream.url }], server: { limits: { max_connections_per_ip: 2 } } });
    try {
      const sockets = [connect(small.port, '127.0.0.1'), connect(small.port, '127.0.0.1')];
      await Promise.all(sockets.map((s) => new Promise((r) => s.once('connect', r))));
      await new Promise((r) => setTimeout(r, 50));
      const third = await raw(small.port, 'GET /echo/a HTTP/1.1\r\nHost: localhost\r\n\r\n', 300);
      assert.equal(third, '');
      for (const s of sockets) s.destroy();
    } finally {
      await small.stop();
    }
  });

  test('an upstream answering with header bytes that could split the response gets a 502, never relayed', async () => {
    const { createServer } = await import('node:net');
    const evil = createServer((sock) => {
      sock.once('data', () => sock.end('HTTP/1.1 200 OK\r\nX-Split: a\rSet-Cookie: pwned=1\r\nContent-Length: 2\r\n\r\nok'));
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    const port = (evil.address() as { port: number }).port;
    const split = await startTestGateway({ routes: [{ name: 'evil', prefix: '/evil', upstream: `http://127.0.0.1:${port}` }] });
    try {
      const response = await raw(split.port, 'GET /evil/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', 10_000);
      assert.equal(statusOf(response), 502, response.slice(0, 120));
      assert.doesNotMatch(response, /pwned/);
    } finally {
      await split.stop();
      evil.close();
    }
  });
});
