/**
 * Fernet's ttlSeconds is the only thing that expires a token. A TTL of NaN, Infinity or a negative or fractional
 * number (a config value parsed wrongly, `Number('1h')`) made the age check `seconds + ttl < now` false forever: a
 * token ten years old still opened (the reviewer's poc/fernet.ts). Caller misuse throws TypeError (house style).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { GatehouseError } from '../../src/core/errors.js';
import { Fernet, generateFernetKey } from '../../src/crypto/fernet.js';

test('a TTL that is not a non-negative safe integer is refused (TypeError), never taken as "no expiry"', () => {
  const clock = new ManualClock(1_700_000_000_000);
  const f = new Fernet(generateFernetKey(), { clock });
  const token = f.encrypt('x');
  clock.advance(10 * 365 * 86_400_000);
  for (const ttl of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -5, 1.5, 2 ** 53, Number('1h')]) {
    assert.throws(() => f.decrypt(token, { ttlSeconds: ttl }), TypeError, `ttl ${ttl}`);
  }
  assert.throws(() => f.decrypt(token, { ttlSeconds: '60' as unknown as number }), TypeError);
  assert.throws(() => f.decrypt(token, { ttlSeconds: 60 }), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_CRYPTO_EXPIRED');
});

test('valid TTLs keep working: 0 expires a token after its second, a long TTL keeps it', () => {
  const clock = new ManualClock(1_700_000_000_000);
  const f = new Fernet(generateFernetKey(), { clock });
  const token = f.encrypt('x');
  assert.equal(f.decrypt(token, { ttlSeconds: 0 }).toString(), 'x');
  clock.advance(2_000);
  assert.throws(() => f.decrypt(token, { ttlSeconds: 0 }), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_CRYPTO_EXPIRED');
  assert.equal(f.decrypt(token, { ttlSeconds: Number.MAX_SAFE_INTEGER - 2_000_000_000 }).toString(), 'x');
});
