import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { canonicalJson, sortKeys, toAuditValue, toAuditValueShared } from '../../src/audit/canonical.js';
import { chainLine, readTrailerOf, GENESIS_HASH } from '../../src/audit/chain.js';

describe('canonical JSON', () => {
  test('sorts keys by UTF-16 code units, including integer-like keys V8 would put first', () => {
    assert.equal(canonicalJson({ b: 1, a: [3, { z: 1, y: null }], '10': true, '9': 'x' }), '{"10":true,"9":"x","a":[3,{"y":null,"z":1}],"b":1}');
  });

  test('omits undefined members and writes no whitespace', () => {
    assert.equal(canonicalJson({ a: undefined, b: 'x y', c: [undefined] }), '{"b":"x y","c":[null]}');
  });

  test('round-trips and ignores member order (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const value = toAuditValue(v, { maxDepth: 64, maxString: 1e6, maxItems: 1e6 });
        const text = canonicalJson(value);
        assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(value)));
        const shuffled = JSON.parse(text, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).reverse()) : x));
        assert.equal(canonicalJson(shuffled), text);
      }),
      { numRuns: 300 },
    );
  });

  test('bounds hostile values: cycles, depth, huge strings, functions, non-finite numbers', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    const v = toAuditValue({ cyclic, s: 'x'.repeat(10_000), f: () => 1, n: NaN, big: 10n, buf: Buffer.from('secret') }) as Record<string, unknown>;
    const text = canonicalJson(v);
    assert.ok(text.includes('[depth]'));
    assert.ok((v['s'] as string).length < 5000);
    assert.equal(v['f'], undefined);
    assert.equal(v['n'], null);
    assert.equal(v['big'], '10');
    assert.equal(v['buf'], '[binary 6 bytes]');
  });
});

describe('hash chain line', () => {
  test('hash is SHA-256 of the line without its final hash member; trailer is seq, prev_hash, hash', () => {
    const { line, hash } = chainLine('{"a":1}', 7, GENESIS_HASH);
    assert.equal(line, `{"a":1,"seq":7,"prev_hash":"${GENESIS_HASH}","hash":"${hash}"}`);
    assert.equal(hash, createHash('sha256').update(`{"a":1,"seq":7,"prev_hash":"${GENESIS_HASH}"}`).digest('hex'));
    const t = readTrailerOf(line);
    assert.deepEqual(t, { seq: 7, prevHash: GENESIS_HASH, hash, computed: hash });
  });

  test('a third party recomputes the hash from the parsed record (canonical form without hash)', () => {
    const { line, hash } = chainLine(canonicalJson({ z: { '2': 1, '10': 2 }, a: 'é\u2028"' }), 1, GENESIS_HASH);
    const rec = JSON.parse(line) as Record<string, unknown>;
    delete rec['hash'];
    const { seq, prev_hash, ...payload } = rec;
    const recomputed = `${canonicalJson(payload).slice(0, -1)},"seq":${String(seq)},"prev_hash":"${String(prev_hash)}"}`;
    assert.equal(createHash('sha256').update(recomputed).digest('hex'), hash);
  });

  test('readTrailer rejects anything that is not a well-formed trailer and never throws (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const t = readTrailerOf(s);
        if (t) assert.equal(typeof t.seq, 'number');
      }),
      { numRuns: 500 },
    );
    const { line } = chainLine('{"a":1}', 12, GENESIS_HASH);
    for (let cut = 1; cut < line.length; cut++) assert.equal(readTrailerOf(line.slice(0, cut)), undefined);
  });

  test('an empty payload is refused', () => {
    assert.throws(() => chainLine('{}', 1, GENESIS_HASH), TypeError);
  });
});

describe('record payload serialisation', () => {
  test('the writer fast path equals canonical JSON, and PAYLOAD_KEYS are the payload keys in canonical order', async () => {
    const { buildPayload, serializePayload, PAYLOAD_KEYS, IDENTITY } = await import('../../src/audit/record.js');
    assert.deepEqual([...PAYLOAD_KEYS], [...PAYLOAD_KEYS].sort());
    const opts = { redact: IDENTITY, hmacKeys: new Set<string>(), hmacKey: undefined };
    // Not sorted here: the literal's own order must be canonical, since the hot path is one JSON.stringify.
    assert.deepEqual(Object.keys(buildPayload({ event_type: 'x', result_status: 'success' }, 't', opts)), [...PAYLOAD_KEYS]);
    const digits = buildPayload({ event_type: 'x', result_status: 'success', args: { b: { '10': 1, '9': 2, a: [{ '2': 0, '1': 0 }] } } }, 't', opts);
    assert.equal(serializePayload(digits, 1e9), canonicalJson(digits));
    assert.ok(serializePayload(digits, 1e9).includes('{"10":1,"9":2,"a":[{"1":0,"2":0}]}'));
    fc.assert(
      fc.property(fc.record({ args: fc.jsonValue(), metadata: fc.dictionary(fc.oneof(fc.string(), fc.nat().map(String)), fc.jsonValue()), subject: fc.string(), tool: fc.option(fc.string(), { nil: undefined }), latency_ms: fc.double({ noNaN: true, noDefaultInfinity: true }), scopes: fc.array(fc.string()) }), (e) => {
        const payload = buildPayload({ event_type: 'tool.call', result_status: 'success', tailscale: { tailscale_user: 'a', tailnet: 'b' }, ...e }, '2026-01-01T00:00:00.000Z', opts);
        assert.equal(serializePayload(payload, 1e9), canonicalJson(payload));
      }),
      { numRuns: 200 },
    );
  });
});

