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
