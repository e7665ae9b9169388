import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { auditEventFromExchange } from '../../src/audit/index.js';
import { GatehouseError } from '../../src/core/errors.js';
import { criticalApproved, criticalUnapproved, exchange, scopeDenied } from './exchange-fixtures.js';

describe('auditEventFromExchange', () => {
  test('maps an allowed tool call with the network identity, scopes used, latency and request id', () => {
    const e = auditEventFromExchange(exchange());
    assert.equal(e.event_type, 'tool.call');
    assert.equal(e.result_status, 'success');
    assert.equal(e.subject, 'ops-automation');
    assert.equal(e.tool, 'list_containers');
    assert.deepEqual(e.scopes, ['container:read']);
    assert.equal(e.tailscale?.tailscale_user, 'alice@example.com');
    assert.equal(e.source_ip, '100.101.102.103');
    assert.equal(e.request_id, 'req-0001');
    assert.equal(e.user_agent, 'claude-code/1.0');
    assert.ok(typeof e.latency_ms === 'number' && e.latency_ms >= 12 && e.latency_ms < 60_000);
    assert.equal(e.approved, undefined);
    assert.deepEqual(e.metadata?.['decision'], { reason: 'scope_satisfied', rule: undefined, policy_version: 'v1' });
  });

  test('the usual metadata is built in canonical order, so the record can serialise it without a sorted copy', async () => {
    const { toAuditValueShared } = await import('../../src/audit/canonical.js');
    const meta = auditEventFromExchange(exchange()).metadata as Record<string, unknown>;
    assert.deepEqual(Object.keys(meta), Object.keys(meta).sort());
    assert.deepEqual(Object.keys(meta['decision'] as object), Object.keys(meta['decision'] as object).sort());
    assert.equal(toAuditValueShared(meta, { digitKeys: false }), meta);
  });

  test('a missing-scope denial is result_status error with "Insufficient scope" (seed 001 lateral movement)', () => {
    const e = auditEventFromExchange(scopeDenied());
    assert.equal(e.event_type, 'authz.deny');
    assert.equal(e.result_status, 'error');
    assert.match(e.error ?? '', /^Insufficient scope: requires system:admin/);
    assert.equal(e.error_code, 'GH_SCOPE_MISSING');
    assert.equal(e.risk_level, 'critical');
    assert.equal(e.approved, false);
    assert.equal(e.status, 403);
  });

  test('approval outcome: approved with approver, and an unapproved critical operation is approved false', () => {
    const ok = auditEventFromExchange(criticalApproved());
    assert.equal(ok.approved, true);
    assert.deepEqual(ok.approval, { id: 'apr_1', approver: 'bob@example.com', required: true, break_glass: undefined });
    const no = auditEventFromExchange(criticalUnapproved());
    assert.equal(no.approved, false);
    assert.equal(no.event_type, 'approval.denied');
  });

  test('authentication failures and break-glass use', () => {
    const e = auditEventFromExchange(exchange({ principal: undefined, decision: undefined, operation: undefined, status: 401, error: new GatehouseError('GH_TOKEN_EXPIRED') }));
    assert.equal(e.event_type, 'auth.failure');
    assert.equal(e.subject, undefined);
    assert.equal(e.error, 'The token has expired.');
    const bg = exchange();
    bg.principal = { ...(bg.principal as NonNullable<typeof bg.principal>), break_glass: true };
    assert.equal(auditEventFromExchange(bg).approval?.break_glass, true);
  });

  test('extra fields override the mapping and metadata merges', () => {
    const e = auditEventFromExchange(exchange({ meta: { cache: 'miss' } }), { event_type: 'token.mint', metadata: { ttl: '1h' } });
    assert.equal(e.event_type, 'token.mint');
    assert.equal(e.metadata?.['cache'], 'miss');
    assert.equal(e.metadata?.['ttl'], '1h');
  });
});
