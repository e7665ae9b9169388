import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import type { GatehouseError } from '../../src/core/errors.js';
import { createAuthenticator, openTokenService, revocationTarget, revokeTokenId } from '../../src/authn/index.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from '../authn/helpers.js';
import { until } from '../helpers/until.js';

const reason = (r: { ex: { meta: Record<string, unknown> } }) => (r.ex.meta['auth_failure'] as { reason: string } | undefined)?.reason;

test('a revoked token is refused, including a cached one revoked elsewhere (shared store)', async (t) => {
  const dir = tempDir(t);
  const deps = testDeps(dir);
  const authn = await createAuthenticator(authConfig({ methods: ['token'] }, {}, dir), deps);
  t.after(() => authn.close());
  const { token, claims } = await authn.tokens!.mint({ agent: 'ops-automation', scopes: 'admin', ttlMs: 3_600_000 });
  assert.equal((await identifyResult(authn.identify, exchange({ authorization: `Bearer ${token}` }))).error, undefined);
  // Revoked by another process: straight into the store, not through this authenticator.
  await revokeTokenId(deps.store, claims.jti, { now: deps.clock.now(), exp: claims.exp });
  await until('the revocation to be noticed', async () => reason(await identifyResult(authn.identify, exchange({ authorization: `Bearer ${token}` }))) === 'revoked');
});

test('a revoked JWT (by jti) is refused', async (t) => {
  const secret = 'shared-jwt-secret-0123456789abcdef';
  const dir = tempDir(t);
  const deps = testDeps(dir);
  deps.clock.set(Date.now());
  const authn = await createAuthenticator(authConfig({ methods: ['jwt'], jwt: { issuers: [{ secret }] } }, {}, dir), deps);
  t.after(() => authn.close());
  const jwt = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'HS256' }).setJti('jwt-id-0000001').setExpirationTime('5m').sign(new TextEncoder().encode(secret));
  assert.equal((await identifyResult(authn.identify, exchange({ authorization: `Bearer ${jwt}` }))).error, undefined);
  await revokeTokenId(deps.store, 'jwt-id-0000001', { now: deps.clock.now() });
  await until('the revocation to be noticed', async () => reason(await identifyResult(authn.identify, exchange({ authorization: `Bearer ${jwt}` }))) === 'revoked');
});

test('a JWT whose jti is not Gatehouse-shaped (urn:uuid:…, short) can be revoked: by that jti when id-shaped, else given whole', async (t) => {
  const secret = 'shared-jwt-secret-0123456789abcdef';
  const dir = tempDir(t);
  const deps = testDeps(dir);
  deps.clock.set(Date.now());
  const authn = await createAuthenticator(authConfig({ methods: ['jwt'], jwt: { issuers: [{ secret }] } }, {}, dir), deps);
  t.after(() => authn.close());
  for (const jti of ['urn:uuid:6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b', '6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b', 'j1', `x.${'y'.repeat(300)}`]) {
    const jwt = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'HS256' }).setJti(jti).setExpirationTime('5m').sign(new TextEncoder().encode(secret));
    assert.equal((await identifyResult(authn.identify, exchange({ authorization: `Bearer ${jwt}` }))).error, undefined);
    // A bare id is taken only in the shape of one (revoke-by-value-leak.test.ts); any other jti by giving the JWT whole.
    const idShaped = jti.startsWith('urn:uuid:') || /^[A-Za-z0-9_-]{8,64}$/.test(jti);
    if (!idShaped) assert.throws(() => revocationTarget(jti), (e: GatehouseError) => e.code === 'GH_USAGE' && !e.message.includes(jti));
    const target = revocationTarget(idShaped ? jti : jwt);
    assert.equal(target.jti, jti);
    await revokeTokenId(deps.store, target.jti, { now: deps.clock.now() });
    await until('the revocation to be noticed', async () => reason(await identifyResult(authn.identify, exchange({ authorization: `Bearer ${jwt}` }))) === 'revoked');
  }
  // Refused as a bare id: what is not shaped like one (control characters, spaces, dots, under 8 or over 64 characters).
  for (const bad of ['a\nb', 'z'.repeat(513), '', 'z'.repeat(65), 'short', 'opaque.token.value', 'has space-in-it']) assert.throws(() => revocationTarget(bad), (e: GatehouseError) => e.code === 'GH_USAGE');
});

test('library: a token revoked through openTokenService is refused by the same service\'s verify (no watcher given)', async (t) => {
  const dir = tempDir(t);
  const deps = testDeps(dir);
  // The documented library use: openTokenService with a store, no RevocationWatcher.
  const tokens = openTokenService(authConfig({ methods: ['token'] }, {}, dir), { stateDir: dir, store: deps.store, clock: deps.clock });
  const { token, claims } = await tokens.mint({ agent: 'ops-automation', scopes: 'admin', ttlMs: 3_600_000 });
  assert.equal(tokens.verify(token).claims.jti, claims.jti);
  await tokens.revoke(claims.jti);
  assert.throws(() => tokens.verify(token), (e: GatehouseError) => e.code === 'GH_TOKEN_REVOKED');
  // Revoked by value too, before the token was ever verified.
  const second = await tokens.mint({ agent: 'ops-automation', scopes: 'readonly', ttlMs: 60_000 });
  await tokens.revoke(second.token);
  assert.throws(() => tokens.verify(second.token), (e: GatehouseError) => e.code === 'GH_TOKEN_REVOKED');
});
