import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatDuration, parseDuration } from '../../src/core/durations.js';

test('parses the units operators write (seed 001 --ttl)', () => {
  assert.equal(parseDuration('30d'), 30 * 86_400_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('7d'), 604_800_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('2w'), 1_209_600_000);
  assert.equal(parseDuration(250), 250);
});

test('rejects malformed durations with a TypeError', () => {
  for (const bad of ['', '1', 'h', '1.5h', '-1h', '1y', '1 h', '9999999999999d', '1h1m', 'NaNs']) {
    assert.throws(() => parseDuration(bad), TypeError, bad);
  }
  assert.throws(() => parseDuration(-5), TypeError);
});

test('format and parse round-trip', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10_000_000_000 }), (ms) => parseDuration(formatDuration(ms)) === ms),
  );
});

test('parsing is linear on long near-miss input', () => {
  assert.throws(() => parseDuration('1'.repeat(100_000) + 'x'), TypeError);
});

test('every accepted duration is a safe integer of ms (12 digits of weeks would not be)', () => {
  assert.equal(parseDuration('999999999999ms'), 999_999_999_999);
  assert.equal(parseDuration('9999999d'), 9_999_999 * 86_400_000);
  for (const big of ['999999999999w', '999999999999d', '999999999999h']) assert.throws(() => parseDuration(big), TypeError, big);
});
