import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { ManualClock } from '../../src/core/clock.js';
import { createAuthenticator, ensureTokenSecrets, TokenService } from '../../src/authn/index.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from '../authn/helpers.js';

const reason = (r: { ex: { meta: Record<string, unknown> } }) => (r.ex.meta['auth_failure'] as { reason: string } | undefined)?.reason;

test('expired and not-yet-valid Gatehouse tokens are refused, beyond the 60 s skew', async (t) => {
  const dir = tempDir(t);
  const deps = testDeps(dir);
  const authn = await createAuthenticator(authConfig({ methods: ['token'] }, {}, dir), deps);
  t.after(() => authn.close());
  const { token } = await authn.tokens!.mint({ agent: 'a', scopes: 'readonly', ttlMs: 60_000 });
  const future = new TokenService({ keyring: ensureTokenSecrets(dir), clock: new ManualClock(deps.clock.now() + 120_000) });
  const early = (await future.mint({ agent: 'a', scopes: 'readonly', ttlMs: 60_000 })).token;
  assert.equal(reason(await identifyResult(authn.identify, exchange({ authorization: `Bearer ${early}` }))), 'not_yet_valid');
  deps.clock.advance(60_000 + 60_001);
  assert.equal(reason(await identifyResult(authn.identify, exchange({ authorization: `Bearer ${token}` }))), 'expired');
});

test('expired and not-yet-valid (nbf) JWTs are refused', async (t) => {
  const secret = 'shared-jwt-secret-0123456789abcdef';
  const dir = tempDir(t);
  const deps = testDeps(dir);
  deps.clock.set(Date.now());
  const authn = await createAuthenticator(authConfig({ methods: ['jwt'], jwt: { issuers: [{ secret, clock_skew: '30s' }] } }, {}, dir), deps);
  t.after(() => authn.close());
  const key = new TextEncoder().encode(secret);
  const now = Math.floor(deps.clock.now() / 1000);
  const expired = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(now - 600).setExpirationTime(now - 31).sign(key);
  const notYet = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'HS256' }).setNotBefore(now + 31).setExpirationTime(now + 600).sign(key);
  assert.equal(reason(await identifyResult(authn.identify, exchange({ authorization: `Bearer ${expired}` }))), 'expired');
  assert.equal(reason(await identifyResult(authn.identify, exchange({ authorization: `Bearer ${notYet}` }))), 'not_yet_valid');
  // A cached JWT is refused once it expires.
  const short = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now + 10).sign(key);
  assert.equal((await identifyResult(authn.identify, exchange({ authorization: `Bearer ${short}` }))).error, undefined);
  deps.clock.advance(41_000);
  assert.equal(reason(await identifyResult(authn.identify, exchange({ authorization: `Bearer ${short}` }))), 'expired');
});
