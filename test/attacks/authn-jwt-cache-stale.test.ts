import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, exportJWK, SignJWT, type JWK } from 'jose';
import type { GatehouseError } from '../../src/core/errors.js';
import { createAuthenticator } from '../../src/authn/index.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from '../authn/helpers.js';
import { startJwksServer } from '../fixtures/authn/jwks-server.js';

type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

const ISSUER = 'https://idp.example';
const reason = (r: { ex: { meta: Record<string, unknown> } }) => (r.ex.meta['auth_failure'] as { reason: string } | undefined)?.reason;
const bearer = (token: string) => exchange({ authorization: `Bearer ${token}` });

async function pair(kid?: string): Promise<{ priv: Key; jwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  return { priv: privateKey, jwk: { ...(await exportJWK(publicKey)), ...(kid !== undefined ? { kid } : {}), alg: 'ES256', use: 'sig' } };
}

function sign(key: Key, kid: string | undefined, nowMs: number): Promise<string> {
  return new SignJWT({ sub: 'svc', scope: 'admin' })
    .setProtectedHeader({ alg: 'ES256', ...(kid !== undefined ? { kid } : {}) })
    .setIssuer(ISSUER).setAudience('gh').setExpirationTime(Math.floor(nowMs / 1000) + 3600).sign(key);
}

async function jwksAuthenticator(t: { after(fn: () => unknown): void }, doc: unknown) {
  const jwks = await startJwksServer(doc);
  t.after(() => jwks.close());
  const dir = tempDir(t);
  const deps = testDeps(dir);
  deps.clock.set(Date.now());
  const authn = await createAuthenticator(authConfig({ methods: ['jwt'], jwt: { issuers: [{ issuer: ISSUER, audience: 'gh', jwks_url: jwks.url }] } }, {}, dir), deps);
  t.after(() => authn.close());
  return { jwks, deps, authn };
}

test('a cached JWT is refused once the IdP replaced the key behind its kid (the cache re-checks the key, not just the kid)', async (t) => {
  const old = await pair('k1');
  const { jwks, deps, authn } = await jwksAuthenticator(t, { keys: [old.jwk] });
  const token = await sign(old.priv, 'k1', deps.clock.now());
  assert.equal((await identifyResult(authn.identify, bearer(token))).error, undefined);
  // The IdP replaces k1's key material (e.g. after a key compromise) and adds k2; a k2 token makes us refetch.
  const replacement = await pair('k1');
  const other = await pair('k2');
  jwks.set({ keys: [replacement.jwk, other.jwk] });
  assert.equal((await identifyResult(authn.identify, bearer(await sign(other.priv, 'k2', deps.clock.now())))).error, undefined);
  const r = await identifyResult(authn.identify, bearer(token));
  assert.equal((r.error as GatehouseError | undefined)?.code, 'GH_TOKEN_INVALID', 'a token signed by the replaced key must not verify from the cache');
  assert.equal(reason(r), 'bad_signature');
});

test('a cached kid-less JWT is refused once the IdP rotated its kid-less key', async (t) => {
  const old = await pair();
  const { jwks, deps, authn } = await jwksAuthenticator(t, { keys: [old.jwk] });
  const token = await sign(old.priv, undefined, deps.clock.now());
  assert.equal((await identifyResult(authn.identify, bearer(token))).error, undefined);
  const next = await pair();
  const other = await pair('k2');
  jwks.set({ keys: [next.jwk, other.jwk] });
  assert.equal((await identifyResult(authn.identify, bearer(await sign(other.priv, 'k2', deps.clock.now())))).error, undefined, 'refetch');
  const r = await identifyResult(authn.identify, bearer(token));
  assert.equal((r.error as GatehouseError | undefined)?.code, 'GH_TOKEN_INVALID', 'the old kid-less key is gone');
  // An unchanged kid-less key keeps its cached tokens across refetches.
  const fresh = await sign(next.priv, undefined, deps.clock.now());
  assert.equal((await identifyResult(authn.identify, bearer(fresh))).error, undefined);
  deps.clock.advance(31_000); // past refetch_cooldown: an unknown kid refetches the (unchanged) JWKS
  const before = jwks.fetches();
  assert.ok((await identifyResult(authn.identify, bearer(await sign(other.priv, 'k9', deps.clock.now())))).error);
  assert.equal(jwks.fetches(), before + 1);
  const again = bearer(fresh);
  assert.equal(authn.identify(again), undefined, 'still a synchronous cache hit');
  assert.equal(again.principal?.id, 'svc');
});

test('max_token_age is enforced on cache hits too: a cached JWT does not outlive its maximum age', async (t) => {
  const secret = 'jwt-secret-0123456789abcdef0123456789';
  const dir = tempDir(t);
  const deps = testDeps(dir);
  deps.clock.set(Date.now());
  const authn = await createAuthenticator(authConfig({ methods: ['jwt'], jwt: { issuers: [{ secret, max_token_age: '1h' }] } }, {}, dir), deps);
  t.after(() => authn.close());
  const now = Math.floor(deps.clock.now() / 1000);
  // Issued exactly max_token_age ago, still far from exp: accepted now (within clock_skew of the limit).
  const token = await new SignJWT({ sub: 'agent' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(now - 3600).setExpirationTime(now + 7200).sign(new TextEncoder().encode(secret));
  assert.equal((await identifyResult(authn.identify, bearer(token))).error, undefined);
  deps.clock.advance(90_000); // now 1h30s old: beyond max_token_age + clock_skew (60s), well within the cache ttl (5m)
  const r = await identifyResult(authn.identify, bearer(token));
  assert.equal((r.error as GatehouseError | undefined)?.code, 'GH_TOKEN_INVALID', 'too old, cached or not');
  assert.equal(reason(r), 'expired');
});
