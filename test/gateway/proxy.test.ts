import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startRecordingUpstream, startTestGateway, type TestGateway } from '../helpers/gateway.js';

describe('proxy core', () => {
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let gw: TestGateway;

  before(async () => {
    upstream = await startRecordingUpstream((req, res, body) => {
      if (req.url?.startsWith('/base/fail')) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"error":"db down"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', connection: 'x-internal', 'x-internal': 'hop', 'keep-alive': 'timeout=99' });
      res.end(JSON.stringify({ url: req.url, body }));
    });
    gw = await startTestGateway({
      routes: [
        { name: 'api', prefix: '/api', upstream: `${upstream.url}/base` },
        { name: 'keep', prefix: '/keep', upstream: upstream.url, strip_prefix: false, max_body_size: 16 },
        { name: 'echo', prefix: '/echo', upstream: 'demo:echo' },
      ],
    });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  test('forwards method, path below the prefix, query and body to the upstream base path', async () => {
    const res = await request(`${gw.url}/api/items/7?x=1&y=two`, { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(await res.body.json(), { url: '/base/items/7?x=1&y=two', body: 'hello' });
    const seen = upstream.requests.at(-1);
    assert.equal(seen?.method, 'POST');
  });

  test('keeps the prefix when strip_prefix is false', async () => {
    const res = await request(`${gw.url}/keep/a`);
    assert.deepEqual(await res.body.json(), { url: '/keep/a', body: '' });
  });

  test('matches prefixes on segment boundaries only', async () => {
    const res = await request(`${gw.url}/apiary`);
    assert.equal(res.statusCode, 404);
    const body = (await res.body.json()) as { error: { code: string; request_id: string } };
    assert.equal(body.error.code, 'GH_NOT_FOUND');
    assert.ok(body.error.request_id);
  });

  test('sets X-Forwarded-For/-Proto and X-Request-Id, returns the request id', async () => {
    const res = await request(`${gw.url}/api/h`);
    await res.body.dump();
    const seen = upstream.requests.at(-1);
    assert.equal(seen?.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen?.headers['x-forwarded-proto'], 'http');
    assert.equal(seen?.headers['x-request-id'], res.headers['x-request-id']);
  });

  test('ignores client-supplied forwarding and identity headers from an untrusted peer', async () => {
    const res = await request(`${gw.url}/api/h`, {
      headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'tailscale-user-login': 'mallory@example.com', 'x-gatehouse-principal': 'admin', 'x-request-id': 'forged-id' },
    });
    await res.body.dump();
    const seen = upstream.requests.at(-1);
    assert.equal(seen?.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen?.headers['x-forwarded-proto'], 'http');
    assert.equal(seen?.headers['tailscale-user-login'], undefined);
    assert.equal(seen?.headers['x-gatehouse-principal'], undefined);
    assert.notEqual(res.headers['x-request-id'], 'forged-id');
  });

  test('method and path override headers never reach the upstream: it must run the request line that was authorized', async () => {
    const overrides = { 'x-http-method-override': 'DELETE', 'X-HTTP-Method': 'DELETE', 'x-method-override': 'DELETE', 'x-original-url': '/admin/users', 'x-rewrite-url': '/admin/users', 'x-original-method': 'DELETE' };
    const res = await request(`${gw.url}/api/items`, { headers: overrides });
    await res.body.dump();
    assert.equal(res.statusCode, 200);
    const seen = upstream.requests.at(-1);
    assert.equal(seen?.method, 'GET');
    for (const name of Object.keys(overrides)) assert.equal(seen?.headers[name.toLowerCase()], undefined, name);
  });

  test('a configured identity header (trusted_identity.user_header) from an untrusted client never reaches the upstream; from a trusted proxy it does', async () => {
    const up = await startRecordingUpstream();
    const auth = { header: { trusted_identity: { enabled: true, user_header: 'Remote-User', name_header: 'Remote-Name' } } };
    const untrusted = await startTestGateway({ auth, routes: [{ name: 'r', prefix: '/r', upstream: up.url }] });
    const trusted = await startTestGateway({ auth, server: { trusted_proxies: ['127.0.0.0/8'] }, routes: [{ name: 'r', prefix: '/r', upstream: up.url }] });
    try {
      await (await request(`${untrusted.url}/r/x`, { headers: { 'remote-user': 'admin', 'remote-name': 'Admin' } })).body.dump();
      assert.equal(up.requests.at(-1)?.headers['remote-user'], undefined);
      assert.equal(up.requests.at(-1)?.headers['remote-name'], undefined);
      await (await request(`${trusted.url}/r/x`, { headers: { 'remote-user': 'alice' } })).body.dump();
      assert.equal(up.requests.at(-1)?.headers['remote-user'], 'alice');
    } finally {
      await untrusted.stop();
      await trusted.stop();
      await up.close();
    }
  });

  test('credentials meant for the gateway (its API key header, header-method secrets) are consumed there, never forwarded', async () => {
    const { createApiKey } = await import('../../src/authn/index.js');
    const { openStore } = await import('../../src/store/index.js');
    const up = await startRecordingUpstream();
    const shared = randomBytes(24).toString('hex');
    const gw = await startTestGateway({
      auth: { methods: ['api_key', 'header'], header: { headers: { 'X-Shared-Secret': shared }, scopes: ['readonly'] } },
      authz: { routes: [{ path: '/r/*', scopes: ['system:read'] }] },
      routes: [{ name: 'r', prefix: '/r', upstream: up.url, auth_required: true }],
    });
    const store = openStore({ kind: gw.config.store.kind, ...(gw.config.store.path ? { path: gw.config.store.path } : {}) });
    try {
      const { key } = await createApiKey(store, { name: 'svc', scopes: ['readonly'], now: Date.now() });
      const byKey = await request(`${gw.url}/r/x`, { headers: { 'x-api-key': key, 'x-other': 'kept' } });
      assert.equal(byKey.statusCode, 200, await byKey.body.text());
      assert.equal(up.requests.at(-1)?.headers['x-api-key'], undefined, 'the API key reached the upstream');
      assert.equal(up.requests.at(-1)?.headers['x-other'], 'kept');
      const byHeader = await request(`${gw.url}/r/y`, { headers: { 'x-shared-secret': shared } });
      assert.equal(byHeader.statusCode, 200, await byHeader.body.text());
      assert.equal(up.requests.at(-1)?.headers['x-shared-secret'], undefined, 'the shared secret reached the upstream');
    } finally {
      await store.close();
      await gw.stop();
      await up.close();
    }
  });

  test('removes hop-by-hop headers both ways and never forwards the Authorization meant for the gateway', async () => {
    // node:http lets the client name a header in Connection (undici does not).
    const http = await import('node:http');
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const r = http.request(`${gw.url}/api/h`, { headers: { authorization: 'Bearer abc.def', connection: 'x-drop-me', 'x-drop-me': '1', te: 'trailers' } }, resolve);
      r.on('error', reject);
      r.end();
    });
    res.resume();
    await new Promise((r) => res.on('end', r));
    const seen = upstream.requests.at(-1);
    assert.equal(seen?.headers['authorization'], undefined);
    assert.equal(seen?.headers['x-drop-me'], undefined);
    assert.equal(seen?.headers['te'], undefined);
    assert.equal(res.headers['x-internal'], undefined);
    assert.notEqual(res.headers['keep-alive'], 'timeout=99');
  });

  test('passes upstream error statuses through', async () => {
    const res = await request(`${gw.url}/api/fail`);
    assert.equal(res.statusCode, 500);
    await res.body.dump();
  });

  test('refuses a body over the route limit with 413 before the upstream sees it', async () => {
    const before = upstream.requests.length;
    const res = await request(`${gw.url}/keep/x`, { method: 'POST', body: 'x'.repeat(17) });
    assert.equal(res.statusCode, 413);
    assert.equal(((await res.body.json()) as { error: { code: string } }).error.code, 'GH_BODY_TOO_LARGE');
    assert.equal(upstream.requests.length, before);
  });

  test('refuses an oversized chunked body with 413', async () => {
    const { Readable } = await import('node:stream');
    const res = await request(`${gw.url}/keep/x`, { method: 'POST', body: Readable.from([Buffer.alloc(10), Buffer.alloc(10)]) });
    assert.ok(res.statusCode === 413 || res.statusCode === 502, `status ${res.statusCode}`);
    await res.body.dump();
  });

  test('the demo echo upstream shows what Gatehouse forwarded', async () => {
    const res = await request(`${gw.url}/echo/hello?q=1`, { method: 'PUT', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    const body = (await res.body.json()) as { method: string; path: string; query: Record<string, string>; body: string };
    assert.equal(body.method, 'PUT');
    assert.equal(body.path, '/hello');
    assert.deepEqual(body.query, { q: '1' });
    assert.equal(body.body, '{"a":1}');
  });

  test('streams SSE responses unbuffered', async () => {
    // The demo sends the first event at once and the next 2 s later: a buffered first event arrives with the second.
    // (A wide gap, so that a slow machine's delay on an unbuffered one cannot look like buffering.)
    const res = await request(`${gw.url}/echo/sse?n=2&interval=2000`);
    assert.equal(res.headers['content-type'], 'text/event-stream');
    const started = Date.now();
    const it = res.body[Symbol.asyncIterator]();
    const first = await it.next();
    const firstAt = Date.now() - started;
    assert.match(String(first.value), /"n":1/);
    assert.ok(firstAt < 1000, `first event arrived after ${firstAt} ms: buffered`);
    let rest = '';
    for (let r = await it.next(); !r.done; r = await it.next()) rest += String(r.value);
    assert.match(rest, /"n":2/);
  });

  test('liveness and readiness endpoints', async () => {
    const live = await request(`${gw.url}/healthz`);
    assert.equal(live.statusCode, 200);
    assert.deepEqual(await live.body.json(), { status: 'ok' });
    const ready = await request(`${gw.url}/readyz`);
    assert.equal(ready.statusCode, 200);
    await ready.body.dump();
  });

  test('every request is logged as one JSON line with its request id', async () => {
    const res = await request(`${gw.url}/api/logged`);
    await res.body.dump();
    const id = res.headers['x-request-id'] as string;
    const line = gw.log.lines.find((l) => l.includes(id));
    assert.ok(line);
    const parsed = JSON.parse(line) as { req_id: string; status: number; route: string };
    assert.equal(parsed.req_id, id);
    assert.equal(parsed.status, 200);
    assert.equal(parsed.route, 'api');
  });
});

describe('upstream failures', () => {
  test('upstream down answers 502 with a JSON body that leaks no address', async () => {
    // Refused at once; the connect timeout is generous so that a slow machine cannot turn the refusal into a 504.
    const gw = await startTestGateway({ routes: [{ name: 'dead', prefix: '/dead', upstream: 'http://127.0.0.1:1', connect_timeout: '10s' }] });
    try {
      const res = await request(`${gw.url}/dead/x`);
      assert.equal(res.statusCode, 502);
      const text = await res.body.text();
      const body = JSON.parse(text) as { error: { code: string; message: string; request_id: string } };
      assert.equal(body.error.code, 'GH_UPSTREAM_UNAVAILABLE');
      assert.ok(body.error.request_id);
      assert.ok(!text.includes('127.0.0.1') && !text.includes('ECONNREFUSED') && !text.includes(':1'), text);
    } finally {
      await gw.stop();
    }
  });

  test('upstream timeout answers 504', async () => {
    const slow = await startRecordingUpstream((_req, res) => setTimeout(() => res.end('late'), 1500));
    const gw = await startTestGateway({ routes: [{ name: 'slow', prefix: '/slow', upstream: slow.url, response_timeout: '200ms' }] });
    try {
      const res = await request(`${gw.url}/slow/x`);
      assert.equal(res.statusCode, 504);
      assert.equal(((await res.body.json()) as { error: { code: string } }).error.code, 'GH_UPSTREAM_TIMEOUT');
    } finally {
      await gw.stop();
      await slow.close();
    }
  });

  test('graceful shutdown drains an in-flight request and refuses new connections', async () => {
    // The upstream holds its answer until the test releases it: the request is surely in flight when close() starts,
    // and answered only after, however fast or slow the machine.
    const held: { answer?: () => void } = {};
    const slow = await startRecordingUpstream((_req, res) => (held.answer = () => res.end('done')));
    const gw = await startTestGateway({ routes: [{ name: 'slow', prefix: '/slow', upstream: slow.url }] });
    try {
      const inflight = request(`${gw.url}/slow/x`);
      for (const end = Date.now() + 10_000; !held.answer && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
      const { answer } = held;
      assert.ok(answer, 'the request did not reach the upstream');
      const closing = gw.close(5000);
      await new Promise((r) => setTimeout(r, 100));
      answer();
      const res = await inflight;
      assert.equal(res.statusCode, 200);
      assert.equal(await res.body.text(), 'done');
      await closing;
      await assert.rejects(request(`${gw.url}/slow/y`));
    } finally {
      await gw.stop();
      await slow.close();
    }
  });
});

describe('upstream error bodies', () => {
  const leaky = (_req: unknown, res: import('node:http').ServerResponse) => {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end('{"error":"connect failed: postgres://app:Sup3rSecretPw@db.internal/app","authorization":"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlMTIzNDU2"}');
  };

  test('redact (default): secrets in a careless upstream error body do not reach the client; the status does', async () => {
    const up = await startRecordingUpstream(leaky);
    const gw = await startTestGateway({ routes: [{ name: 'r', prefix: '/r', upstream: up.url }] });
    try {
      const res = await request(`${gw.url}/r/x`);
      assert.equal(res.statusCode, 500);
      const text = await res.body.text();
      assert.ok(!text.includes('Sup3rSecretPw'), text);
      assert.ok(!text.includes('c2lnbmF0dXJlMTIzNDU2'), text);
      assert.match(text, /db\.internal/);
    } finally {
      await gw.stop();
      await up.close();
    }
  });

  test('replace: the error body becomes the gateway generic error with the upstream status', async () => {
    const up = await startRecordingUpstream(leaky);
    const gw = await startTestGateway({ routes: [{ name: 'r', prefix: '/r', upstream: up.url, error_bodies: 'replace' }] });
    try {
      const res = await request(`${gw.url}/r/x`);
      assert.equal(res.statusCode, 500);
      assert.deepEqual(await res.body.json(), { error: { code: 'GH_UPSTREAM_ERROR', message: 'The upstream service answered 500.' } });
    } finally {
      await gw.stop();
      await up.close();
    }
  });

  test('pass: the error body is forwarded byte for byte', async () => {
    const up = await startRecordingUpstream(leaky);
    const gw = await startTestGateway({ routes: [{ name: 'r', prefix: '/r', upstream: up.url, error_bodies: 'pass' }] });
    try {
      const res = await request(`${gw.url}/r/x`);
      assert.match(await res.body.text(), /Sup3rSecretPw/);
    } finally {
      await gw.stop();
      await up.close();
    }
  });
});

describe('admin API CORS', () => {
  test('only listed origins get CORS headers; preflights from others are refused', async () => {
    const gw = await startTestGateway({ routes: [], server: { admin_cors_origins: ['https://ops.example.com'] } });
    try {
      const ok = await request(`${gw.url}/_gatehouse/approvals`, { method: 'OPTIONS', headers: { origin: 'https://ops.example.com', 'access-control-request-method': 'POST' } });
      assert.equal(ok.statusCode, 204);
      assert.equal(ok.headers['access-control-allow-origin'], 'https://ops.example.com');
      await ok.body.dump();
      const evil = await request(`${gw.url}/_gatehouse/approvals`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
      assert.equal(evil.statusCode, 403);
      assert.equal(evil.headers['access-control-allow-origin'], undefined);
      await evil.body.dump();
    } finally {
      await gw.stop();
    }
  });
});

describe('behind a trusted proxy', () => {
  test('forwarding headers from a trusted proxy are kept and extended; the client address is the last untrusted hop', async () => {
    const up = await startRecordingUpstream();
    const gw = await startTestGateway({ server: { trusted_proxies: ['127.0.0.0/8'] }, routes: [{ name: 'r', prefix: '/r', upstream: up.url }] });
    try {
      const res = await request(`${gw.url}/r/x`, { headers: { 'x-forwarded-for': '203.0.113.7, 10.1.1.1', 'x-forwarded-proto': 'https', 'x-request-id': 'edge-abc123' } });
      await res.body.dump();
      const seen = up.requests.at(-1);
      assert.equal(seen?.headers['x-forwarded-for'], '203.0.113.7, 10.1.1.1, 127.0.0.1');
      assert.equal(seen?.headers['x-forwarded-proto'], 'https');
      assert.equal(res.headers['x-request-id'], 'edge-abc123', 'a trusted proxy request id is kept');
      await gw.close(2000);
      const line = gw.log.lines.find((l) => l.includes('edge-abc123'));
      assert.ok(line);
    } finally {
      await gw.stop();
      await up.close();
    }
  });
});
