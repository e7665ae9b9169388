/**
 * Alert suppression: anyone without credentials can make failed logins; they must not crowd a critical operation or
 * a break-glass alert out of audit.alerts.max_per_minute. Each kind has its own budget, a flood of one kind is itself
 * bounded and counted (`suppressed`, `suppressed_by_kind`), and repeated_auth_failures alerts once per source per
 * window with the count. A real webhook on loopback; a frozen clock for the windows.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ManualClock } from '../../src/core/clock.js';
import { AlertEngine, type Alert } from '../../src/audit/index.js';
import { auditConfig, memoryLogger } from '../audit/helpers.js';
import { until } from '../helpers/until.js';

interface Post {
  alerts: Alert[];
  suppressed: number;
  suppressed_by_kind?: Record<string, number>;
}

async function webhook(t: { after(fn: () => unknown): void }) {
  const posts: Post[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let b = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (b += d));
    req.on('end', () => {
      posts.push(JSON.parse(b) as Post);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, posts };
}

function engine(url: string | undefined, alerts: Record<string, unknown> = {}) {
  const clock = new ManualClock(Date.UTC(2031, 5, 1, 12));
  const logger = memoryLogger();
  const cfg = auditConfig({ alerts: { enabled: true, ...(url ? { webhook_url: url } : {}), batch_interval: '50ms', ...alerts } }).alerts;
  const e = new AlertEngine(cfg, { clock, logger });
  const at = () => new Date(clock.now()).toISOString();
  return {
    e, clock, logger,
    badToken: (ip: string) => {
      clock.advance(10);
      e.observe({ event_type: 'auth.failure', result: 'denied', error_code: 'GH_TOKEN_INVALID', source_ip: ip, timestamp: at() });
    },
    critical: (subject: string, result: 'success' | 'denied' = 'success') => {
      clock.advance(10);
      e.observe({ event_type: result === 'success' ? 'tool.call' : 'authz.deny', result, risk_level: 'critical', tool: 'delete_database', subject, source_ip: '203.0.113.9', timestamp: at() });
    },
    breakGlass: () => {
      clock.advance(10);
      e.observe({ event_type: 'tool.call', result: 'success', risk_level: 'high', tool: 'restart', subject: 'agent:oncall', approval: { break_glass: true }, timestamp: at() });
    },
  };
}

const kinds = (posts: Post[]): string[] => posts.flatMap((p) => p.alerts.map((a) => a.kind));
const count = (posts: Post[], kind: string): number => kinds(posts).filter((k) => k === kind).length;

describe('alert suppression by noise', () => {
  test('200 bad-token requests from one address, then a critical operation: the critical alert is sent', async (t) => {
    const hook = await webhook(t);
    const g = engine(hook.url);
    for (let i = 0; i < 200; i++) g.badToken('203.0.113.9');
    g.critical('agent:ops-admin');
    await g.e.close();
    assert.equal(count(hook.posts, 'critical_operation'), 1, `sent: ${kinds(hook.posts).join()}`);
    const failures = hook.posts.flatMap((p) => p.alerts).filter((a) => a.kind === 'repeated_auth_failures');
    assert.equal(failures.length, 1, 'one alert for the source in its window, not one every threshold failures');
    assert.equal(failures[0]?.source, '203.0.113.9');
    assert.equal(failures[0]?.failures, 200, 'the alert counts every failure until it was sent');
    assert.equal(hook.posts.reduce((n, p) => n + p.suppressed, 0), 0);
  });

  test('a flood of one kind across many batches does not starve another; each flood is bounded and counted by kind', async (t) => {
    const hook = await webhook(t);
    const g = engine(hook.url, { max_per_minute: 30 });
    // An attacker with many addresses: 40 sources cross the failure threshold in each of three batches (120 alerts).
    for (let round = 0; round < 3; round++) {
      const before = hook.posts.length;
      for (let s = 0; s < 40; s++) for (let i = 0; i < 5; i++) g.badToken(`2001:db8::${round}:${s}`);
      if (round === 0) await until('the first batch posted', () => hook.posts.length > before);
      else await new Promise((r) => setTimeout(r, 150));
    }
    // A caller with a low-privilege token asks for the critical tool 50 times (denied), then an admin runs it.
    for (let i = 0; i < 50; i++) g.critical('agent:intern', 'denied');
    g.critical('agent:ops-admin');
    g.breakGlass();
    await g.e.close();
    const sent = hook.posts.flatMap((p) => p.alerts);
    // The intern's denials from their own address cross the failure threshold too: the budget was spent, it is counted.
    assert.equal(count(hook.posts, 'repeated_auth_failures'), 30, 'the failure flood is held to its own budget');
    const ran = sent.filter((a) => a.kind === 'critical_operation' && a.result === 'success');
    assert.deepEqual(ran.map((a) => a.subject), ['agent:ops-admin'], 'the critical operation that ran is sent despite both floods');
    assert.equal(sent.filter((a) => a.kind === 'critical_operation' && a.result === 'denied').length, 30, 'denied attempts are bounded by a budget of their own');
    assert.equal(count(hook.posts, 'break_glass'), 1);
    const byKind: Record<string, number> = {};
    for (const p of hook.posts) for (const [k, n] of Object.entries(p.suppressed_by_kind ?? {})) byKind[k] = (byKind[k] ?? 0) + n;
    assert.deepEqual(byKind, { repeated_auth_failures: 91, critical_operation: 20 });
    assert.equal(hook.posts.reduce((n, p) => n + p.suppressed, 0), 111);
    const logged = g.logger.lines.filter((l) => (l.obj as { alert?: string }).alert === 'audit_alerts_suppressed');
    assert.ok(logged.length >= 1 && logged.length <= 2, `suppression logged at most once a minute (and at close): ${logged.length}`);
  });

  test('repeated_auth_failures: once per source per window; failures while muted are reported with the next alert', async (t) => {
    const hook = await webhook(t);
    const g = engine(hook.url, { auth_failures: { threshold: 5, window: '1m' } });
    for (let i = 0; i < 7; i++) g.badToken('198.51.100.4');
    await until('the first alert posted', () => hook.posts.length === 1);
    // Still within the window: counted, not alerted.
    for (let i = 0; i < 12; i++) g.badToken('198.51.100.4');
    g.clock.advance(61_000);
    for (let i = 0; i < 5; i++) g.badToken('198.51.100.4');
    await g.e.close();
    const alerts = hook.posts.flatMap((p) => p.alerts).filter((a) => a.kind === 'repeated_auth_failures');
    assert.deepEqual(alerts.map((a) => [a.failures, a.unreported_failures]), [[7, undefined], [5, 12]]);
  });
});
