import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { AEAD_ALGORITHMS, MAX_PLAINTEXT_BYTES, nonceLength, open, seal, TAG_BYTES } from '../../src/crypto/aead.js';
import { hkdfSha256, constantTimeEqual, secureRandom } from '../../src/crypto/primitives.js';
import { GatehouseError } from '../../src/core/errors.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const hasCode = (code: string) => (e: unknown) => e instanceof GatehouseError && e.code === code;

const SUNSCREEN = Buffer.from(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  'latin1',
);

describe('published vectors', () => {
  test('RFC 8439 §2.8.2 AEAD_CHACHA20_POLY1305', () => {
    const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
    const nonce = hex('070000004041424344454647');
    const aad = hex('50515253c0c1c2c3c4c5c6c7');
    const ct = hex(`d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
      3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
      92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
      3ff4def08e4b7a9de576d26586cec64b6116`);
    const tag = hex('1ae10b594f09e26a7e902ecbd0600691');
    const sealed = seal('chacha20-poly1305', key, nonce, SUNSCREEN, aad);
    assert.deepEqual(sealed, Buffer.concat([ct, tag]));
    assert.deepEqual(open('chacha20-poly1305', key, nonce, sealed, aad), SUNSCREEN);
  });

  // McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test cases 13–16 (256-bit keys).
  const K15 = hex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308');
  const IV15 = hex('cafebabefacedbaddecaf888');
  const P15 = hex(`d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
    1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255`);
  const C15 = hex(`522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
    8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad`);
  const gcmCases = [
    { n: 13, key: Buffer.alloc(32), iv: Buffer.alloc(12), p: Buffer.alloc(0), a: Buffer.alloc(0), c: Buffer.alloc(0), t: hex('530f8afbc74536b9a963b4f1c4cb738b') },
    { n: 14, key: Buffer.alloc(32), iv: Buffer.alloc(12), p: Buffer.alloc(16), a: Buffer.alloc(0), c: hex('cea7403d4d606b6e074ec5d3baf39d18'), t: hex('d0d1c8a799996bf0265b98b5d48ab919') },
    { n: 15, key: K15, iv: IV15, p: P15, a: Buffer.alloc(0), c: C15, t: hex('b094dac5d93471bdec1a502270e3cc6c') },
    { n: 16, key: K15, iv: IV15, p: P15.subarray(0, 60), a: hex('feedfacedeadbeeffeedfacedeadbeefabaddad2'), c: C15.subarray(0, 60), t: hex('76fc6ece0f4e1768cddf8853bb2d551b') },
  ];
  for (const v of gcmCases) {
    test(`GCM spec test case ${v.n} (AES-256-GCM)`, () => {
      const sealed = seal('aes-256-gcm', v.key, v.iv, v.p, v.a);
      assert.deepEqual(sealed, Buffer.concat([v.c, v.t]));
      assert.deepEqual(open('aes-256-gcm', v.key, v.iv, sealed, v.a), v.p);
    });
  }

  test('draft-irtf-cfrg-xchacha-03 A.3.1 AEAD_XChaCha20_Poly1305', () => {
    const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
    const nonce = hex('404142434445464748494a4b4c4d4e4f5051525354555657');
    const aad = hex('50515253c0c1c2c3c4c5c6c7');
    const ct = hex(`bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
      731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
      2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
      21f9664c97637da9768812f615c68b13b52e`);
    const tag = hex('c0875924c1c7987947deafd8780acf49');
    const sealed = seal('xchacha20-poly1305', key, nonce, SUNSCREEN, aad);
    assert.deepEqual(sealed, Buffer.concat([ct, tag]));
    assert.deepEqual(open('xchacha20-poly1305', key, nonce, sealed, aad), SUNSCREEN);
  });

  const hkdfCases = [
    {
      n: 1,
      ikm: hex('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b'),
      salt: hex('000102030405060708090a0b0c'),
      info: hex('f0f1f2f3f4f5f6f7f8f9'),
      okm: hex('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865'),
    },
    {
      n: 2,
      ikm: Buffer.from(Array.from({ length: 80 }, (_, i) => i)),
      salt: Buffer.from(Array.from({ length: 80 }, (_, i) => 0x60 + i)),
      info: Buffer.from(Array.from({ length: 80 }, (_, i) => 0xb0 + i)),
      okm: hex(`b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c
        59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71
        cc30c58179ec3e87c14c01d5c1f3434f1d87`),
    },
    {
      n: 3,
      ikm: hex('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b'),
      salt: Buffer.alloc(0),
      info: Buffer.alloc(0),
      okm: hex('8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8'),
    },
  ];
  for (const v of hkdfCases) {
    test(`RFC 5869 test case ${v.n} (HKDF-SHA256)`, () => {
      assert.deepEqual(hkdfSha256(v.ikm, v.salt, v.info, v.okm.length), v.okm);
    });
  }
});

