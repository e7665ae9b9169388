/** What a replacement worker takes over from a live one (RateTable.owing/restore, FailureCounter.restore). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateTable } from '../../src/limits/index.js';
import { FailureCounter } from '../../src/authn/index.js';

test('RateTable: owing lists the keys that owe time, and restore keeps the larger debt', () => {
  const now = 1_000_000;
  const live = new RateTable({ limit: 10, periodMs: 3_600_000, burst: 10 }, 100);
  for (let i = 0; i < 10; i++) assert.equal(live.take('10.0.0.1', now).allowed, true);
  live.take('10.0.0.2', now);
  const owing = new Map(live.owing(now));
  assert.equal(owing.size, 2);
  const fresh = new RateTable({ limit: 10, periodMs: 3_600_000, burst: 10 }, 100);
  for (const [k, owed] of owing) fresh.restore(k, owed, now);
  assert.equal(fresh.take('10.0.0.1', now).allowed, false, 'the spent burst stays spent');
  assert.equal(fresh.take('10.0.0.2', now).allowed, true, 'what is left stays left');
  // A smaller debt does not lower a larger one; nonsense is ignored.
  fresh.restore('10.0.0.1', 1, now);
  for (const bad of [Number.NaN, -5, Number.POSITIVE_INFINITY]) fresh.restore('10.0.0.3', bad, now);
  assert.equal(fresh.take('10.0.0.1', now).allowed, false);
  assert.equal(fresh.owing(now).some(([k]) => k === '10.0.0.3'), false);
});

test('FailureCounter.restore takes over counts as another worker\'s (none its own) and skips malformed entries', () => {
  const live = new FailureCounter();
  for (let i = 0; i < 3; i++) live.record('192.0.2.7', 'alice', 'basic', 'bad_password');
  const fresh = new FailureCounter();
  fresh.record('192.0.2.7', undefined, 'basic', 'bad_password');
  fresh.restore(live.snapshot());
  assert.equal(fresh.forIp('192.0.2.7'), 3, 'the larger count');
  assert.equal(fresh.forPrincipal('alice'), 3);
  assert.equal(fresh.ownForPrincipal('alice'), 0, 'counted elsewhere');
  fresh.restore({ by_ip: { '192.0.2.8': 'x', '192.0.2.9': -1, '192.0.2.10': 1.5, ['k'.repeat(1025)]: 2 }, by_principal: null });
  fresh.restore('nonsense');
  fresh.restore(null);
  assert.deepEqual(Object.keys(fresh.snapshot().by_ip), ['192.0.2.7']);
});
