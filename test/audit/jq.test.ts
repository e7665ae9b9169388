import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { auditEventFromExchange } from '../../src/audit/index.js';
import { criticalApproved, criticalUnapproved, exchange, scopeDenied } from './exchange-fixtures.js';
import { openTestLog, tempDir } from './helpers.js';

const JQ = '/usr/bin/jq';

function jq(filter: string, file: string): { status: number | null; out: Record<string, unknown>[]; err: string } {
  const r = spawnSync(JQ, ['-c', filter, file], { encoding: 'utf8' });
  const out = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { status: r.status, out, err: r.stderr };
}

describe("seed 001's jq monitoring queries on a file the writer produced", () => {
  test('the four queries give the intended answers (the third parenthesised)', async (t) => {
    assert.ok(existsSync(JQ), 'jq is installed at /usr/bin/jq');
    const state = tempDir(t);
    const log = await openTestLog(state, { checkpoint: { every_records: 3 } });
    const bob = exchange();
    bob.principal = { ...(bob.principal as NonNullable<typeof bob.principal>), network: { ...bob.network, tailscale: { tailscale_user: 'bob@example.com', tailscale_node: 'ci1' } } };
    const upstream500 = exchange({ status: 502 });
    for (const ex of [exchange(), criticalApproved(), scopeDenied(), criticalUnapproved(), bob, scopeDenied(), upstream500]) {
      await log.emit(auditEventFromExchange(ex));
    }
    await log.close();
    const file = join(log.dir, 'audit.jsonl');

    // 1. Find all critical operations
    const critical = jq('select(.risk_level == "critical")', file);
    assert.equal(critical.status, 0);
    assert.deepEqual(critical.out.map((r) => r['tool']), ['install_package', 'install_package', 'pull_docker_image', 'install_package']);

    // 2. Find operations by a specific Tailscale user
    const byAlice = jq('select(.tailscale.tailscale_user == "alice@example.com")', file);
    assert.equal(byAlice.status, 0);
    assert.equal(byAlice.out.length, 5);
    assert.ok(byAlice.out.every((r) => r['subject'] === 'ops-automation'));

    // 3. Failed authorization attempts (lateral movement), as printed in seed 001: jq parses `and` tighter than `|`,
    //    so `.error` is piped a boolean and jq stops with an error. The parenthesised form is the intended query.
    const asPrinted = jq('select(.result_status == "error" and .error | contains("Insufficient"))', file);
    assert.notEqual(asPrinted.status, 0);
    assert.match(asPrinted.err, /cannot have their containment checked/);
    const lateral = jq('select(.result_status == "error" and (.error | contains("Insufficient")))', file);
    assert.equal(lateral.status, 0);
    assert.equal(lateral.out.length, 2);
    assert.ok(lateral.out.every((r) => r['tool'] === 'install_package' && r['result'] === 'denied' && r['event_type'] === 'authz.deny'));

    // 4. Find unapproved critical operations
    const unapproved = jq('select(.risk_level == "critical" and .approved == false)', file);
    assert.equal(unapproved.status, 0);
    assert.deepEqual(unapproved.out.map((r) => r['tool']), ['install_package', 'pull_docker_image', 'install_package']);
    assert.ok(unapproved.out.some((r) => (r['tailscale'] as Record<string, unknown>)['tailscale_user'] === 'mallory@example.com'));
  });

  test("a record carries seed 001's example fields and seed 002's names side by side", async (t) => {
    const state = tempDir(t);
    const log = await openTestLog(state);
    await log.emit(auditEventFromExchange(criticalApproved(), { tenant: 'acme-corp', namespace: 'production', resource: 'stream:orders', action: 'create' }));
    await log.close();
    const [rec] = jq('.', join(log.dir, 'audit.jsonl')).out;
    assert.ok(rec);
    for (const k of ['timestamp', 'tool', 'subject', 'args', 'result_status', 'scopes', 'risk_level', 'approved', 'tailscale']) assert.ok(k in rec, k);
    assert.deepEqual(rec['tailscale'], { tailscale_node: 'dev1', tailscale_user: 'alice@example.com', tailscale_tags: ['tag:systemmanager-client'], tailnet: 'example.ts.net' });
    assert.deepEqual(rec['args'], { auto_approve: true, package_name: 'nginx' });
    assert.equal(rec['principal'], rec['subject']);
    assert.equal(rec['principal_type'], 'agent');
    assert.equal(rec['tenant_id'], 'acme-corp');
    assert.equal(rec['result'], 'success');
    assert.equal(rec['source_ip'], '100.101.102.103');
    assert.equal(rec['user_agent'], 'claude-code/1.0');
    assert.equal(rec['event_type'], 'tool.call');
    assert.equal(rec['seq'], 1);
    assert.match(String(rec['timestamp']), /^2026-01-01T00:00:00\.000Z$/);
  });
});
