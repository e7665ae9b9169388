/**
 * What alerts may carry, and what workers forward to the supervisor's engine (server.workers, AlertForwarder):
 * never args, headers, paths, queries, error messages or tokens; only records a detector could use; ordinary
 * successful requests only when credential_spread is on, once per (principal, source) per tenth of its window.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { GatehouseError } from '../../src/core/errors.js';
import type { Exchange } from '../../src/core/types.js';
import { AlertEngine, AlertForwarder, type Alert } from '../../src/audit/index.js';
import { MAX_KEYS } from '../../src/audit/detectors.js';
import { auditConfig, memoryLogger } from './helpers.js';
import { malformed, principal, recordOf, request } from './alerts-fixtures.js';

const MINUTE = 60_000;
const SECRETS = ['ARG-SECRET', 'PATH-SECRET', 'UA-SECRET', 'ERR-SECRET', 'URI-SECRET', 'META-SECRET', 'tok-in-header-must-not-leak'];
/** Every member an alert may have (src/audit/alerts.ts Alert). */
const ALERT_KEYS = new Set([
  'kind', 'timestamp', 'event_type', 'subject', 'auth_method', 'tool', 'risk_level', 'result', 'source', 'source_ip', 'tailscale', 'request_id',
  'failures', 'requests', 'error_codes', 'distinct', 'sources', 'targets', 'window_ms',
]);

/** A request carrying a secret everywhere a request can: args, query, user agent, resource URI, exchange metadata. */
function laden(o: Parameters<typeof request>[0] = {}): Exchange {
  const ex = request({ args: { password: 'ARG-SECRET' }, path: '/mcp?token=PATH-SECRET', userAgent: 'UA-SECRET', resource: 'file:///x?k=URI-SECRET', ...o });
  ex.meta = { note: 'META-SECRET' };
  return ex;
}

/** Records that raise every kind of alert, each laden with secrets. */
function everyKind(): Exchange[] {
  const out: Exchange[] = [];
  const critical = laden({ tool: 'install_package' });
  (critical.operation as { risk_level: string }).risk_level = 'critical';
  out.push(critical);
  const glass = laden({ tool: 'restart' });
  glass.approval = { required: true, approved: true, break_glass: true };
  out.push(glass);
  out.push(laden({ mcpMethod: 'tools/list' }));
  for (let i = 0; i < 3; i++) out.push(laden({ deny: true, tool: `probe_${i}`, error: new GatehouseError('GH_SCOPE_MISSING', 'Insufficient ERR-SECRET') }));
  for (let i = 0; i < 3; i++) out.push(laden({ ip: `10.9.0.${i}`, who: principal('spread'), tool: 'list' }));
  for (let i = 0; i < 3; i++) {
    const m = malformed('GH_PATH_INVALID', '192.0.2.66', 'The request path is invalid: ERR-SECRET');
    out.push({ ...m, path: '/x?token=PATH-SECRET' });
  }
  return out;
}

const detectorsOn = {
  enabled: true, batch_interval: '1h', max_per_minute: 1000, events: ['mcp.request'], on_critical: true, on_break_glass: true,
  auth_failures: { threshold: 3, window: '1m' }, credential_spread: { enabled: true, threshold: 3 }, scope_probing: { threshold: 3 }, malformed_requests: { threshold: 3 },
};

function assertClean(alerts: Alert[]): void {
  const text = JSON.stringify(alerts);
  for (const s of SECRETS) assert.ok(!text.includes(s), `an alert carries ${s}: ${text}`);
  for (const a of alerts) for (const k of Object.keys(a)) assert.ok(ALERT_KEYS.has(k), `alert member ${k}`);
  assert.doesNotMatch(text, /"(args|path|error|headers|metadata|user_agent|authorization)":/);
}

describe('alerts carry no args, headers, paths, queries, error messages or tokens', () => {
  test('every kind of alert, raised from records holding secrets everywhere', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const engine = new AlertEngine(auditConfig({ alerts: detectorsOn }).alerts, { clock, logger: memoryLogger() });
    for (const ex of everyKind()) {
      const r = recordOf(ex, clock);
      assert.ok(SECRETS.some((s) => JSON.stringify(r).includes(s)), 'the record itself holds secrets');
      engine.observe(r);
    }
    await engine.close();
    const alerts = engine.posted.flatMap((p) => p.alerts);
    assert.deepEqual([...new Set(alerts.map((a) => a.kind))].sort(), [
      'break_glass', 'credential_spread', 'critical_operation', 'event', 'malformed_requests', 'repeated_auth_failures', 'scope_probing',
    ]);
    assertClean(alerts);
  });
});

