/**
 * MCP streamable HTTP, security warning: "Servers MUST validate the Origin header on all incoming connections to
 * prevent DNS rebinding attacks" (403 when invalid). A page on another origin that reaches an MCP route — a local MCP
 * server behind the gateway, a token in the page's hands — must not get a tool called, a list read or a stream opened.
 * On an MCP route without cors only the gateway's own origin may call; with cors the allow-list decides, for every
 * method. Refused before identify with 403 and a JSON-RPC error body (id null), audited, never forwarded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { validateConfig } from '../../src/config/index.js';
import { openTokenService } from '../../src/authn/index.js';
import { auditRecords, startRecordingUpstream, startTestGateway, type TestGateway } from '../helpers/gateway.js';

const APP = 'https://app.example.com';
const EVIL = 'https://evil.example';
const RPC = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' });
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

interface RpcRefusal {
  jsonrpc: string;
  id: unknown;
  error: { code: number; message: string; data: { gatehouse_code: string; reason: string } };
}

describe('Origin validation on MCP routes', () => {
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let gw: TestGateway;
  let token: string;

  before(async () => {
    upstream = await startRecordingUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: 7, result: { tools: [] } }));
    });
    gw = await startTestGateway({
      auth: { methods: ['token'] },
      routes: [
        { name: 'mcp', prefix: '/mcp', upstream: upstream.url, kind: 'mcp' },
        { name: 'authed', prefix: '/authed', upstream: upstream.url, kind: 'mcp', auth_required: true },
        { name: 'listed', prefix: '/listed', upstream: upstream.url, kind: 'mcp', cors: { allowed_origins: [APP] } },
        { name: 'any', prefix: '/any', upstream: upstream.url, kind: 'mcp', cors: { allowed_origins: ['*'] } },
      ],
    });
    token = (await openTokenService(gw.config, { stateDir: gw.stateDir }).mint({ agent: 'mcp-agent', scopes: 'admin', ttlMs: 600_000 })).token;
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  const call = (path: string, origin: string | undefined, method = 'POST', extra: Record<string, string> = {}) =>
    request(`${gw.url}${path}`, { method, headers: { ...MCP_HEADERS, ...(origin !== undefined ? { origin } : {}), ...extra }, ...(method === 'POST' ? { body: RPC } : {}) });

  const assertRefused = async (res: Awaited<ReturnType<typeof call>>, label: string): Promise<RpcRefusal> => {
    assert.equal(res.statusCode, 403, label);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const body = (await res.body.json()) as RpcRefusal;
    assert.equal(body.jsonrpc, '2.0', label);
    assert.equal(body.id, null, label);
    assert.equal(body.error.data.gatehouse_code, 'GH_FORBIDDEN', label);
    assert.equal(body.error.data.reason, 'mcp_origin', label);
    return body;
  };

  test('without cors: another origin is refused with 403 and a JSON-RPC error, for every method, never forwarded', async () => {
    const before = upstream.requests.length;
    for (const [origin, method] of [[EVIL, 'POST'], [EVIL, 'GET'], [EVIL, 'DELETE'], ['null', 'POST'], [`${gw.url}.evil.example`, 'POST'], ['http://localhost:1', 'POST']] as const) {
      await assertRefused(await call('/mcp', origin, method), `${origin} ${method}`);
    }
    assert.equal(upstream.requests.length, before);
  });

  test('the check comes before identify: no credential needed to be refused, a valid token does not help', async () => {
    const before = upstream.requests.length;
    await assertRefused(await call('/authed', EVIL), 'no token');
    await assertRefused(await call('/authed', EVIL, 'POST', { authorization: `Bearer ${token}` }), 'token');
    assert.equal(upstream.requests.length, before);
    // The same token from the gateway's own origin, or from a client that sends none, is served.
    for (const origin of [gw.url, undefined]) {
      const ok = await call('/authed', origin, 'POST', { authorization: `Bearer ${token}` });
      assert.equal(ok.statusCode, 200, String(origin));
      await ok.body.dump();
    }
    assert.equal(upstream.requests.length, before + 2);
  });

  test('without cors: the gateway\'s own origin and requests without Origin reach the upstream', async () => {
    const before = upstream.requests.length;
    for (const origin of [gw.url, undefined]) {
      const res = await call('/mcp', origin);
      assert.equal(res.statusCode, 200, String(origin));
      assert.deepEqual(await res.body.json(), { jsonrpc: '2.0', id: 7, result: { tools: [] } });
    }
    assert.equal(upstream.requests.length, before + 2);
  });

  test('with cors: the allow-list decides for every method, reads included; the own origin still passes', async () => {
    const before = upstream.requests.length;
    for (const method of ['POST', 'GET']) await assertRefused(await call('/listed', EVIL, method), `${EVIL} ${method}`);
    await assertRefused(await call('/listed', 'null'), 'null');
    assert.equal(upstream.requests.length, before);
    const listed = await call('/listed', APP);
    assert.equal(listed.statusCode, 200);
    assert.equal(listed.headers['access-control-allow-origin'], APP);
    await listed.body.dump();
    const own = await call('/listed', gw.url);
    assert.equal(own.statusCode, 200);
    await own.body.dump();
    // A preflight from an unlisted origin keeps the CORS refusal it had.
    const pre = await request(`${gw.url}/listed`, { method: 'OPTIONS', headers: { origin: EVIL, 'access-control-request-method': 'POST' } });
    assert.equal(pre.statusCode, 403);
    assert.equal(((await pre.body.json()) as { error: { reason: string } }).error.reason, 'cors_origin');
    assert.equal(upstream.requests.length, before + 2);
  });

  test('cors "*" admits any origin but never "null" (sandboxed frames, file: pages)', async () => {
    const before = upstream.requests.length;
    const any = await call('/any', EVIL);
    assert.equal(any.statusCode, 200);
    await any.body.dump();
    await assertRefused(await call('/any', 'null'), 'null under *');
    assert.equal(upstream.requests.length, before + 1);
  });

  test('refusals are audited with their request id', async () => {
    const res = await call('/mcp', EVIL);
    const id = res.headers['x-request-id'] as string;
    await assertRefused(res, 'audited');
    await gw.close(2000);
    const records = auditRecords(gw.stateDir);
    const refused = records.find((r) => r['request_id'] === id);
    assert.equal(refused?.['error_code'], 'GH_FORBIDDEN');
    assert.equal(refused?.['status'], 403);
  });
});

test('an MCP route cannot turn off refusing foreign origins (refuse_cross_origin_writes: false is refused at load)', () => {
  assert.throws(
    () => validateConfig({ routes: [{ prefix: '/mcp', upstream: 'http://127.0.0.1:1', kind: 'mcp', cors: { allowed_origins: [APP], refuse_cross_origin_writes: false } }] }, { env: {} }),
    /routes\[0\]\.cors\.refuse_cross_origin_writes.*MCP transport security/s,
  );
});
