import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ManualClock } from '../../src/core/clock.js';
import { GatehouseError } from '../../src/core/errors.js';
import { Fernet, generateFernetKey } from '../../src/crypto/fernet.js';

interface Vector {
  desc?: string;
  token: string;
  now: string;
  iv?: number[];
  src?: string;
  ttl_sec?: number;
  secret: string;
}
const load = (name: string): Vector[] => JSON.parse(readFileSync(new URL(`../fixtures/crypto/fernet/${name}`, import.meta.url), 'utf8')) as Vector[];
const clockAt = (iso: string) => new ManualClock(Date.parse(iso));
const isGh = (e: unknown) => e instanceof GatehouseError;

describe('Fernet spec vectors (github.com/fernet/spec)', () => {
  for (const v of load('generate.json')) {
    test(`generate: "${v.src}" at ${v.now} gives the published token`, () => {
      const f = new Fernet(v.secret, { clock: clockAt(v.now) });
      assert.equal(f.encrypt(v.src as string, { iv: Uint8Array.from(v.iv as number[]) }), v.token);
    });
  }
  for (const v of load('verify.json')) {
    test(`verify: the published token opens at ${v.now} with ttl ${v.ttl_sec}s`, () => {
      const f = new Fernet(v.secret, { clock: clockAt(v.now) });
      assert.equal(f.decrypt(v.token, { ttlSeconds: v.ttl_sec as number }).toString('utf8'), v.src);
    });
  }
  for (const v of load('invalid.json')) {
    test(`invalid: ${v.desc}`, () => {
      const f = new Fernet(v.secret, { clock: clockAt(v.now) });
      assert.throws(() => f.decrypt(v.token, { ttlSeconds: v.ttl_sec as number }), isGh);
    });
  }
  test('the invalid vectors fail for their stated reason', () => {
    const byDesc = new Map(load('invalid.json').map((v) => [v.desc, v]));
    const code = (desc: string) => {
      const v = byDesc.get(desc) as Vector;
      try {
        new Fernet(v.secret, { clock: clockAt(v.now) }).decrypt(v.token, { ttlSeconds: v.ttl_sec as number });
      } catch (e) {
        return (e as GatehouseError).code;
      }
      return 'none';
    };
    assert.equal(code('expired TTL'), 'GH_CRYPTO_EXPIRED');
    assert.equal(code('incorrect mac'), 'GH_CRYPTO_DECRYPT_FAILED');
    assert.equal(code('payload padding error'), 'GH_CRYPTO_DECRYPT_FAILED');
    assert.equal(code('far-future TS (unacceptable clock skew)'), 'GH_CRYPTO_DECRYPT_FAILED');
    assert.equal(code('invalid base64'), 'GH_CRYPTO_MALFORMED');
    assert.equal(code('too short'), 'GH_CRYPTO_MALFORMED');
  });
});

describe('Fernet', () => {
  test('generated keys round-trip, TTL on the frozen clock', () => {
    const clock = new ManualClock();
    const f = new Fernet(generateFernetKey(), { clock });
    const token = f.encrypt('api key for user 7');
    assert.equal(f.decrypt(token, { ttlSeconds: 60 }).toString(), 'api key for user 7');
    clock.advance(61_000);
    assert.throws(() => f.decrypt(token, { ttlSeconds: 60 }), (e: unknown) => isGh(e) && (e as GatehouseError).code === 'GH_CRYPTO_EXPIRED');
    assert.equal(f.decrypt(token).toString(), 'api key for user 7', 'no TTL, no expiry');
  });

  test('rotation: the first key encrypts, every key decrypts; a wrong key fails', () => {
    const oldKey = generateFernetKey();
    const old = new Fernet(oldKey).encrypt('x');
    const rotated = new Fernet([generateFernetKey(), oldKey]);
    assert.equal(rotated.decrypt(old).toString(), 'x');
    assert.throws(() => new Fernet(generateFernetKey()).decrypt(old), (e: unknown) => isGh(e) && (e as GatehouseError).code === 'GH_CRYPTO_DECRYPT_FAILED');
  });

  test('invalid keys are GH_CRYPTO_KEY_INVALID', () => {
    assert.throws(() => new Fernet('short'), (e: unknown) => isGh(e) && (e as GatehouseError).code === 'GH_CRYPTO_KEY_INVALID');
  });

  test('interoperates with Python cryptography (a real peer implementation)', (t) => {
    // Availability is checked on its own, so a failing decryption by the peer fails the test instead of skipping it.
    try {
      execFileSync('python3', ['-c', 'import cryptography.fernet'], { stdio: 'ignore' });
    } catch {
      t.skip('python3 with the cryptography package is not installed on this machine');
      return;
    }
    const key = generateFernetKey();
    const token = new Fernet(key).encrypt('from node');
    const out = execFileSync('python3', ['-c', 'import sys;from cryptography.fernet import Fernet;print(Fernet(sys.argv[1].encode()).decrypt(sys.argv[2].encode()).decode());print(Fernet(sys.argv[1].encode()).encrypt(b"from python").decode())', key, token], { encoding: 'utf8' });
    const [fromNode, pyToken] = out.trim().split('\n');
    assert.equal(fromNode, 'from node');
    assert.equal(new Fernet(key).decrypt(pyToken as string).toString(), 'from python');
  });
});
