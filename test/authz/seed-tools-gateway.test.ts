/**
 * Seed 001's dns_lookup, file_operations and update_docker_container through a real gateway on loopback, to the
 * built-in (simulated) demo MCP server, with minted tokens and the approval queue decided over the admin API.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { openTokenService } from '../../src/authn/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

type Json = Record<string, unknown>;

let gw: TestGateway;
const tokens: Record<string, string> = Object.create(null) as Record<string, string>;

before(async () => {
  gw = await startTestGateway({
    demo: { enabled: true },
    routes: [{ name: 'mcp', prefix: '/mcp', upstream: 'demo:mcp', kind: 'mcp', auth_required: true }],
    auth: { methods: ['token'] },
    approval: { mode: 'queue', queue: { hold_timeout: 0 } },
  });
  const svc = openTokenService(gw.config, { stateDir: gw.stateDir });
  for (const [agent, scopes] of [['grafana', 'readonly'], ['netops', 'network:diag'], ['ops-automation', 'admin'], ['approver', 'admin']] as const) {
    tokens[agent] = (await svc.mint({ agent, scopes, ttlMs: 3_600_000 })).token;
  }
});
after(async () => {
  await gw.stop();
});

/** One JSON-RPC tools/call; the demo answers as SSE or JSON, the gateway's refusals as JSON. */
async function call(agent: string, name: string, args: Json, id = 1): Promise<Json> {
  const res = await request(`${gw.url}/mcp`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens[agent]}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }),
    // The demo's SSE keep-alive comments would keep a lost answer from ever tripping undici's body timeout.
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.body.text();
  const json = String(res.headers['content-type'] ?? '').includes('text/event-stream') ? (/^data: (.*)$/m.exec(text)?.[1] ?? 'null') : text;
  return JSON.parse(json) as Json;
}
const toolResult = (m: Json) => JSON.parse(((m['result'] as Json)['content'] as Array<{ text: string }>)[0]!.text) as Json;
const rpcError = (m: Json) => m['error'] as { code: number; message: string; data: Json };

describe('seed 001 tools through the gateway', () => {
  test('a readonly token cannot call file_operations: -32010 naming the missing scope file:write', async () => {
    const err = rpcError(await call('grafana', 'file_operations', { operation: 'read', path: '/srv/files/report.txt' }, 7));
    assert.equal(err.code, -32010);
    assert.equal(err.message, 'Insufficient scope: file_operations requires file:write');
    assert.equal(err.data['missing_scope'], 'file:write');
    assert.equal(err.data['gatehouse_code'], 'GH_SCOPE_MISSING');
  });

  test('dns_lookup works with network:diag and returns the simulated answer', async () => {
    const m = await call('netops', 'dns_lookup', { host: 'db.internal' });
    assert.equal(m['error'], undefined, JSON.stringify(m));
    assert.deepEqual(toolResult(m), { host: 'db.internal', record_type: 'A', answers: ['192.0.2.10'], ttl: 300, simulated: true });
    // readonly holds network:read, which dns_lookup does not accept (seed 001: DNS is network:diag).
    assert.equal(rpcError(await call('grafana', 'dns_lookup', { host: 'db.internal' }))['data']['missing_scope'], 'network:diag');
  });

  test('update_docker_container requires approval: pending until another admin approves, then the call proceeds', async () => {
    const args = { name: 'web', image: 'nginx:1.28' };
    const pending = rpcError(await call('ops-automation', 'update_docker_container', args));
    assert.equal(pending.code, -32020);
    const id = String(pending.data['approval_id']);
    assert.match(id, /^apr_/);
    // Not before approval, and not by the requester itself.
    assert.equal(rpcError(await call('ops-automation', 'update_docker_container', args)).code, -32020);
    const self = await request(`${gw.url}/_gatehouse/approvals/${id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${tokens['ops-automation']}`, 'content-type': 'application/json' }, body: '{"reason":"mine"}' });
    assert.notEqual(self.statusCode, 200);
    await self.body.dump();
    const ok = await request(`${gw.url}/_gatehouse/approvals/${id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${tokens['approver']}`, 'content-type': 'application/json' }, body: '{"reason":"rollout"}' });
    assert.equal(ok.statusCode, 200, await ok.body.text());
    const done = await call('ops-automation', 'update_docker_container', args);
    assert.equal(done['error'], undefined, JSON.stringify(done));
    assert.deepEqual(toolResult(done), { container: 'web', previous_image: 'nginx:1.27', image: 'nginx:1.28', result: 'updated', simulated: true });
    // Used once: the same call needs a new approval.
    assert.equal(rpcError(await call('ops-automation', 'update_docker_container', args)).code, -32020);
  });
});
