/**
 * MCP session binding through a real gateway against a recording upstream: the key (generated, shared through
 * authz.mcp.sessions.key_file), public routes (anonymous), upstream ids the gateway refuses, and the insecure opt-out.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startRecordingUpstream, startTestGateway, type TestGateway } from '../helpers/gateway.js';

const TOKEN = 'bob-static-token-0123456789abcdefgh';
const HEADERS = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };
const PING = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });

/** An upstream that hands out the session id a test sets, and answers every POST with an empty result. */
async function sessionUpstream() {
  let next = 'sess-1';
  const up = await startRecordingUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': next }).end('{"jsonrpc":"2.0","id":1,"result":{}}');
  });
  return Object.assign(up, { issue: (id: string) => void (next = id) });
}

async function post(url: string, headers: Record<string, string | string[]> = {}): Promise<{ status: number; session: string | undefined; text: string }> {
  const res = await request(url, { method: 'POST', headers: { ...HEADERS, ...headers }, body: PING });
  const session = res.headers['mcp-session-id'];
  return { status: res.statusCode, session: typeof session === 'string' ? session : undefined, text: await res.body.text() };
}

const mcpRoutes = (upstream: string, authRequired = false) => [{ name: 'mcp', prefix: '/mcp', upstream, kind: 'mcp', auth_required: authRequired }];

describe('MCP session binding at the gateway', () => {
  let up: Awaited<ReturnType<typeof sessionUpstream>>;
  const keyDir = mkdtempSync(join(tmpdir(), 'gh-mcpkey-'));
  const keyFile = join(keyDir, 'mcp-session.key');
  before(async () => {
    up = await sessionUpstream();
    writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  });
  after(async () => {
    await up.close();
    rmSync(keyDir, { recursive: true, force: true });
  });

  test('a public route binds to the anonymous principal: it works without a credential, not for an authenticated caller', async (t) => {
    const gw = await startTestGateway({ auth: { methods: ['static'], static: { tokens: [{ token: TOKEN, principal: 'bob', scopes: [] }] } }, routes: mcpRoutes(up.url) });
    t.after(() => gw.stop());
    const init = await post(`${gw.url}/mcp`);
    assert.match(init.session ?? '', /^sess-1\.[A-Za-z0-9_-]{22}$/);
    const again = await post(`${gw.url}/mcp`, { 'mcp-session-id': init.session as string });
    assert.equal(again.status, 200, again.text);
    assert.equal(up.requests.at(-1)?.headers['mcp-session-id'], 'sess-1', 'the upstream gets its own id');
    const count = up.requests.length;
    const bob = await post(`${gw.url}/mcp`, { 'mcp-session-id': init.session as string, authorization: `Bearer ${TOKEN}` });
    assert.equal(bob.status, 404, bob.text);
    assert.match(bob.text, /GH_MCP_SESSION_UNKNOWN/);
    assert.equal(up.requests.length, count);
  });

  test('gateways sharing authz.mcp.sessions.key_file accept each other\'s ids; gateways with generated keys do not', async (t) => {
    const shared = { authz: { mcp: { sessions: { key_file: keyFile } } }, routes: mcpRoutes(up.url) };
    const [a, b, c] = await Promise.all([startTestGateway(shared), startTestGateway(shared), startTestGateway({ routes: mcpRoutes(up.url) })]);
    t.after(() => Promise.all([a.stop(), b.stop(), c.stop()]));
    const init = await post(`${a.url}/mcp`);
    assert.equal((await post(`${b.url}/mcp`, { 'mcp-session-id': init.session as string })).status, 200);
    const other = await post(`${c.url}/mcp`, { 'mcp-session-id': init.session as string });
    assert.equal(other.status, 404, 'another key: the client starts a new session');
  });

  test('an upstream session id that is not visible ASCII or longer than 1024 characters is a 502, never passed on', async (t) => {
    const gw = await startTestGateway({ routes: mcpRoutes(up.url) });
    t.after(() => {
      up.issue('sess-1');
      return gw.stop();
    });
    for (const bad of ['x'.repeat(1025), 'caf\u00e9']) {
      up.issue(bad);
      const res = await post(`${gw.url}/mcp`);
      assert.equal(res.status, 502, res.text);
      assert.match(res.text, /GH_UPSTREAM_PROTOCOL/);
      assert.equal(res.session, undefined);
    }
  });

  test('insecure_unbound passes ids as the upstream issued them, and is warned about at start', async (t) => {
    const gw = await startTestGateway({ authz: { mcp: { sessions: { insecure_unbound: true } } }, routes: mcpRoutes(up.url) });
    t.after(() => gw.stop());
    const init = await post(`${gw.url}/mcp`);
    assert.equal(init.session, 'sess-1');
    assert.equal((await post(`${gw.url}/mcp`, { 'mcp-session-id': 'sess-1' })).status, 200);
    assert.equal(up.requests.at(-1)?.headers['mcp-session-id'], 'sess-1');
    assert.ok(gw.log.lines.some((l) => l.includes('authz.mcp.sessions.insecure_unbound') && l.includes('"level":"warn"')));
  });
});

describe('without an MCP route', () => {
  let gw: TestGateway | undefined;
  after(() => gw?.stop());
  test('no session key is generated and the header passes on http routes', async () => {
    const up = await sessionUpstream();
    try {
      gw = await startTestGateway({ routes: [{ name: 'api', prefix: '/api', upstream: up.url }] });
      const res = await request(`${gw.url}/api/x`, { method: 'POST', headers: { 'mcp-session-id': 'abc' }, body: '{}' });
      await res.body.dump();
      assert.equal(res.headers['mcp-session-id'], 'sess-1');
      assert.equal(up.requests.at(-1)?.headers['mcp-session-id'], 'abc');
      assert.equal(existsSync(join(gw.stateDir, 'keys', 'mcp-session.key')), false);
    } finally {
      await up.close();
    }
  });
});