describe('hostile keys in args', () => {
  test('__proto__, constructor and prototype keys are kept as data and never touch a prototype', () => {
    const hostile = JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}},"a":1}') as unknown;
    const copy = toAuditValue(hostile) as Record<string, unknown>;
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.equal(Object.getPrototypeOf(copy), Object.prototype);
    assert.equal(canonicalJson(copy), '{"__proto__":{"polluted":true},"a":1,"constructor":{"prototype":{"x":1}}}');
    assert.equal(JSON.stringify(copy), canonicalJson(copy));
  });
});

describe('toAuditValueShared', () => {
  test('gives the same canonical text as a bounded copy (property), sharing only flat, sorted, bounded objects', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null)))), (v) => {
        const state = { digitKeys: false };
        const shared = toAuditValueShared(v, state);
        assert.equal(canonicalJson(shared), canonicalJson(toAuditValue(v)));
        if (!state.digitKeys) assert.equal(JSON.stringify(shared), canonicalJson(shared));
      }),
      { numRuns: 400 },
    );
    const flat = { a: 1, b: 'x' };
    assert.equal(toAuditValueShared(flat, { digitKeys: false }), flat);
    const unsorted = { b: 1, a: 2 };
    assert.notEqual(toAuditValueShared(unsorted, { digitKeys: false }), unsorted);
    const nested = { a: { b: [1, 'x', null, { c: true }] }, d: [] };
    assert.equal(toAuditValueShared(nested, { digitKeys: false }), nested);
    const holes = { a: undefined, b: [undefined, 1], c: { d: undefined } };
    assert.equal(toAuditValueShared(holes, { digitKeys: false }), holes);
    assert.equal(JSON.stringify(holes), canonicalJson(toAuditValue(holes)));
    for (const copied of [{ a: { c: 1, b: 2 } }, { a: { '1': 0 } }, { a: new Date(0) }, { a: 'x'.repeat(5000) }, { a: Infinity }, { a: [1, () => 1] }]) {
      assert.notEqual(toAuditValueShared(copied, { digitKeys: false }), copied, JSON.stringify(copied));
    }
    const deep: Record<string, unknown> = {};
    let at = deep;
    for (let i = 0; i < 20; i++) at = (at['x'] = {}) as Record<string, unknown>;
    assert.notEqual(toAuditValueShared(deep, { digitKeys: false }), deep);
  });
});

describe('sortKeys', () => {
  test('orders like Array.prototype.sort (UTF-16 code units), short and long lists', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' }), { maxLength: 40 }), (keys) => {
        assert.deepEqual(sortKeys([...keys]), [...keys].sort());
      }),
      { numRuns: 400 },
    );
    assert.deepEqual(sortKeys(['b', '\u{1F600}', '\uFFFF', 'a', 'B']), ['B', 'a', 'b', '\u{1F600}', '\uFFFF']);
  });
});

describe('protectValue with a copy-on-write redactor', () => {
  test('shares clean values, copies redacted ones, never touches the caller and leaves a mutating redactor on the copy path', async () => {
    const { protectValue } = await import('../../src/audit/record.js');
    const { createRedactor } = await import('../../src/redact/index.js');
    const redactor = createRedactor();
    const cow = { redact: (v: unknown) => redactor.redactValue(v), redactCopiesOnWrite: true, hmacKeys: new Set<string>(), hmacKey: undefined };
    const clean = { nested: { list: ['a', 1] }, route: 'up', tls: false };
    assert.equal(protectValue(clean, cow, { digitKeys: false }), clean);
    const secret = { password: 'hunter2-correct-horse', route: 'up' };
    const out = protectValue(secret, cow, { digitKeys: false }) as Record<string, unknown>;
    assert.notEqual(out, secret);
    assert.equal(out['password'], '[REDACTED]');
    assert.equal(secret.password, 'hunter2-correct-horse');
    // Unsorted input: the shared path copies first, and the redacted result is canonical either way.
    const unsorted = { token: 'x', a: 1 };
    assert.equal(JSON.stringify(protectValue(unsorted, cow, { digitKeys: false })), '{"a":1,"token":"[REDACTED]"}');
    // A redact function that edits its input (not declared copy-on-write) only ever sees a copy.
    const mutating = { redact: (v: unknown) => Object.assign(v as object, { route: 'changed' }), hmacKeys: new Set<string>(), hmacKey: undefined };
    const mine = { route: 'up' };
    assert.deepEqual(protectValue(mine, mutating, { digitKeys: false }), { route: 'changed' });
    assert.equal(mine.route, 'up');
  });
});
