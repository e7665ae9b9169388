import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBytes } from '../../src/core/bytes.js';

test('parses the sizes operators write', () => {
  assert.equal(parseBytes('16kb'), 16_384);
  assert.equal(parseBytes('1MB'), 1_048_576);
  assert.equal(parseBytes('2gb'), 2 * 1024 ** 3);
  assert.equal(parseBytes('512'), 512);
  assert.equal(parseBytes(4096), 4096);
});

test('rejects negative, fractional and malformed sizes with a TypeError', () => {
  for (const bad of ['', '-1kb', '1.5mb', '1 tb', '0x10', '1e3', 'kb', '9999999999999b']) assert.throws(() => parseBytes(bad), TypeError, bad);
  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) assert.throws(() => parseBytes(bad), TypeError, String(bad));
});

test('every accepted size is a safe integer of bytes (12 digits of gigabytes would not be)', () => {
  assert.equal(parseBytes('8388607gb'), 8_388_607 * 1024 ** 3);
  assert.throws(() => parseBytes('999999999999gb'), TypeError);
  assert.throws(() => parseBytes('999999999999mb'), TypeError);
});
