import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { AEAD_ALGORITHMS, open, seal } from '../../src/crypto/aead.js';
import { openMessage, parseMessageHeader, sealMessage, sealMessageParts, type MessageKey } from '../../src/crypto/message.js';
import { encodeContext } from '../../src/crypto/context.js';
import { GatehouseError } from '../../src/core/errors.js';

const hasCode = (code: string) => (e: unknown) => e instanceof GatehouseError && e.code === code;
const keyFor = (algorithm: MessageKey['algorithm'], id = 'key-2023'): MessageKey => ({ id, algorithm, material: randomBytes(32) });

describe('message format', () => {
  for (const alg of AEAD_ALGORITHMS) {
    test(`${alg}: round-trips and names its key and algorithm`, () => {
      const key = keyFor(alg);
      const pt = Buffer.from('order 42 for acme');
      const msg = sealMessage(key, pt, Buffer.from('ctx'));
      const h = parseMessageHeader(msg);
      assert.equal(h.keyId, 'key-2023');
      assert.equal(h.algorithm, alg);
      assert.equal(msg.length, h.length + pt.length + 16);
      assert.deepEqual(openMessage(key, msg, Buffer.from('ctx')), pt);
    });

    test(`${alg}: the layout is the documented one (header as the first AAD part)`, () => {
      const key = keyFor(alg, 'k1');
      const msg = sealMessage(key, Buffer.from('hello'), Buffer.from('ctx'));
      assert.equal(msg.toString('latin1', 0, 3), 'GHM');
      assert.equal(msg[3], 1);
      assert.equal(msg[4], { 'aes-256-gcm': 1, 'chacha20-poly1305': 2, 'xchacha20-poly1305': 3 }[alg]);
      assert.equal(msg[5], 2);
      assert.equal(msg.toString('latin1', 6, 8), 'k1');
      const h = parseMessageHeader(msg);
      // Independent check with the primitive: AAD = header ‖ context.
      const aad = Buffer.concat([msg.subarray(0, h.length), Buffer.from('ctx')]);
      assert.deepEqual(open(alg, key.material, h.nonce, msg.subarray(h.length), aad), Buffer.from('hello'));
    });

    test(`${alg}: parts concatenate to a message that opens`, () => {
      const key = keyFor(alg);
      const parts = sealMessageParts(key, Buffer.from('abc'), Buffer.from('x'));
      assert.deepEqual(openMessage(key, Buffer.concat(parts), Buffer.from('x')), Buffer.from('abc'));
    });
  }

  test('every nonce is fresh', () => {
    const key = keyFor('aes-256-gcm');
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(parseMessageHeader(sealMessage(key, Buffer.from('x'))).nonce.toString('hex'));
    assert.equal(seen.size, 200);
  });

  test('context AAD binds the message: moved to another tenant or stream it fails', () => {
    const key = keyFor('aes-256-gcm');
    const aad = encodeContext({ tenant: 'acme', namespace: 'prod', stream: 'orders' });
    const msg = sealMessage(key, Buffer.from('secret'), aad);
    assert.throws(() => openMessage(key, msg, encodeContext({ tenant: 'other', namespace: 'prod', stream: 'orders' })), hasCode('GH_CRYPTO_DECRYPT_FAILED'));
    assert.throws(() => openMessage(key, msg, encodeContext({ tenant: 'acme', namespace: 'prod', stream: 'payments' })), hasCode('GH_CRYPTO_DECRYPT_FAILED'));
    assert.throws(() => openMessage(key, msg), hasCode('GH_CRYPTO_DECRYPT_FAILED'));
  });

  test('context encoding is unambiguous', () => {
    assert.notDeepEqual(encodeContext({ a: 'bc' }), encodeContext({ ab: 'c' }));
    assert.notDeepEqual(encodeContext({ tenant: 'a', stream: 'b' }), encodeContext({ tenant: 'a|stream=b' }));
    assert.deepEqual(encodeContext({ b: '1', a: '2' }), encodeContext({ a: '2', b: '1' }));
    assert.deepEqual(encodeContext({ a: '1', b: undefined }), encodeContext({ a: '1' }));
    assert.throws(() => encodeContext({ 'Bad-Name': 'x' }), TypeError);
    assert.throws(() => encodeContext({ big: 'x'.repeat(10000) }), RangeError);
  });

  test('an edited header fails: key id, algorithm byte and version', () => {
    const a = keyFor('aes-256-gcm', 'k1');
    const msg = sealMessage(a, Buffer.from('payload'));
    const renamed = Buffer.from(msg);
    renamed[7] = 'x'.charCodeAt(0);
    assert.throws(() => openMessage({ ...a, id: 'kx' }, renamed), hasCode('GH_CRYPTO_DECRYPT_FAILED'));
    const realg = Buffer.from(msg);
    realg[4] = 2;
    assert.throws(() => openMessage({ ...a, algorithm: 'chacha20-poly1305' }, realg), hasCode('GH_CRYPTO_DECRYPT_FAILED'));
    const badVersion = Buffer.from(msg);
    badVersion[3] = 2;
    assert.throws(() => openMessage(a, badVersion), hasCode('GH_CRYPTO_MALFORMED'));
  });

  test('a message for another key names it: GH_CRYPTO_KEY_UNKNOWN', () => {
    const msg = sealMessage(keyFor('aes-256-gcm', 'k1'), Buffer.from('x'));
    assert.throws(() => openMessage(keyFor('aes-256-gcm', 'k2'), msg), hasCode('GH_CRYPTO_KEY_UNKNOWN'));
  });

  test('algorithm confusion: a header naming another algorithm than the key is refused', () => {
    const key = keyFor('aes-256-gcm', 'k1');
    const msg = sealMessage(key, Buffer.from('x'));
    const realg = Buffer.from(msg);
    realg[4] = 2;
    assert.throws(() => openMessage(key, realg), hasCode('GH_CRYPTO_DECRYPT_FAILED'));
  });

  test('malformed headers are GH_CRYPTO_MALFORMED', () => {
    const key = keyFor('aes-256-gcm', 'k1');
    const msg = sealMessage(key, Buffer.from('payload'));
    const cases: Buffer[] = [
      Buffer.alloc(0),
      Buffer.from('GH'),
      Buffer.from('XYZ\x01\x01\x02k1'),
      (() => { const b = Buffer.from(msg); b[4] = 9; return b; })(),
      (() => { const b = Buffer.from(msg); b[5] = 0; return b; })(),
      (() => { const b = Buffer.from(msg); b[5] = 200; return b; })(),
      (() => { const b = Buffer.from(msg); b[6] = 0x20; return b; })(),
      msg.subarray(0, 6 + 2 + 12 + 15),
    ];
    for (const c of cases) assert.throws(() => openMessage(key, c), hasCode('GH_CRYPTO_MALFORMED'), c.toString('hex'));
  });

  test('a truncated message never yields plaintext', () => {
    const key = keyFor('chacha20-poly1305', 'k1');
    const msg = sealMessage(key, randomBytes(100));
    for (let cut = 0; cut < msg.length; cut++) {
      assert.throws(() => openMessage(key, msg.subarray(0, cut)), (e: unknown) => e instanceof GatehouseError && ['GH_CRYPTO_MALFORMED', 'GH_CRYPTO_DECRYPT_FAILED'].includes(e.code));
    }
  });

  test('key ids are bounded and printable', () => {
    assert.throws(() => sealMessage(keyFor('aes-256-gcm', 'x'.repeat(65)), Buffer.from('a')), TypeError);
    assert.throws(() => sealMessage(keyFor('aes-256-gcm', 'bad id'), Buffer.from('a')), TypeError);
    assert.throws(() => sealMessage(keyFor('aes-256-gcm', ''), Buffer.from('a')), TypeError);
    const ok = keyFor('aes-256-gcm', 'x'.repeat(64));
    assert.equal(parseMessageHeader(sealMessage(ok, Buffer.from('a'))).keyId.length, 64);
  });

  test('property: the parser never throws anything but GH_CRYPTO_MALFORMED and never reads past the buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.boolean(), (bytes, withMagic) => {
        const buf = Buffer.from(bytes);
        if (withMagic && buf.length >= 4) buf.write('GHM\x01', 0, 'latin1');
        try {
          const h = parseMessageHeader(buf);
          assert.ok(h.length + 16 <= buf.length);
          assert.equal(h.nonce.length, h.algorithm === 'xchacha20-poly1305' ? 24 : 12);
        } catch (e) {
          assert.ok(e instanceof GatehouseError && e.code === 'GH_CRYPTO_MALFORMED');
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('property: any single-byte change of a sealed message is detected', () => {
    const key = keyFor('aes-256-gcm', 'k1');
    const msg = sealMessage(key, Buffer.from('some payload bytes'), Buffer.from('aad'));
    fc.assert(
      fc.property(fc.nat({ max: msg.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const bad = Buffer.from(msg);
        bad[i] = (bad[i] as number) ^ x;
        assert.throws(() => openMessage(key, bad, Buffer.from('aad')), GatehouseError);
      }),
      { numRuns: 500 },
    );
  });

  test('interop with the primitive: a hand-built message opens', () => {
    const material = randomBytes(32);
    const nonce = randomBytes(12);
    const header = Buffer.concat([Buffer.from('GHM\x01\x01\x02k9', 'latin1'), nonce]);
    const body = seal('aes-256-gcm', material, nonce, Buffer.from('built by hand'), header);
    const msg = Buffer.concat([header, body]);
    assert.deepEqual(openMessage({ id: 'k9', algorithm: 'aes-256-gcm', material }, msg), Buffer.from('built by hand'));
  });
});
