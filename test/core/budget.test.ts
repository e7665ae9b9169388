import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Budget } from '../../src/core/budget.js';

describe('Budget', () => {
  test('admits a burst at once, then the rate, and the next admission counts what was turned away', () => {
    const b = new Budget(2, 3);
    assert.deepEqual([b.take(0), b.take(0), b.take(0)], [0, 0, 0]);
    assert.equal(b.take(0), undefined);
    assert.equal(b.take(100), undefined, '0.2 of a token after 100 ms at 2/s');
    assert.equal(b.take(500), 2, 'one token after 500 ms; two were turned away');
    assert.equal(b.take(500), undefined);
    assert.equal(b.take(10_000), 1);
    assert.deepEqual([b.take(10_000), b.take(10_000)], [0, 0], 'refilled up to the burst, not beyond');
    assert.equal(b.take(10_000), undefined);
  });

  test('a clock that goes back refills nothing', () => {
    const b = new Budget(1, 1);
    assert.equal(b.take(5_000), 0);
    assert.equal(b.take(1_000), undefined);
    assert.equal(b.take(5_999), undefined);
    assert.equal(b.take(6_000), 2);
  });

  test('refuses a rate or burst that would admit nothing', () => {
    assert.throws(() => new Budget(0, 1), RangeError);
    assert.throws(() => new Budget(1, 0), RangeError);
    assert.throws(() => new Budget(Number.NaN, 1), RangeError);
  });
});
