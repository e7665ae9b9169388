import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, exportJWK, SignJWT } from 'jose';
import type { GatehouseError } from '../../src/core/errors.js';
import { createAuthenticator } from '../../src/authn/index.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from '../authn/helpers.js';
import { startJwksServer } from '../fixtures/authn/jwks-server.js';

type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

const ISSUER = 'https://idp.example';
// Expiry from the test's clock (it moves ahead of real time).
const sign = (key: Key, sub: string, nowMs: number) =>
  new SignJWT({ sub }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISSUER).setAudience('gh').setExpirationTime(Math.floor(nowMs / 1000) + 300).sign(key);

async function setup(t: { after(fn: () => unknown): void }, doc: unknown) {
  const jwks = await startJwksServer(doc);
  t.after(() => jwks.close());
  const dir = tempDir(t);
  const deps = testDeps(dir);
  deps.clock.set(Date.now());
  const authn = await createAuthenticator(
    authConfig({ methods: ['jwt'], jwt: { issuers: [{ issuer: ISSUER, audience: 'gh', jwks_url: jwks.url, algorithms: ['ES256'], refetch_cooldown: '30s', cache_max_age: '10m' }] } }, {}, dir),
    deps,
  );
  t.after(() => authn.close());
  return { jwks, deps, authn };
}

test('an IdP whose JWKS keeps failing is not refetched on every request (forged tokens cannot amplify onto the IdP)', async (t) => {
  // A provider answering with something that is not a JWKS (an error page, a 200 from a captive portal, …).
  const { jwks, deps, authn } = await setup(t, { error: 'temporarily unavailable' });
  const attacker = await generateKeyPair('ES256');
  const afterStart = jwks.fetches();
  for (let i = 0; i < 20; i++) {
    deps.clock.advance(100);
    const r = await identifyResult(authn.identify, exchange({ authorization: `Bearer ${await sign(attacker.privateKey, `x${i}`, deps.clock.now())}` }));
    assert.equal((r.error as GatehouseError).code, 'GH_TOKEN_INVALID');
  }
  // Within one refetch_cooldown, a failing provider is asked again at most once, however many tokens arrive.
  assert.ok(jwks.fetches() - afterStart <= 1, `${jwks.fetches() - afterStart} JWKS fetches for 20 forged tokens within one cooldown`);
  // After the cooldown it is tried again, and once the keys are back, tokens verify.
  const honest = await generateKeyPair('ES256');
  jwks.set({ keys: [{ ...(await exportJWK(honest.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] });
  deps.clock.advance(30_000);
  assert.equal((await identifyResult(authn.identify, exchange({ authorization: `Bearer ${await sign(honest.privateKey, 'svc', deps.clock.now())}` }))).error, undefined);
});

test('stale keys and a failing IdP: the routine refetch is retried at most once per cooldown, not once per request', async (t) => {
  const honest = await generateKeyPair('ES256');
  const { jwks, deps, authn } = await setup(t, { keys: [{ ...(await exportJWK(honest.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] });
  assert.equal((await identifyResult(authn.identify, exchange({ authorization: `Bearer ${await sign(honest.privateKey, 'warm', deps.clock.now())}` }))).error, undefined);
  jwks.set({ error: 'down' });
  deps.clock.advance(11 * 60_000); // past cache_max_age: the keys are stale
  const before = jwks.fetches();
  for (let i = 0; i < 10; i++) {
    deps.clock.advance(100);
    // Known kid, keys still usable while stale: honest tokens keep verifying.
    assert.equal((await identifyResult(authn.identify, exchange({ authorization: `Bearer ${await sign(honest.privateKey, `s${i}`, deps.clock.now())}` }))).error, undefined);
    await new Promise((r) => setTimeout(r, 10)); // let the background refetch finish (and fail)
  }
  assert.ok(jwks.fetches() - before <= 1, `${jwks.fetches() - before} JWKS fetches for 10 requests within one cooldown`);
});
