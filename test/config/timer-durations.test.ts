import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/index.js';
import { configRefusal, TEST_ENV } from './helpers.js';

// Every duration the gateway hands to a timer (setTimeout, socket or pool timeouts). Node fires a timer longer than
// 2^31 − 1 ms (about 24.8 days) after 1 ms, or refuses it with a RangeError at start (GH_INTERNAL, no field named).
const ROUTE = 'routes:\n  - name: up\n    prefix: /\n    upstream: http://127.0.0.1:9\n';
const TIMER_FIELDS: Array<[path: string, yaml: (v: string) => string]> = [
  ['server.limits.header_timeout', (v) => `server:\n  limits:\n    header_timeout: ${v}\n`],
  ['server.limits.request_timeout', (v) => `server:\n  limits:\n    request_timeout: ${v}\n`],
  ['server.limits.idle_timeout', (v) => `server:\n  limits:\n    idle_timeout: ${v}\n`],
  ['server.shutdown_timeout', (v) => `server:\n  shutdown_timeout: ${v}\n`],
  ['routes[0].connect_timeout', (v) => `${ROUTE}    connect_timeout: ${v}\n`],
  ['routes[0].response_timeout', (v) => `${ROUTE}    response_timeout: ${v}\n`],
  ['routes[0].body_timeout', (v) => `${ROUTE}    body_timeout: ${v}\n`],
  ['approval.webhook.timeout', (v) => `approval:\n  webhook:\n    timeout: ${v}\n`],
  ['approval.queue.hold_timeout', (v) => `approval:\n  queue:\n    hold_timeout: ${v}\n`],
  ['approval.queue.poll_interval', (v) => `approval:\n  queue:\n    poll_interval: ${v}\n`],
  ['audit.fsync_interval', (v) => `audit:\n  fsync_interval: ${v}\n`],
  ['audit.alerts.batch_interval', (v) => `audit:\n  alerts:\n    batch_interval: ${v}\n`],
  ['auth.usage_flush', (v) => `auth:\n  usage_flush: ${v}\n`],
];

test('a duration that goes into a timer is refused past 24.8 days, naming its field', async () => {
  for (const [path, yaml] of TIMER_FIELDS) {
    const err = await configRefusal(yaml('30d'));
    assert.equal(err.problems.length, 1, `${path}: ${err.problems.join('; ')}`);
    assert.ok((err.problems[0] as string).startsWith(`${path}: at most 24d`), `${path}: ${err.problems[0]}`);
    // 2^31 ms, one past the limit, written in milliseconds.
    const justOver = await configRefusal(yaml('2147483648ms'));
    assert.match(justOver.problems[0] as string, /at most 24d/, path);
  }
});

test('timer durations up to the limit load, and long durations that are not timers stay allowed', async () => {
  for (const [path, yaml] of TIMER_FIELDS) {
    await assert.doesNotReject(loadConfig({ text: yaml('24d'), env: TEST_ENV }), path);
    await assert.doesNotReject(loadConfig({ text: yaml('2147483647ms'), env: TEST_ENV }), path);
  }
  // Token lifetimes, HSTS max-age and audit rotation are compared with clocks, never put in a timer.
  const cfg = await loadConfig({ text: 'auth:\n  token:\n    max_ttl:\n      default: 365d\nserver:\n  tls:\n    hsts:\n      max_age: 730d\naudit:\n  rotation:\n    max_age: 90d\n', env: TEST_ENV });
  assert.equal(cfg.auth.token.max_ttl.default, 365 * 86_400_000);
  assert.equal(cfg.server.tls.hsts.max_age, 730 * 86_400_000);
  assert.equal(cfg.audit.rotation.max_age, 90 * 86_400_000);
});
