import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, exportJWK, SignJWT } from 'jose';
import { createAuthenticator } from '../../src/authn/index.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from '../authn/helpers.js';
import { startJwksServer } from '../fixtures/authn/jwks-server.js';

test('kid with path traversal or injection characters is refused before any key lookup or fetch', async (t) => {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwks = await startJwksServer({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] });
  t.after(() => jwks.close());
  const dir = tempDir(t);
  const deps = testDeps(dir);
  deps.clock.set(Date.now());
  const authn = await createAuthenticator(authConfig({ methods: ['jwt'], jwt: { issuers: [{ issuer: 'https://idp.example', audience: 'gh', jwks_url: jwks.url, algorithms: ['ES256'] }] } }, {}, dir), deps);
  t.after(() => authn.close());
  const fetches = jwks.fetches();
  const kids = ['../../../../etc/passwd', '..\\..\\secrets', 'k1/../k1', "k1' OR '1'='1", 'k1"; DROP TABLE keys; --', 'k1\u0000', '%2e%2e%2fk1', 'k1\nX-Injected: 1', '$(id)', 'x'.repeat(500)];
  for (const kid of kids) {
    const jwt = await new SignJWT({ sub: 'attacker', scope: 'admin' })
      .setProtectedHeader({ alg: 'ES256', kid })
      .setIssuer('https://idp.example').setAudience('gh').setExpirationTime('5m')
      .sign(privateKey);
    const r = await identifyResult(authn.identify, exchange({ authorization: `Bearer ${jwt}` }));
    assert.ok(r.error, kid);
    assert.equal((r.ex.meta['auth_failure'] as { reason: string }).reason, 'kid_invalid', JSON.stringify(kid));
  }
  assert.equal(jwks.fetches(), fetches, 'a hostile kid must not trigger a JWKS refetch');
  // The honest kid still works.
  const ok = await new SignJWT({ sub: 'svc' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://idp.example').setAudience('gh').setExpirationTime('5m').sign(privateKey);
  assert.equal((await identifyResult(authn.identify, exchange({ authorization: `Bearer ${ok}` }))).error, undefined);
});

test('a Gatehouse token whose kid segment carries traversal characters is malformed', async (t) => {
  const dir = tempDir(t);
  const authn = await createAuthenticator(authConfig({ methods: ['token'] }, {}, dir), testDeps(dir));
  t.after(() => authn.close());
  const { token } = await authn.tokens!.mint({ agent: 'a', scopes: 'readonly', ttlMs: 60_000 });
  const [, , payload, sig] = token.split('.');
  for (const kid of ['..%2f..%2fsecrets', '../x', 'a/b', "k'1"]) {
    const r = await identifyResult(authn.identify, exchange({ authorization: `Bearer gh1.${kid}.${payload}.${sig}` }));
    assert.ok(r.error);
    assert.match((r.ex.meta['auth_failure'] as { reason: string }).reason, /token_syntax|bearer_syntax/);
  }
});
