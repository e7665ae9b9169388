import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { safeJsonParse } from '../../src/core/safe.js';

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
/** The definition: JSON.parse with the dropping reviver, always. */
const reference = (text: string): unknown => JSON.parse(text, (k, v: unknown) => (FORBIDDEN.has(k) ? undefined : v));

describe('safeJsonParse', () => {
  test('equals the always-reviving parse on any JSON, forbidden keys (plain or escaped) included', () => {
    const key = fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'prototype', 'a', '\\'));
    const value = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, fc.jsonValue({ maxDepth: 1 }), fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(key, tie('v'), { maxKeys: 4 })),
    })).v;
    fc.assert(
      fc.property(value, fc.boolean(), (v, escape) => {
        let text = JSON.stringify(v) ?? 'null';
        // Spell forbidden keys with a \u escape: the raw text no longer shows the word.
        if (escape) text = text.replace(/"(__pro)to__"/g, '"$1\\u0074o__"').replace(/"(construc)tor"/g, '"$1\\u0074or"');
        assert.deepEqual(safeJsonParse(text), reference(text));
      }),
      { numRuns: 500 },
    );
  });

  test('escaped forbidden keys are dropped and pollute nothing', () => {
    const out = safeJsonParse('{"__pro\\u0074o__":{"polluted":1},"a":{"c\\u006fnstructor":{"prototype":{"x":1}},"b":2}}') as Record<string, unknown>;
    assert.deepEqual(out, { a: { b: 2 } });
    assert.equal(Object.hasOwn(out, '__proto__'), false);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.deepEqual(safeJsonParse('{"x":{"constructor":1,"y":[{"prototype":2}]}}'), { x: { y: [{}] } });
  });

  test('bounds the input size', () => {
    assert.throws(() => safeJsonParse('[' + '1,'.repeat(100) + '1]', 64), RangeError);
  });
});