describe('AlertForwarder', () => {
  const forwarded = (alerts: Record<string, unknown>, clock = new ManualClock(Date.UTC(2026, 0, 1))) => {
    const sent: Record<string, unknown>[] = [];
    const fwd = new AlertForwarder(auditConfig({ alerts: { enabled: true, ...alerts } }).alerts, (r) => sent.push(r), clock);
    return { sent, clock, see: (ex: Exchange) => fwd.observe(recordOf(ex, clock)) };
  };

  test('by default forwards only what a detector could use: no successful request, no hang-up, no other error', () => {
    const f = forwarded({});
    f.see(laden({ tool: 'list' }));
    f.see(malformed('GH_CLIENT_CLOSED', '192.0.2.1', 'The client closed the connection.'));
    f.see(malformed('GH_UPSTREAM_UNAVAILABLE', '192.0.2.1'));
    f.see(malformed('GH_NOT_FOUND', '192.0.2.1'));
    assert.deepEqual(f.sent, []);
    f.see(laden({ deny: true, tool: 'probe' }));
    f.see(malformed('GH_PATH_INVALID', '192.0.2.1', 'The request path is invalid: ERR-SECRET'));
    assert.equal(f.sent.length, 2);
    const [deny, bad] = f.sent;
    assert.deepEqual(deny?.['metadata'], { route: 'mcp', mcp_method: 'tools/call' }, 'only the members a target is named by');
    assert.equal(deny?.['tool'], 'probe');
    assert.equal(deny?.['auth_method'], 'token');
    assert.equal(bad?.['error_code'], 'GH_PATH_INVALID');
    assert.equal(bad?.['error'], undefined);
    assert.equal(bad?.['metadata'], undefined);
    const text = JSON.stringify(f.sent);
    for (const s of SECRETS) assert.ok(!text.includes(s), `forwarded ${s}`);
  });

  test('disabled detectors forward nothing for them', () => {
    const f = forwarded({ scope_probing: { enabled: false }, malformed_requests: { enabled: false } });
    f.see(malformed('GH_PATH_INVALID', '192.0.2.1'));
    assert.deepEqual(f.sent, []);
    f.see(laden({ deny: true, tool: 'probe' }));
    // Still forwarded for auth_failures, but without the target metadata scope_probing alone reads.
    assert.equal(f.sent.length, 1);
    assert.equal(f.sent[0]?.['metadata'], undefined);
  });

  test('with credential_spread, a successful request is sent compactly, once per (principal, source) per tenth of the window', () => {
    const f = forwarded({ credential_spread: { enabled: true, window: '10m' } });
    f.see(laden({ tool: 'list', ip: '10.0.0.1', node: 'laptop' }));
    assert.equal(f.sent.length, 1);
    assert.deepEqual(Object.keys(f.sent[0] ?? {}).sort(), ['auth_method', 'event_type', 'request_id', 'source_ip', 'subject', 'tailscale', 'timestamp']);
    assert.deepEqual(f.sent[0]?.['tailscale'], { tailscale_node: 'laptop' });
    for (let i = 0; i < 100; i++) f.see(laden({ tool: 'list', ip: '10.0.0.1', node: 'laptop' }));
    assert.equal(f.sent.length, 1, 'the same pair within a minute: not sent again');
    f.see(laden({ tool: 'list', ip: '10.0.0.2' }));
    f.see(laden({ tool: 'list', ip: '10.0.0.2', who: principal('other') }));
    f.see(laden({ tool: 'list', ip: '10.0.0.2', who: principal('ops', 'mtls') }));
    assert.equal(f.sent.length, 4, 'a new source, another principal, another method: sent at once');
    f.clock.advance(MINUTE);
    f.see(laden({ tool: 'list', ip: '10.0.0.1', node: 'laptop' }));
    assert.equal(f.sent.length, 5, 'after a tenth of the window the pair is sent again (the engine keeps it in its window)');
    f.see(request({ who: undefined, ip: '10.0.0.3' }));
    assert.equal(f.sent.length, 5, 'an anonymous request is nobody\'s sighting');
  });

  test('its table of pairs is bounded: the oldest is evicted (and sent again when seen again)', () => {
    const f = forwarded({ credential_spread: { enabled: true } });
    for (let i = 0; i <= MAX_KEYS; i++) f.see(request({ ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }));
    assert.equal(f.sent.length, MAX_KEYS + 1);
    f.see(request({ ip: `10.0.${(MAX_KEYS >> 8) & 255}.${MAX_KEYS & 255}` }));
    assert.equal(f.sent.length, MAX_KEYS + 1, 'the newest pair is still known');
    f.see(request({ ip: '10.0.0.0' }));
    assert.equal(f.sent.length, MAX_KEYS + 2, 'the oldest was evicted');
  });

  test('two workers forwarding to one engine meet the thresholds together, and raise what one process would', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const cfg = auditConfig({ alerts: detectorsOn }).alerts;
    const supervisor = new AlertEngine(cfg, { clock, logger: memoryLogger() });
    const single = new AlertEngine(cfg, { clock, logger: memoryLogger() });
    // Structured clone: what the IPC channel does to a message.
    const workers = [0, 1].map(() => new AlertForwarder(cfg, (r) => supervisor.observe(structuredClone(r)), clock));
    everyKind().forEach((ex, i) => {
      const r = recordOf(ex, clock);
      workers[i % 2]?.observe(r);
      single.observe(r);
    });
    await supervisor.close();
    await single.close();
    const summary = (e: AlertEngine) => e.posted.flatMap((p) => p.alerts).map((a) => `${a.kind} ${String(a.source ?? a.subject)} ${String(a.distinct ?? a.requests ?? a.failures ?? '')}`);
    assert.equal(summary(supervisor).length, 7);
    assert.deepEqual(summary(supervisor), summary(single));
    assertClean(supervisor.posted.flatMap((p) => p.alerts));
  });
});
