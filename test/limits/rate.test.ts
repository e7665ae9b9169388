import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RateTable, type RateVerdict } from '../../src/limits/index.js';

// Explicit times throughout: the table takes `now` as an argument, so no clock, timer or sleep is involved.
const T0 = 1_000_000;

/** How many requests `key` gets admitted at `now`, taking until the first refusal (bounded). */
function admitsAt(table: RateTable, key: string, now: number, max = 10_000): number {
  let n = 0;
  while (n < max && table.take(key, now).allowed) n++;
  return n;
}

describe('RateTable (GCRA)', () => {
  test('a fresh key admits exactly `burst` requests at one instant, then is refused for one emission interval', () => {
    // 10 per second: T = 100 ms; burst 5.
    const table = new RateTable({ limit: 10, periodMs: 1000, burst: 5 }, 100);
    for (let i = 0; i < 5; i++) assert.equal(table.take('k', T0).allowed, true, `request ${i + 1}`);
    const refused = table.take('k', T0);
    assert.equal(refused.allowed, false);
    assert.equal(refused.remaining, 0);
    assert.equal(refused.retryAfterMs, 100);
    // A refusal is not charged: it is refused for the same time again.
    assert.equal(table.take('k', T0).retryAfterMs, 100);

    // 4 per second with burst 8: T = 250 ms.
    const other = new RateTable({ limit: 4, periodMs: 1000, burst: 8 }, 100);
    assert.equal(admitsAt(other, 'k', T0), 8);
    assert.equal(other.take('k', T0).retryAfterMs, 250);
  });

  test('retryAfterMs rounds a fractional interval up (3/sec: 333.3 ms → 334)', () => {
    const table = new RateTable({ limit: 3, periodMs: 1000, burst: 1 }, 100);
    assert.equal(table.take('k', T0).allowed, true);
    assert.equal(table.take('k', T0).retryAfterMs, 334);
    assert.equal(table.take('k', T0 + 333).allowed, false, 'one ms early');
    assert.equal(table.take('k', T0 + 334).allowed, true);
  });

  test('the allowance refills one request per interval and never beyond the burst', () => {
    const table = new RateTable({ limit: 10, periodMs: 1000, burst: 5 }, 100);
    assert.equal(admitsAt(table, 'k', T0), 5);
    const early = table.take('k', T0 + 99);
    assert.equal(early.allowed, false);
    assert.equal(early.retryAfterMs, 1);
    assert.equal(admitsAt(table, 'k', T0 + 100), 1, 'one interval later: one request');
    assert.equal(admitsAt(table, 'k', T0 + 350), 2, 'two and a half intervals later: two more');
    // Idle for far longer than the period: still only the burst at once.
    assert.equal(admitsAt(table, 'k', T0 + 3_600_000), 5);
  });

  test('remaining counts down to 0 and resetMs says when the allowance is full again', () => {
    const table = new RateTable({ limit: 10, periodMs: 1000, burst: 5 }, 100);
    const seen: Array<[number, number]> = [];
    for (let i = 0; i < 5; i++) {
      const v = table.take('k', T0);
      seen.push([v.remaining, v.resetMs]);
    }
    assert.deepEqual(seen, [[4, 100], [3, 200], [2, 300], [1, 400], [0, 500]]);
    // 250 ms later two requests have come back: this one leaves one.
    const later = table.take('k', T0 + 250);
    assert.equal(later.allowed, true);
    assert.equal(later.remaining, 1);
    assert.equal(later.resetMs, 350);
  });

  test('a batch check(key, now, n) is all or nothing, changes nothing, and a batch above the burst is refused', () => {
    const table = new RateTable({ limit: 10, periodMs: 1000, burst: 5 }, 100);
    const three = table.check('k', T0, 3);
    assert.equal(typeof three, 'number');
    table.commit('k', three as number, T0);
    const another = table.check('k', T0, 3);
    assert.notEqual(typeof another, 'number', 'only 2 left: 3 at once are refused');
    assert.equal((another as RateVerdict).allowed, false);
    assert.equal((another as RateVerdict).retryAfterMs, 100, 'one more request must come back first');
    // The refused batch took nothing: two single requests still fit, a third does not.
    assert.equal(admitsAt(table, 'k', T0), 2);

    const fresh = new RateTable({ limit: 10, periodMs: 1000, burst: 5 }, 100);
    assert.equal(typeof fresh.check('k', T0, 5), 'number', 'exactly the burst fits');
    const tooBig = fresh.check('k', T0, 6);
    assert.notEqual(typeof tooBig, 'number');
    assert.equal((tooBig as RateVerdict).allowed, false);
    // check() alone stores nothing: the whole burst is still there.
    assert.equal(fresh.size, 0);
    assert.equal(admitsAt(fresh, 'k', T0), 5);
  });

  test('charge() counts what another worker admitted against the key, without a cap', () => {
    const table = new RateTable({ limit: 10, periodMs: 1000, burst: 5 }, 100);
    table.charge('k', 3, T0);
    assert.equal(admitsAt(table, 'k', T0), 2);

    const over = new RateTable({ limit: 10, periodMs: 1000, burst: 5 }, 100);
    over.charge('k', 10, T0);
    // It owes 10 intervals: the next request waits until only 4 remain owed (10 + 1 − 5 = 6 intervals).
    const v = over.take('k', T0);
    assert.equal(v.allowed, false);
    assert.equal(v.retryAfterMs, 600);

    const none = new RateTable({ limit: 10, periodMs: 1000, burst: 5 }, 100);
    for (const n of [0, -3, Number.NaN]) none.charge('k', n, T0);
    assert.equal(none.size, 0, 'nothing to charge stores nothing');
    assert.equal(admitsAt(none, 'k', T0), 5);
  });

  test('keys are independent: one exhausted key leaves the others their full burst', () => {
    const table = new RateTable({ limit: 10, periodMs: 1000, burst: 3 }, 100);
    assert.equal(admitsAt(table, 'alice', T0), 3);
    assert.equal(admitsAt(table, 'bob', T0), 3);
    assert.equal(table.take('alice', T0).allowed, false);
    assert.equal(table.size, 2);
  });

  test('past maxKeys the least recently touched key is forgotten (and counted, as it still owed time)', () => {
    const table = new RateTable({ limit: 10, periodMs: 1000, burst: 2 }, 3);
    for (const k of ['a', 'b', 'c']) assert.equal(table.take(k, T0).allowed, true);
    assert.equal(table.take('a', T0).allowed, true, 'a is touched again: b is now the oldest');
    assert.equal(table.take('d', T0).allowed, true);
    assert.equal(table.size, 3);
    assert.equal(table.evicted, 1);
    // a was kept (its allowance is spent); b was forgotten and starts afresh with its full burst.
    assert.equal(table.take('a', T0).allowed, false);
    assert.equal(admitsAt(table, 'b', T0), 2);
  });

  test('evicting a key that owed nothing any more is not counted', () => {
    const table = new RateTable({ limit: 10, periodMs: 1000, burst: 2 }, 2);
    table.take('x', T0);
    table.take('y', T0);
    // 1 s later both have paid off their 100 ms.
    table.take('z', T0 + 1000);
    assert.equal(table.size, 2);
    assert.equal(table.evicted, 0);
    // x was the one forgotten, y kept: filling up again evicts y, which still owes nothing either.
    table.take('w', T0 + 1000);
    assert.equal(table.evicted, 0);
    // z and w still owe time now: evicting z counts.
    table.take('v', T0 + 1000);
    assert.equal(table.evicted, 1);
  });

  test('a refused request does not make its key recently used', () => {
    const table = new RateTable({ limit: 10, periodMs: 1000, burst: 1 }, 2);
    table.take('a', T0);
    table.take('b', T0);
    assert.equal(table.take('a', T0).allowed, false);
    table.take('c', T0);
    // a was the oldest admission, so a (not b) was forgotten.
    assert.equal(table.take('a', T0).allowed, true);
    assert.equal(table.take('c', T0).allowed, false);
  });

  test('the constructor refuses shapes that are not positive (TypeError)', () => {
    const bad = [
      { limit: 0, periodMs: 1000, burst: 1 },
      { limit: 0.5, periodMs: 1000, burst: 1 },
      { limit: -1, periodMs: 1000, burst: 1 },
      { limit: 10, periodMs: 0, burst: 1 },
      { limit: 10, periodMs: -1000, burst: 1 },
      { limit: 10, periodMs: 1000, burst: 0 },
      { limit: Number.NaN, periodMs: 1000, burst: 1 },
      { limit: 10, periodMs: Number.NaN, burst: 1 },
      { limit: 10, periodMs: 1000, burst: Number.NaN },
    ];
    for (const shape of bad) assert.throws(() => new RateTable(shape, 100), TypeError, JSON.stringify(shape));
    assert.doesNotThrow(() => new RateTable({ limit: 1, periodMs: 1, burst: 1 }, 100));
  });

  test('at wall-clock times (Date.now() ≈ 1.8e12) the burst is exact for intervals that are not whole ms', () => {
    // 1000/7 ms summed `burst` times at the magnitude of an epoch time rounds to the float step there (2^-12 ms):
    // the burst must not come out one short.
    const now = Date.UTC(2026, 0, 1, 12, 0, 0, 123);
    for (const limit of [3, 6, 7, 11, 13]) {
      for (const burst of [limit, 2 * limit]) {
        const table = new RateTable({ limit, periodMs: 1000, burst }, 100);
        assert.equal(admitsAt(table, 'k', now), burst, `${limit}/sec, burst ${burst}`);
        // …and one interval (rounded up to whole ms) later exactly one more.
        assert.equal(admitsAt(table, 'k', now + Math.ceil(1000 / limit)), 1, `${limit}/sec, burst ${burst}: refill`);
      }
    }
  });
});