describe('negatives, for every algorithm', () => {
  for (const alg of AEAD_ALGORITHMS) {
    const key = randomBytes(32);
    const nonce = randomBytes(nonceLength(alg));
    const aad = Buffer.from('tenant=acme');
    const pt = Buffer.from('the quick brown fox jumps over the lazy dog');
    const sealed = seal(alg, key, nonce, pt, aad);

    test(`${alg}: a wrong key fails`, () => {
      assert.throws(() => open(alg, randomBytes(32), nonce, sealed, aad), hasCode('GH_CRYPTO_DECRYPT_FAILED'));
    });
    test(`${alg}: any flipped bit in ciphertext or tag fails`, () => {
      for (let i = 0; i < sealed.length; i++) {
        const bad = Buffer.from(sealed);
        bad[i] = (bad[i] as number) ^ (1 << (i % 8));
        assert.throws(() => open(alg, key, nonce, bad, aad), hasCode('GH_CRYPTO_DECRYPT_FAILED'), `byte ${i}`);
      }
    });
    test(`${alg}: a flipped bit in the nonce or the AAD fails`, () => {
      const badNonce = Buffer.from(nonce);
      badNonce[0] = (badNonce[0] as number) ^ 1;
      assert.throws(() => open(alg, key, badNonce, sealed, aad), hasCode('GH_CRYPTO_DECRYPT_FAILED'));
      const badAad = Buffer.from(aad);
      badAad[badAad.length - 1] = (badAad[badAad.length - 1] as number) ^ 0x80;
      assert.throws(() => open(alg, key, nonce, sealed, badAad), hasCode('GH_CRYPTO_DECRYPT_FAILED'));
      assert.throws(() => open(alg, key, nonce, sealed), hasCode('GH_CRYPTO_DECRYPT_FAILED'));
    });
    test(`${alg}: truncation fails, below the tag size as malformed`, () => {
      assert.throws(() => open(alg, key, nonce, sealed.subarray(0, sealed.length - 1), aad), hasCode('GH_CRYPTO_DECRYPT_FAILED'));
      assert.throws(() => open(alg, key, nonce, sealed.subarray(1), aad), hasCode('GH_CRYPTO_DECRYPT_FAILED'));
      assert.throws(() => open(alg, key, nonce, sealed.subarray(0, TAG_BYTES - 1), aad), hasCode('GH_CRYPTO_MALFORMED'));
      assert.throws(() => open(alg, key, nonce, Buffer.alloc(0), aad), hasCode('GH_CRYPTO_MALFORMED'));
    });
    test(`${alg}: the empty message round-trips and is only a tag`, () => {
      const empty = seal(alg, key, nonce, Buffer.alloc(0), aad);
      assert.equal(empty.length, TAG_BYTES);
      assert.equal(open(alg, key, nonce, empty, aad).length, 0);
    });
    test(`${alg}: wrong key or nonce sizes are caller errors`, () => {
      assert.throws(() => seal(alg, randomBytes(16), nonce, pt), TypeError);
      assert.throws(() => seal(alg, key, randomBytes(nonceLength(alg) + 1), pt), TypeError);
      assert.throws(() => open(alg, randomBytes(31), nonce, sealed), TypeError);
    });
    test(`${alg}: a plaintext above the maximum is refused before any work`, () => {
      // Virtual memory only: the zero pages are never touched.
      const huge = new Uint8Array(MAX_PLAINTEXT_BYTES + 1);
      assert.throws(() => seal(alg, key, nonce, huge), RangeError);
    });
  }
  test('a 16 MiB message round-trips', () => {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const big = randomBytes(16 * 1024 * 1024);
    assert.deepEqual(open('aes-256-gcm', key, nonce, seal('aes-256-gcm', key, nonce, big)), big);
  });
});

describe('helpers', () => {
  test('constant-time equality compares content, not identity', () => {
    assert.equal(constantTimeEqual('abc', 'abc'), true);
    assert.equal(constantTimeEqual('abc', 'abd'), false);
    assert.equal(constantTimeEqual(Buffer.from('a'), Buffer.from('ab')), false);
  });
  test('secure random returns distinct values of the asked length', () => {
    const a = secureRandom(32);
    const b = secureRandom(32);
    assert.equal(a.length, 32);
    assert.notDeepEqual(a, b);
  });
  test('HKDF refuses lengths outside RFC 5869', () => {
    assert.throws(() => hkdfSha256(Buffer.alloc(32), Buffer.alloc(0), Buffer.alloc(0), 0), RangeError);
    assert.throws(() => hkdfSha256(Buffer.alloc(32), Buffer.alloc(0), Buffer.alloc(0), 8161), RangeError);
  });
});
