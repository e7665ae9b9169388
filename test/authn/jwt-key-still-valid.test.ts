/**
 * Authenticator.keyStillValid for JWT principals: what the credential watch asks on every sweep of running requests.
 * It reads the issuer's cached JWKS only (never a fetch of its own), keyed by the kid and RFC 7638 thumbprint recorded
 * in the principal at verification. Frozen clock; a loopback JWKS endpoint whose document the tests set.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { createAuthenticator } from '../../src/authn/index.js';
import { fetchJson, jwkThumbprint } from '../../src/authn/jwks.js';
import type { Principal } from '../../src/core/types.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from './helpers.js';
import { startJwksServer } from '../fixtures/authn/jwks-server.js';

type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
const ISSUER = 'https://idp.example';

async function pair(kid?: string, alg: 'ES256' | 'RS256' | 'EdDSA' = 'ES256'): Promise<{ priv: Key; jwk: JWK; privateJwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return {
    priv: privateKey,
    jwk: { ...(await exportJWK(publicKey)), ...(kid !== undefined ? { kid } : {}), alg, use: 'sig' },
    privateJwk: await exportJWK(privateKey),
  };
}

function sign(key: Key, kid: string | undefined, nowMs: number, alg = 'ES256'): Promise<string> {
  return new SignJWT({ sub: 'svc', scope: 'readonly' })
    .setProtectedHeader({ alg, ...(kid !== undefined ? { kid } : {}) })
    .setIssuer(ISSUER).setAudience('gh').setExpirationTime(Math.floor(nowMs / 1000) + 3600).sign(key);
}

async function setup(t: { after(fn: () => unknown): void }, doc: unknown, issuer: Record<string, unknown> = {}) {
  const jwks = await startJwksServer(doc);
  t.after(() => jwks.close());
  const dir = tempDir(t);
  const deps = testDeps(dir);
  deps.clock.set(Date.now());
  const authn = await createAuthenticator(authConfig({ methods: ['jwt'], jwt: { issuers: [{ issuer: ISSUER, audience: 'gh', jwks_url: jwks.url, ...issuer }] } }, {}, dir), deps);
  t.after(() => authn.close());
  const principalOf = async (token: string): Promise<Principal> => {
    const r = await identifyResult(authn.identify, exchange({ authorization: `Bearer ${token}` }));
    assert.equal(r.error, undefined, String(r.error));
    return r.ex.principal as Principal;
  };
  /** An unknown kid makes the gateway refetch (at most once per refetch_cooldown: advance the clock past it first). */
  const refetch = async () => {
    deps.clock.advance(31_000);
    const before = jwks.fetches();
    const other = await pair('trigger');
    await identifyResult(authn.identify, exchange({ authorization: `Bearer ${await sign(other.priv, 'trigger', deps.clock.now())}` }));
    assert.equal(jwks.fetches(), before + 1);
  };
  return { jwks, deps, authn, principalOf, refetch };
}

test('a JWT principal records its issuer, kid and the RFC 7638 thumbprint of the key that verified it; nothing secret', async (t) => {
  for (const alg of ['ES256', 'RS256', 'EdDSA'] as const) {
    const k = await pair(`k-${alg}`, alg);
    const { deps, principalOf } = await setup(t, { keys: [k.jwk] }, { algorithms: [alg] });
    const token = await sign(k.priv, `k-${alg}`, deps.clock.now(), alg);
    const p = await principalOf(token);
    assert.equal(p.attributes['issuer'], ISSUER);
    assert.equal(p.attributes['kid'], `k-${alg}`);
    assert.equal(p.attributes['key_thumbprint'], await calculateJwkThumbprint(k.jwk, 'sha256'), 'the standard thumbprint (jose agrees)');
    assert.equal(jwkThumbprint(k.jwk), jwkThumbprint({ ...k.jwk, alg: 'other', use: 'sig', kid: 'renamed' }), 'only the key material counts');
    const text = JSON.stringify(p.attributes);
    assert.ok(!text.includes(token) && !text.includes(token.split('.')[2] as string), 'no token or signature');
    assert.ok(!text.includes(k.privateJwk.d as string), 'no private key');
  }
});

test('keyStillValid answers from the cached key set: no fetch while it is fresh, however often the sweep asks', async (t) => {
  const k1 = await pair('k1');
  const { jwks, deps, authn, principalOf } = await setup(t, { keys: [k1.jwk] });
  const p = await principalOf(await sign(k1.priv, 'k1', deps.clock.now()));
  const before = jwks.fetches();
  for (let i = 0; i < 1000; i++) assert.equal(authn.keyStillValid(p), true);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(jwks.fetches(), before, 'the sweep never fetches a fresh key set');
});

