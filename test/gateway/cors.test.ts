/**
 * routes[].cors: the gateway answers preflights itself, sets Access-Control-* for listed origins only (on upstream
 * answers and on its own errors), drops the upstream's, and refuses cross-origin writes from unlisted origins before
 * any stage. Real gateway, real upstream on loopback.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { parseOriginPattern, productionProblems, validateConfig } from '../../src/config/index.js';
import { openTokenService } from '../../src/authn/index.js';
import { CorsPolicy } from '../../src/gateway/cors.js';
import { startRecordingUpstream, startTestGateway, type TestGateway } from '../helpers/gateway.js';

const APP = 'https://app.example.com';
const EVIL = 'https://evil.example.net';

describe('origin patterns', () => {
  test('exact origins and leftmost-label wildcards parse; anything else is refused with a reason', () => {
    assert.deepEqual(parseOriginPattern('https://app.example.com'), { prefix: 'https://app.example.com' });
    assert.deepEqual(parseOriginPattern('http://localhost:5173'), { prefix: 'http://localhost:5173' });
    assert.deepEqual(parseOriginPattern('https://*.example.com:8443'), { prefix: 'https://', suffix: '.example.com:8443' });
    const refused: Array<[string, RegExp]> = [
      ['null', /sandboxed frames/],
      ['https://app.example.com/', /https:\/\/app\.example\.com \(lower case/],
      ['https://App.Example.com', /https:\/\/app\.example\.com/],
      ['https://app.example.com:443', /no default port/],
      ['https://user@app.example.com', /write it as/],
      ['https://app.example.com/path', /write it as/],
      ['ftp://app.example.com', /http:\/\/ or https:\/\//],
      ['app.example.com', /expected an origin/],
      ['https://*.com', /at least two labels/],
      ['https://*.127.0.0.1', /at least two labels|expected an origin/],
      ['https://a.*.example.com', /leftmost label/],
      ['https://*.*.example.com', /leftmost label/],
      ['*.example.com', /expected an origin|leftmost/],
    ];
    for (const [text, reason] of refused) {
      const r = parseOriginPattern(text);
      assert.equal(typeof r, 'string', text);
      assert.match(r as string, reason, text);
    }
  });

  test('config errors name the path: wildcard with credentials, "*" among others, "*" as a header', () => {
    const cfg = (cors: Record<string, unknown>) => () => validateConfig({ routes: [{ prefix: '/api', upstream: 'http://127.0.0.1:1', cors }] }, { env: {} });
    assert.throws(cfg({ allowed_origins: ['*'], allow_credentials: true }), /routes\[0\]\.cors\.allow_credentials.*credentials cannot go with the "\*" origin/s);
    assert.throws(cfg({ allowed_origins: ['*', APP] }), /routes\[0\]\.cors\.allowed_origins.*list it alone/s);
    assert.throws(cfg({ allowed_origins: [APP], allowed_headers: ['*'] }), /routes\[0\]\.cors\.allowed_headers\[0\]/);
    assert.throws(cfg({ allowed_origins: ['null'] }), /routes\[0\]\.cors\.allowed_origins\[0\].*sandboxed/s);
    assert.throws(cfg({ allowed_origins: [APP], allowed_methods: ['get'] }), /routes\[0\]\.cors\.allowed_methods\[0\]/);
    assert.throws(cfg({ allowed_origins: [APP], max_age: '2d' }), /routes\[0\]\.cors\.max_age.*24h/s);
    assert.throws(cfg({ allowed_origins: [APP], origins: [APP] }), /routes\[0\]\.cors.*origins/s);
    assert.throws(cfg({ allowed_origins: [] }), /routes\[0\]\.cors\.allowed_origins/);
  });

  test('production refuses "*" on a route; a listed origin passes', () => {
    const wild = validateConfig({ routes: [{ prefix: '/api', upstream: 'https://api.internal', cors: { allowed_origins: ['*'] } }] }, { env: {} });
    assert.ok(productionProblems(wild).some((p) => p === 'routes[0].cors.allowed_origins contains "*": wildcard CORS on an authenticated route'));
    const listed = validateConfig({ routes: [{ prefix: '/api', upstream: 'https://api.internal', cors: { allowed_origins: [APP] } }] }, { env: {} });
    assert.ok(!productionProblems(listed).some((p) => p.includes('cors')));
  });
});

describe('CorsPolicy.allows', () => {
  const policy = new CorsPolicy(validateConfig({ routes: [{ prefix: '/', upstream: 'http://127.0.0.1:1', cors: { allowed_origins: [APP, 'https://*.corp.example', 'http://localhost:5173'] } }] }, { env: {} }).routes[0]!.cors!, 'http');

  test('listed origins and subdomains under a wildcard are allowed', () => {
    for (const o of [APP, 'https://a.corp.example', 'https://a-b.c9.corp.example', 'http://localhost:5173']) assert.equal(policy.allows(o), true, o);
  });

  test('near misses are not: other scheme, port, case, the bare domain, look-alike suffixes, odd characters, null', () => {
    for (const o of [
      'http://app.example.com',
      'https://app.example.com:8443',
      'https://APP.example.com',
      'https://app.example.com.evil.net',
      'https://corp.example',
      'https://.corp.example',
      'https://a..corp.example',
      'https://evilcorp.example',
      'https://a.corp.example:444',
      'https://a_b.corp.example',
      'https://a/.corp.example',
      'http://a.corp.example',
      'http://localhost:5174',
      'null',
      '',
      `https://${'a'.repeat(600)}.corp.example`,
    ]) {
      assert.equal(policy.allows(o), false, o);
    }
  });

  test('matching is linear: a long hostile origin is answered at once', () => {
    const hostile = `https://${'a.'.repeat(200_000)}corp.example`;
    const t = process.hrtime.bigint();
    assert.equal(policy.allows(hostile), false);
    assert.ok(process.hrtime.bigint() - t < 50_000_000n);
  });
});

describe('routes[].cors through a real gateway', () => {
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let gw: TestGateway;
  let token: string;

  before(async () => {
    upstream = await startRecordingUpstream((req, res, body) => {
      // An upstream with its own (too generous) CORS: the gateway must not pass it on.
      res.writeHead(200, {
        'content-type': 'text/plain',
        'access-control-allow-origin': '*',
        'access-control-allow-credentials': 'true',
        'access-control-allow-methods': 'DELETE',
        ...(req.url?.endsWith('/varied') ? { vary: 'Accept-Encoding' } : {}),
      });
      res.end(`up:${req.method}:${body}`);
    });
    gw = await startTestGateway({
      auth: { methods: ['token'] },
      authz: { routes: [{ path: '/*', scopes: ['system:read'] }] },
      routes: [
        { name: 'api', prefix: '/api', upstream: upstream.url, auth_required: true, cors: { allowed_origins: [APP, 'https://*.corp.example'], allowed_methods: ['GET', 'POST', 'PUT'], allow_credentials: true, max_age: '1h' } },
      ],
    });
    token = (await openTokenService(gw.config, { stateDir: gw.stateDir }).mint({ agent: 'web', scopes: 'readonly', ttlMs: 600_000 })).token;
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  const preflight = (path: string, origin: string, method: string, headers?: string) =>
    request(`${gw.url}${path}`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': method, ...(headers ? { 'access-control-request-headers': headers } : {}) },
    });

  test('a preflight from a listed origin is answered by the gateway, without credentials, and never forwarded', async () => {
    const before = upstream.requests.length;
    const res = await preflight('/api/items', APP, 'PUT', 'Authorization, Content-Type');
    assert.equal(res.statusCode, 204);
    assert.equal(res.headers['access-control-allow-origin'], APP);
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    assert.equal(res.headers['access-control-allow-methods'], 'GET, POST, PUT');
    assert.equal(res.headers['access-control-allow-headers'], 'authorization, content-type');
    assert.equal(res.headers['access-control-max-age'], '3600');
    assert.equal(res.headers['vary'], 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
    assert.match(String(res.headers['x-request-id']), /.+/);
    await res.body.dump();
    const sub = await preflight('/api/items', 'https://team.corp.example', 'GET');
    assert.equal(sub.statusCode, 204);
    assert.equal(sub.headers['access-control-allow-origin'], 'https://team.corp.example');
    await sub.body.dump();
    assert.equal(upstream.requests.length, before);
  });

  test('a preflight from another origin, for an unlisted method or header, is refused with 403 and no CORS grant', async () => {
    const before = upstream.requests.length;
    for (const [origin, method, headers, reason] of [
      [EVIL, 'GET', undefined, 'cors_origin'],
      [APP, 'DELETE', undefined, 'cors_method'],
      [APP, 'POST', 'content-type, x-admin-override', 'cors_header'],
    ] as const) {
      const res = await preflight('/api/items', origin, method, headers);
      assert.equal(res.statusCode, 403, `${origin} ${method}`);
      assert.equal(res.headers['access-control-allow-origin'], undefined);
      assert.equal(res.headers['access-control-allow-methods'], undefined);
      const body = (await res.body.json()) as { error: { code: string; reason?: string } };
      assert.equal(body.error.code, 'GH_FORBIDDEN');
      assert.equal(body.error.reason, reason);
    }
    assert.equal(upstream.requests.length, before);
  });

  test('an allowed origin reads the upstream answer; the upstream\'s own CORS headers never reach the browser', async () => {
    const res = await request(`${gw.url}/api/items`, { headers: { origin: APP, authorization: `Bearer ${token}` } });
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'up:GET:');
    assert.equal(res.headers['access-control-allow-origin'], APP);
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    assert.equal(res.headers['access-control-expose-headers'], 'x-request-id');
    assert.equal(res.headers['access-control-allow-methods'], undefined);
    assert.equal(res.headers['vary'], 'Origin');
    const varied = await request(`${gw.url}/api/varied`, { headers: { origin: APP, authorization: `Bearer ${token}` } });
    assert.equal(varied.headers['vary'], 'Accept-Encoding, Origin');
    await varied.body.dump();
  });

  test('another origin gets the answer to a read without any grant (the browser withholds it), and the upstream\'s "*" is gone', async () => {
    const res = await request(`${gw.url}/api/items`, { headers: { origin: EVIL, authorization: `Bearer ${token}` } });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    assert.equal(res.headers['access-control-allow-credentials'], undefined);
    assert.equal(res.headers['vary'], 'Origin');
  });

  test('the gateway\'s own refusals carry the grant, so a page can read why (401 without a token)', async () => {
    const res = await request(`${gw.url}/api/items`, { headers: { origin: APP } });
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['access-control-allow-origin'], APP);
    assert.equal(res.headers['access-control-expose-headers'], 'x-request-id');
    assert.equal(((await res.body.json()) as { error: { code: string } }).error.code, 'GH_AUTH_REQUIRED');
  });

  test('a cross-origin write from an unlisted origin is refused before any stage and audited; the gateway\'s own origin passes', async () => {
    const before = upstream.requests.length;
    const res = await request(`${gw.url}/api/items`, { method: 'POST', body: 'transfer=all', headers: { origin: EVIL, 'content-type': 'text/plain', authorization: `Bearer ${token}` } });
    assert.equal(res.statusCode, 403);
    const body = (await res.body.json()) as { error: { code: string; reason?: string; request_id: string } };
    assert.equal(body.error.code, 'GH_FORBIDDEN');
    assert.equal(body.error.reason, 'cross_origin');
    assert.equal(upstream.requests.length, before);
    // A page the upstream served through the gateway posts back with the gateway's origin.
    const own = await request(`${gw.url}/api/items`, { method: 'POST', body: 'x=1', headers: { origin: gw.url, authorization: `Bearer ${token}` } });
    assert.equal(own.statusCode, 200);
    assert.equal(await own.body.text(), 'up:POST:x=1');
    // Without Origin (curl, scripts) nothing changes.
    const script = await request(`${gw.url}/api/items`, { method: 'POST', body: 'y=2', headers: { authorization: `Bearer ${token}` } });
    assert.equal(script.statusCode, 200);
    await script.body.dump();
    await gw.close(2000);
    const dir = join(gw.stateDir, 'audit');
    const records = readdirSync(dir)
      .filter((f) => f.endsWith('.jsonl'))
      .flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const refused = records.find((r) => r['request_id'] === body.error.request_id);
    assert.equal(refused?.['error_code'], 'GH_FORBIDDEN');
    assert.equal(refused?.['result'], 'denied');
    assert.ok(!JSON.stringify(records).includes(token));
  });
});

describe('routes[].cors: wildcard, exposure and opt-outs', () => {
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let gw: TestGateway;

  before(async () => {
    upstream = await startRecordingUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'access-control-allow-origin': 'https://upstream-choice.example' });
      res.end('ok');
    });
    gw = await startTestGateway({
      routes: [
        { name: 'open', prefix: '/open', upstream: upstream.url, cors: { allowed_origins: ['*'], exposed_headers: ['X-Custom'] } },
        { name: 'lax', prefix: '/lax', upstream: upstream.url, cors: { allowed_origins: [APP], refuse_cross_origin_writes: false } },
        { name: 'mcp', prefix: '/mcp', upstream: upstream.url, kind: 'mcp', cors: { allowed_origins: [APP] } },
        { name: 'plain', prefix: '/plain', upstream: upstream.url },
      ],
    });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  test('"*" answers "*", never the caller\'s origin, and never with credentials', async () => {
    const res = await request(`${gw.url}/open/x`, { headers: { origin: EVIL } });
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.equal(res.headers['access-control-allow-credentials'], undefined);
    assert.equal(res.headers['access-control-expose-headers'], 'x-custom');
    await res.body.dump();
  });

  test('refuse_cross_origin_writes: false lets an unlisted origin\'s write through, still without a grant', async () => {
    const res = await request(`${gw.url}/lax/x`, { method: 'POST', body: 'a', headers: { origin: EVIL } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    await res.body.dump();
  });

  test('kind: mcp defaults allow and expose the MCP session headers', async () => {
    const pre = await request(`${gw.url}/mcp`, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,mcp-session-id,mcp-protocol-version' } });
    assert.equal(pre.statusCode, 204);
    assert.equal(pre.headers['access-control-allow-headers'], 'authorization, content-type, mcp-session-id, mcp-protocol-version');
    await pre.body.dump();
  });

  test('a route without cors is untouched: its upstream\'s headers pass and preflights go upstream', async () => {
    const before = upstream.requests.length;
    const res = await request(`${gw.url}/plain/x`, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'GET' } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['access-control-allow-origin'], 'https://upstream-choice.example');
    assert.equal(res.headers['vary'], undefined);
    await res.body.dump();
    assert.equal(upstream.requests.length, before + 1);
  });
});
