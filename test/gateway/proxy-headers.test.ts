import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rawHttp } from '../helpers/raw-http.js';
import { startRecordingUpstream, startTestGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Raw bytes (clients would normalise what these tests send). Every request here says Connection: close, so the
 * answer ends when the gateway closes: the 10 s only bound a gateway that never answers.
 */
const raw = (port: number, payload: string): Promise<string> => rawHttp(port, payload, 10_000);

/** The final response's status and headers (after any 100 Continue). */
function parse(response: string): { status: number; headers: Map<string, string[]>; body: string } {
  const parts = response.split('\r\n\r\n');
  while (parts.length > 1 && /^HTTP\/1\.1 1\d\d /.test(parts[0] as string)) parts.shift();
  const [head = '', ...rest] = parts;
  const lines = head.split('\r\n');
  const headers = new Map<string, string[]>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    const k = l.slice(0, i).toLowerCase();
    headers.set(k, [...(headers.get(k) ?? []), l.slice(i + 1).trim()]);
  }
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0), headers, body: rest.join('\r\n\r\n') };
}

describe('request and response headers at the gateway', () => {
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let gw: TestGateway;

  before(async () => {
    upstream = await startRecordingUpstream((req, res, body) => {
      const url = req.url ?? '';
      if (url.endsWith('/login-redirect')) {
        // Built from the Host the gateway sent: the upstream's own, internal address.
        res.writeHead(302, { location: `http://${req.headers.host}/base/login?next=%2Fhome`, 'content-location': `http://${req.headers.host}/base/x` });
        res.end();
        return;
      }
      if (url.endsWith('/elsewhere')) {
        res.writeHead(302, { location: `http://${req.headers.host}/other/place` });
        res.end();
        return;
      }
      // Same-origin redirects whose parsed path starts with "//": a backslash (the URL parser reads it as "/") and a
      // dot segment that collapses onto an empty one.
      if (url.endsWith('/backslash')) {
        res.writeHead(302, { location: `http://${req.headers.host}/\\evil.example/phish` });
        res.end();
        return;
      }
      if (url.endsWith('/dots')) {
        res.writeHead(302, { location: `http://${req.headers.host}/x/..//evil.example/phish` });
        res.end();
        return;
      }
      if (url.endsWith('/echo-headers')) {
        const seen = JSON.stringify(req.headers);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(seen) });
        res.end(seen);
        return;
      }
      if (url.endsWith('/external')) {
        res.writeHead(302, { location: 'https://login.example.com/authorize?x=1' });
        res.end();
        return;
      }
      // Two Connection header lines: a list may be split over several (RFC 9110 §5.3), and both name hop-by-hop headers.
      res.writeHead(200, ['content-type', 'text/plain', 'x-request-id', 'chosen-by-upstream', 'connection', 'x-hop-a', 'connection', 'x-hop-b', 'x-hop-a', 'a', 'x-hop-b', 'b', 'x-up-keep', 'c']);
      res.end(body);
    });
    gw = await startTestGateway({
      // The Host values below are names clients could reach a gateway by: listed, as a deployment would (a loopback
      // listener serves only loopback names by default).
      server: { allowed_hosts: ['localhost', 'api.example.com', '10.0.0.1', '::1'] },
      routes: [
        { name: 'api', prefix: '/api', upstream: `${upstream.url}/base` },
        { name: 'keep', prefix: '/keep', upstream: upstream.url, strip_prefix: false },
      ],
    });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  test('TRACE is refused with 405 (an echo would reflect headers the gateway adds) and TRACK with 400; neither reaches the upstream', async () => {
    for (const [method, status, code] of [['TRACE', 405, 'GH_METHOD_NOT_ALLOWED'], ['TRACK', 400, 'GH_BAD_REQUEST']] as const) {
      const before = upstream.requests.length;
      const r = parse(await raw(gw.port, `${method} /api/echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`));
      assert.equal(r.status, status, method);
      assert.equal(JSON.parse(r.body).error.code, code, method);
      assert.equal(upstream.requests.length, before, `${method} reached the upstream`);
    }
  });

  test('Expect: 100-continue is answered by the gateway and the body forwarded, not a 502', async () => {
    const before = upstream.requests.length;
    const r = parse(await raw(gw.port, 'POST /api/upload HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello'));
    assert.equal(r.status, 200, r.body);
    assert.equal(upstream.requests.length, before + 1);
    assert.equal(upstream.requests.at(-1)?.body, 'hello');
    assert.equal(upstream.requests.at(-1)?.headers['expect'], undefined, 'the expectation was the gateway’s to meet');
  });

  for (const [name, hosts] of [
    ['two Host headers', 'Host: good.example\r\nHost: evil.example'],
    ['a Host with a space', 'Host: good.example evil'],
    ['a Host with a path', 'Host: good.example/x'],
    ['a Host with userinfo', 'Host: user@good.example'],
  ] as const) {
    test(`refuses ${name} with 400 (RFC 9112 §3.2), never forwarded`, async () => {
      const before = upstream.requests.length;
      const r = parse(await raw(gw.port, `GET /api/h HTTP/1.1\r\n${hosts}\r\nConnection: close\r\n\r\n`));
      assert.equal(r.status, 400);
      assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'GH_HEADER_INVALID');
      assert.equal(upstream.requests.length, before);
    });
  }

  test('ordinary Host values pass: name, name:port, IPv4, IPv6 literal', async () => {
    for (const host of ['api.example.com', 'api.example.com:8443', '10.0.0.1:80', '[::1]:8080']) {
      const r = parse(await raw(gw.port, `GET /api/h HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
      assert.equal(r.status, 200, host);
      assert.equal(upstream.requests.at(-1)?.headers['x-forwarded-host'], host);
    }
  });

  test('every header named in any Connection header is removed, in both directions', async () => {
    const r = parse(
      await raw(gw.port, 'GET /api/h HTTP/1.1\r\nHost: localhost\r\nConnection: x-drop-a\r\nConnection: x-drop-b, close\r\nX-Drop-A: 1\r\nX-Drop-B: 2\r\nX-Keep: 3\r\n\r\n'),
    );
    assert.equal(r.status, 200);
    const seen = upstream.requests.at(-1);
    assert.equal(seen?.headers['x-drop-a'], undefined);
    assert.equal(seen?.headers['x-drop-b'], undefined);
    assert.equal(seen?.headers['x-keep'], '3');
    assert.equal(r.headers.get('x-hop-a'), undefined);
    assert.equal(r.headers.get('x-hop-b'), undefined);
    assert.deepEqual(r.headers.get('x-up-keep'), ['c']);
  });

  test('a long Connection header still has its headers removed (no fail-open cut-off)', async () => {
    const names = Array.from({ length: 80 }, (_, i) => `x-listed-${i}`);
    const r = parse(await raw(gw.port, `GET /api/h HTTP/1.1\r\nHost: localhost\r\nConnection: ${names.join(', ')}\r\nX-Listed-79: secret-hop\r\nConnection: close\r\n\r\n`));
    assert.equal(r.status, 200);
    assert.equal(upstream.requests.at(-1)?.headers['x-listed-79'], undefined);
  });

  test('the X-Request-Id the client gets is the gateway’s (the one in its logs and audit), not the upstream’s', async () => {
    const r = parse(await raw(gw.port, 'GET /api/h HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'));
    const ids = r.headers.get('x-request-id');
    assert.equal(ids?.length, 1);
    assert.equal(ids?.[0], upstream.requests.at(-1)?.headers['x-request-id']);
  });

  test('a redirect to the upstream’s own (internal) origin is mapped onto the gateway route', async () => {
    const internal = new URL(upstream.url).host;
    const r = parse(await raw(gw.port, 'GET /api/login-redirect HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'));
    assert.equal(r.status, 302);
    assert.deepEqual(r.headers.get('location'), ['/api/login?next=%2Fhome']);
    assert.deepEqual(r.headers.get('content-location'), ['/api/x']);
    const other = parse(await raw(gw.port, 'GET /api/elsewhere HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'));
    assert.deepEqual(other.headers.get('location'), ['/other/place'], 'outside the base path: the internal origin is still dropped');
    const kept = parse(await raw(gw.port, 'GET /keep/login-redirect HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'));
    assert.deepEqual(kept.headers.get('location'), ['/base/login?next=%2Fhome'], 'strip_prefix: false maps upstream paths one to one');
    for (const res of [r, other, kept]) assert.ok(![...res.headers.values()].flat().some((v) => v.includes(internal)), 'an internal address reached the client');
    const external = parse(await raw(gw.port, 'GET /api/external HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'));
    assert.deepEqual(external.headers.get('location'), ['https://login.example.com/authorize?x=1'], 'other origins pass unchanged');
  });

  test('a same-origin redirect never becomes a protocol-relative one ("//evil.example": an open redirect)', async () => {
    for (const [path, expected] of [
      ['/keep/backslash', '/evil.example/phish'],
      ['/api/dots', '/evil.example/phish'],
      ['/keep/dots', '/evil.example/phish'],
    ] as const) {
      const r = parse(await raw(gw.port, `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`));
      assert.equal(r.status, 302, path);
      const location = r.headers.get('location')?.[0] ?? '';
      assert.ok(!location.startsWith('//'), `${path}: ${location}`);
      assert.equal(location, expected, path);
    }
  });

  test('client-address, original-host and Proxy headers a client sends do not reach the upstream', async () => {
    const names = ['x-client-ip', 'true-client-ip', 'cf-connecting-ip', 'fastly-client-ip', 'x-cluster-client-ip', 'client-ip', 'x-forwarded', 'forwarded-for', 'x-original-forwarded-for', 'x-envoy-external-address', 'x-original-host', 'x-host', 'x-real-ip', 'proxy', 'appengine-user-ip', 'cf-pseudo-ipv4', 'proxy-client-ip', 'wl-proxy-client-ip', 'x-originating-ip', 'x-remote-ip', 'x-remote-addr', 'x-proxyuser-ip'];
    const sent = names.map((n) => `${n}: ${n === 'proxy' ? 'http://attacker.example:3128' : '10.0.0.1'}\r\n`).join('');
    const r = parse(await raw(gw.port, `GET /api/echo-headers HTTP/1.1\r\nHost: localhost\r\n${sent}Connection: close\r\n\r\n`));
    assert.equal(r.status, 200);
    const seen = JSON.parse(r.body) as Record<string, string>;
    for (const n of names) assert.equal(seen[n], undefined, `${n} reached the upstream`);
    assert.equal(seen['x-forwarded-for'], '127.0.0.1', 'the gateway\'s own forwarding header stands');
  });
});

describe('refusals at the door', () => {
  test('a refused request target is answered with a request id and leaves a log line (probes are not invisible)', async () => {
    const gw = await startTestGateway({ routes: [{ name: 'echo', prefix: '/echo', upstream: 'demo:echo' }] });
    try {
      for (const payload of ['GET /echo/..;/admin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', 'GET /echo/a HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n']) {
        const r = parse(await raw(gw.port, payload));
        assert.equal(r.status, 400);
        const body = JSON.parse(r.body) as { error: { code: string; request_id?: string } };
        assert.ok(body.error.request_id, 'no request id in the refusal');
        assert.deepEqual(r.headers.get('x-request-id'), [body.error.request_id]);
        const line = gw.log.lines.find((l) => l.includes(body.error.request_id as string));
        assert.ok(line, 'the refusal was not logged');
        const logged = JSON.parse(line) as { status: number; code: string; method: string };
        assert.equal(logged.status, 400);
        assert.equal(logged.code, body.error.code);
        assert.equal(logged.method, 'GET');
      }
    } finally {
      await gw.stop();
    }
  });
});