test('a kid dropped by a successful refresh no longer verifies; the keys kept still do', async (t) => {
  const k1 = await pair('k1');
  const k2 = await pair('k2');
  const { jwks, deps, authn, principalOf, refetch } = await setup(t, { keys: [k1.jwk, k2.jwk] });
  const p1 = await principalOf(await sign(k1.priv, 'k1', deps.clock.now()));
  const p2 = await principalOf(await sign(k2.priv, 'k2', deps.clock.now()));
  jwks.set({ keys: [k2.jwk] });
  assert.equal(authn.keyStillValid(p1), true, 'until the gateway refreshes, it holds the last keys it fetched');
  await refetch();
  assert.equal(authn.keyStillValid(p1), false);
  assert.equal(authn.keyStillValid(p2), true);
});

test('a key replaced under its kid no longer verifies the tokens of the old key; tokens of the new key verify', async (t) => {
  const old = await pair('k1');
  const { jwks, deps, authn, principalOf, refetch } = await setup(t, { keys: [old.jwk] });
  const p = await principalOf(await sign(old.priv, 'k1', deps.clock.now()));
  const replacement = await pair('k1');
  jwks.set({ keys: [replacement.jwk] });
  await refetch();
  assert.equal(authn.keyStillValid(p), false, 'same kid, other key material');
  const fresh = await principalOf(await sign(replacement.priv, 'k1', deps.clock.now()));
  assert.equal(authn.keyStillValid(fresh), true);
  assert.notEqual(fresh.attributes['key_thumbprint'], p.attributes['key_thumbprint']);
});

test('a refresh that fails (IdP down, a document that is not a JWKS) keeps the last known keys: nothing ends', async (t) => {
  const k1 = await pair('k1');
  const { jwks, deps, authn, principalOf, refetch } = await setup(t, { keys: [k1.jwk] });
  const p = await principalOf(await sign(k1.priv, 'k1', deps.clock.now()));
  jwks.set({ error: 'maintenance' });
  await refetch();
  assert.equal(authn.keyStillValid(p), true);
  assert.ok(deps.logger.lines.some((l) => l.includes('authn.jwks_fetch_failed')));
  jwks.set({ keys: [] }); // a successful refresh to an empty set: the IdP holds no key, so none verifies
  await refetch();
  assert.equal(authn.keyStillValid(p), false);
});

test('a kid listed twice after a refresh is ambiguous: its tokens no longer verify (fail closed)', async (t) => {
  const k1 = await pair('k1');
  const twin = await pair('k1');
  const { jwks, deps, authn, principalOf, refetch } = await setup(t, { keys: [k1.jwk] });
  const p = await principalOf(await sign(k1.priv, 'k1', deps.clock.now()));
  jwks.set({ keys: [k1.jwk, twin.jwk] });
  await refetch();
  assert.equal(authn.keyStillValid(p), false);
});

test('retired_key_grace: a key that left the JWKS verifies running requests until the grace ends, then not (no fetch needed)', async (t) => {
  const k1 = await pair('k1');
  const { jwks, deps, authn, principalOf, refetch } = await setup(t, { keys: [k1.jwk] }, { retired_key_grace: '2m' });
  const p = await principalOf(await sign(k1.priv, 'k1', deps.clock.now()));
  jwks.set({ keys: [] });
  await refetch();
  assert.equal(authn.keyStillValid(p), true, 'within the grace');
  deps.clock.advance(119_000);
  assert.equal(authn.keyStillValid(p), true);
  deps.clock.advance(2_000);
  assert.equal(authn.keyStillValid(p), false, 'past the grace');
});

test('a rotated kid-less key no longer verifies the tokens it signed; an unchanged kid-less key still does', async (t) => {
  const gone = await pair();
  const stays = await pair(undefined, 'EdDSA');
  const { jwks, deps, authn, principalOf, refetch } = await setup(t, { keys: [gone.jwk, stays.jwk] });
  const pGone = await principalOf(await sign(gone.priv, undefined, deps.clock.now()));
  const pStays = await principalOf(await sign(stays.priv, undefined, deps.clock.now(), 'EdDSA'));
  assert.equal(pGone.attributes['kid'], undefined);
  jwks.set({ keys: [stays.jwk] });
  await refetch();
  assert.equal(authn.keyStillValid(pGone), false);
  assert.equal(authn.keyStillValid(pStays), true);
});

