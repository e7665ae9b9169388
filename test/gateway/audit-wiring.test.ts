import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { verifyAuditLog } from '../../src/audit/index.js';
import { openTokenService } from '../../src/authn/index.js';
import { startRecordingUpstream, startTestGateway } from '../helpers/gateway.js';

function auditLines(stateDir: string): Record<string, unknown>[] {
  const dir = join(stateDir, 'audit');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('every proxied request and every refusal becomes a hash-chained audit record with its request id', async () => {
  const upstream = await startRecordingUpstream();
  const gw = await startTestGateway({ routes: [{ name: 'api', prefix: '/api', upstream: upstream.url }] });
  try {
    const ok = await request(`${gw.url}/api/x`);
    await ok.body.dump();
    const missing = await request(`${gw.url}/nowhere`);
    await missing.body.dump();
    await gw.close(2000); // flushes the audit log
    const records = auditLines(gw.stateDir);
    const okRec = records.find((r) => r['request_id'] === ok.headers['x-request-id']);
    assert.ok(okRec, 'the proxied request was recorded');
    assert.equal(okRec['result_status'], 'success');
    const missRec = records.find((r) => r['request_id'] === missing.headers['x-request-id']);
    assert.ok(missRec, 'the refusal was recorded');
    assert.equal(missRec['error_code'] ?? (missRec['error'] as { code?: string } | undefined)?.code ?? missRec['code'], 'GH_NOT_FOUND');
    const report = await verifyAuditLog(join(gw.stateDir, 'audit'));
    assert.equal(report.ok, true, JSON.stringify(report).slice(0, 500));
  } finally {
    await gw.stop();
    await upstream.close();
  }
});

test('admin API calls are audited, refusals included', async () => {
  const gw = await startTestGateway({ routes: [], auth: { methods: ['token'] } });
  try {
    // A valid non-admin token: the approvals handler itself answers 403 (identify succeeded).
    const { token } = await openTokenService(gw.config, { stateDir: gw.stateDir }).mint({ agent: 'reader', scopes: ['readonly'], ttlMs: 3_600_000 });
    const res = await request(`${gw.url}/_gatehouse/approvals`, { headers: { authorization: `Bearer ${token}` } });
    await res.body.dump();
    assert.equal(res.statusCode, 403);
    assert.ok(res.headers['x-request-id'], 'admin responses carry the request id');
    await gw.close(2000);
    const rec = auditLines(gw.stateDir).find((r) => r['request_id'] === res.headers['x-request-id']);
    assert.ok(rec, 'the admin call was recorded');
    assert.equal(rec['result_status'], 'error', JSON.stringify(rec));
  } finally {
    await gw.stop();
  }
});

test('a credential in the path, the User-Agent, an MCP resource URI or an unknown tool name is redacted in the audit record (resource and error included)', async () => {
  const SECRET = 'ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789';
  const token = 'audit-redaction-static-token-0123456789';
  const upstream = await startRecordingUpstream();
  const gw = await startTestGateway({
    auth: { methods: ['static'], static: { tokens: [{ token, principal: 'alice', scopes: ['system:read'] }] } },
    authz: { routes: [{ name: 'all', path: '/api/*', scopes: ['system:read'] }], mcp: { resources: [{ uri_prefix: 'https://docs.example.com/', scopes: ['system:read'] }] } },
    routes: [
      { name: 'api', prefix: '/api', upstream: upstream.url, auth_required: true },
      { name: 'mcp', prefix: '/mcp', upstream: upstream.url, kind: 'mcp', auth_required: true },
    ],
  });
  try {
    const auth = { authorization: `Bearer ${token}` };
    const http = await request(`${gw.url}/api/reset/${SECRET}`, { headers: { ...auth, 'user-agent': `curl ${SECRET}` } });
    await http.body.dump();
    assert.equal(http.statusCode, 200);
    const read = (uri: string) =>
      request(`${gw.url}/mcp`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri } }) });
    const refused = await read(`https://internal.example/x?access_token=${SECRET}`);
    await refused.body.dump();
    const allowed = await read(`https://docs.example.com/x?access_token=${SECRET}`);
    await allowed.body.dump();
    // A URI without ://, query or fragment is the client's text all the same.
    const bare = await read(`token:${SECRET}`);
    await bare.body.dump();
    // A tool name no policy knows is the client's text too (refused, and recorded redacted).
    const tool = await request(`${gw.url}/mcp`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: SECRET, arguments: {} } }) });
    await tool.body.dump();
    await gw.close(2000);
    const records = auditLines(gw.stateDir);
    const byId = (id: unknown) => records.find((r) => r['request_id'] === id) as Record<string, unknown>;
    const h = byId(http.headers['x-request-id']);
    assert.match(String(h['path']), /^\/api\/reset\/\[REDACTED\]$/);
    assert.match(String(h['user_agent']), /^curl \[REDACTED\]$/);
    const r = byId(refused.headers['x-request-id']);
    assert.equal(r['result_status'], 'error');
    assert.match(String(r['resource']), /^https:\/\/internal\.example\/x\?access_token=\[REDACTED\]/);
    assert.match(String(r['error']), /\[REDACTED\]/);
    assert.match(String(byId(allowed.headers['x-request-id'])['resource']), /access_token=\[REDACTED\]/);
    assert.match(String(byId(bare.headers['x-request-id'])['resource']), /^token:\[REDACTED\]$/);
    const t = byId(tool.headers['x-request-id']);
    assert.equal(t['result'], 'denied', JSON.stringify(t));
    assert.equal(t['tool'], '[REDACTED]');
    for (const rec of records) assert.ok(!JSON.stringify(rec).includes(SECRET), JSON.stringify(rec).slice(0, 300));
    assert.equal((await verifyAuditLog(join(gw.stateDir, 'audit'))).ok, true);
  } finally {
    await gw.stop();
    await upstream.close();
  }
});
