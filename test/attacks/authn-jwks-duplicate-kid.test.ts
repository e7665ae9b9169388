import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, exportJWK, SignJWT } from 'jose';

type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
import { createAuthenticator } from '../../src/authn/index.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from '../authn/helpers.js';
import { startJwksServer } from '../fixtures/authn/jwks-server.js';

test('a JWKS with duplicate kids: tokens naming that kid are refused with either key (fail closed)', async (t) => {
  const honest = await generateKeyPair('ES256');
  const injected = await generateKeyPair('ES256');
  const other = await generateKeyPair('ES256');
  const jwk = async (k: Key, kid: string) => ({ ...(await exportJWK(k)), kid, alg: 'ES256', use: 'sig' });
  const jwks = await startJwksServer({ keys: [await jwk(honest.publicKey, 'dup'), await jwk(injected.publicKey, 'dup'), await jwk(other.publicKey, 'ok')] });
  t.after(() => jwks.close());
  const dir = tempDir(t);
  const deps = testDeps(dir);
  deps.clock.set(Date.now());
  const authn = await createAuthenticator(authConfig({ methods: ['jwt'], jwt: { issuers: [{ issuer: 'https://idp.example', audience: 'gh', jwks_url: jwks.url }] } }, {}, dir), deps);
  t.after(() => authn.close());
  const sign = (key: Key, kid: string) =>
    new SignJWT({ sub: 'x', scope: 'admin' }).setProtectedHeader({ alg: 'ES256', kid }).setIssuer('https://idp.example').setAudience('gh').setExpirationTime('5m').sign(key);
  for (const key of [honest.privateKey, injected.privateKey]) {
    const r = await identifyResult(authn.identify, exchange({ authorization: `Bearer ${await sign(key, 'dup')}` }));
    assert.ok(r.error);
    assert.equal((r.ex.meta['auth_failure'] as { reason: string }).reason, 'jwks_duplicate_kid');
  }
  // Keys with unique kids in the same JWKS keep working.
  assert.equal((await identifyResult(authn.identify, exchange({ authorization: `Bearer ${await sign(other.privateKey, 'ok')}` }))).error, undefined);
  // And a refused duplicate does not cause refetch storms.
  const before = jwks.fetches();
  for (let i = 0; i < 5; i++) await identifyResult(authn.identify, exchange({ authorization: `Bearer ${await sign(honest.privateKey, 'dup')}` }));
  assert.equal(jwks.fetches(), before);
});