test('a stale key set is refreshed in the background when the sweep asks (once; the answer stays synchronous)', async (t) => {
  const k1 = await pair('k1');
  const { jwks, deps, authn, principalOf } = await setup(t, { keys: [k1.jwk] }, { cache_max_age: '10m' });
  const p = await principalOf(await sign(k1.priv, 'k1', deps.clock.now()));
  jwks.set({ keys: [] });
  deps.clock.advance(600_000);
  const before = jwks.fetches();
  for (let i = 0; i < 100; i++) assert.equal(authn.keyStillValid(p), true, 'answered from the cache while the refresh runs');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(jwks.fetches(), before + 1, 'one refresh, however many sweeps asked');
  assert.equal(authn.keyStillValid(p), false, 'the refresh dropped the key');
});

test('a failing provider is asked again by the sweep at most once per refetch_cooldown', async (t) => {
  const k1 = await pair('k1');
  const { jwks, deps, authn, principalOf } = await setup(t, { keys: [k1.jwk] }, { cache_max_age: '1m', refetch_cooldown: '30s' });
  const p = await principalOf(await sign(k1.priv, 'k1', deps.clock.now()));
  jwks.set({ error: 'down' });
  deps.clock.advance(60_000);
  const before = jwks.fetches();
  for (let s = 0; s < 20; s++) {
    assert.equal(authn.keyStillValid(p), true);
    await new Promise((r) => setTimeout(r, 5));
    deps.clock.advance(500); // one sweep interval: 20 sweeps are 10 s
  }
  assert.equal(jwks.fetches(), before + 1);
  deps.clock.advance(21_000);
  authn.keyStillValid(p);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(jwks.fetches(), before + 2);
});

test('HS256 issuers and other methods have no key to re-check; a forged JWT principal naming no configured issuer fails closed', async (t) => {
  const secret = 'jwt-secret-0123456789abcdef0123456789';
  const dir = tempDir(t);
  const deps = testDeps(dir);
  deps.clock.set(Date.now());
  const k1 = await pair('k1');
  const jwks = await startJwksServer({ keys: [k1.jwk] });
  t.after(() => jwks.close());
  const authn = await createAuthenticator(authConfig({ methods: ['jwt'], jwt: { issuers: [{ secret }, { issuer: ISSUER, audience: 'gh', jwks_url: jwks.url }] } }, {}, dir), deps);
  t.after(() => authn.close());
  const now = Math.floor(deps.clock.now() / 1000);
  const hs = await new SignJWT({ sub: 'agent' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now + 600).sign(new TextEncoder().encode(secret));
  const r = await identifyResult(authn.identify, exchange({ authorization: `Bearer ${hs}` }));
  const p = r.ex.principal as Principal;
  assert.equal(p.attributes['key_thumbprint'], undefined, 'nothing derived from the secret');
  assert.equal(authn.keyStillValid(p), true);
  const jwksP = (await identifyResult(authn.identify, exchange({ authorization: `Bearer ${await sign(k1.priv, 'k1', deps.clock.now())}` }))).ex.principal as Principal;
  assert.equal(authn.keyStillValid(jwksP), true);
  assert.equal(authn.keyStillValid({ ...jwksP, attributes: { ...jwksP.attributes, issuer: 'https://elsewhere.example' } }), false);
  assert.equal(authn.keyStillValid({ ...jwksP, attributes: { ...jwksP.attributes, key_thumbprint: 'x' } }), false);
  assert.equal(authn.keyStillValid({ ...jwksP, method: 'basic' }), true);
});

test('a JWKS endpoint answering 503 (or a document too large) is a failed fetch, not an uncaught exception that ends the process', async (t) => {
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => void uncaught.push(e);
  // node:test reports uncaught exceptions as failures of the test running; count them instead.
  process.on('uncaughtException', onUncaught);
  t.after(() => process.off('uncaughtException', onUncaught));
  const server = createServer((req, res) => {
    if (req.url === '/big') res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(1024 * 1024) }).end();
    else res.writeHead(503, { 'content-type': 'text/plain' }).end('down for maintenance');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  }));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await assert.rejects(fetchJson(`${base}/jwks`, 2000), /HTTP 503/);
  await assert.rejects(fetchJson(`${base}/big`, 2000), /too large/);
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(uncaught.map((e) => (e as { code?: string }).code), []);
});
