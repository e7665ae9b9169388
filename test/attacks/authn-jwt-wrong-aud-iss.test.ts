import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, exportJWK, SignJWT } from 'jose';
import { createAuthenticator } from '../../src/authn/index.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from '../authn/helpers.js';
import { startJwksServer } from '../fixtures/authn/jwks-server.js';

test('wrong audience and wrong or unknown issuer are refused', async (t) => {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwks = await startJwksServer({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] });
  t.after(() => jwks.close());
  const dir = tempDir(t);
  const deps = testDeps(dir);
  deps.clock.set(Date.now());
  const authn = await createAuthenticator(
    authConfig({ methods: ['jwt'], jwt: { issuers: [{ issuer: 'https://idp.example', audience: ['gatehouse', 'gh'], jwks_url: jwks.url }] } }, {}, dir),
    deps,
  );
  t.after(() => authn.close());
  const sign = (iss: string, aud: string | string[]) =>
    new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(iss).setAudience(aud).setExpirationTime('5m').sign(privateKey);
  const cases: [string, string | string[], string | undefined][] = [
    ['https://idp.example', 'gh', undefined],
    ['https://idp.example', ['other', 'gatehouse'], undefined],
    ['https://idp.example', 'another-service', 'wrong_audience'],
    ['https://idp.example', [], 'wrong_audience'],
    ['https://evil.example', 'gh', 'unknown_issuer'],
    ['https://idp.example/', 'gh', 'unknown_issuer'],
  ];
  for (const [iss, aud, expected] of cases) {
    const r = await identifyResult(authn.identify, exchange({ authorization: `Bearer ${await sign(iss, aud)}` }));
    assert.equal((r.ex.meta['auth_failure'] as { reason: string } | undefined)?.reason, expected, `${iss} ${JSON.stringify(aud)}`);
  }
});

test('a shared-secret issuer with a configured iss refuses tokens naming another issuer', async (t) => {
  const secret = 'shared-jwt-secret-0123456789abcdef';
  const dir = tempDir(t);
  const deps = testDeps(dir);
  deps.clock.set(Date.now());
  const authn = await createAuthenticator(authConfig({ methods: ['jwt'], jwt: { issuers: [{ secret, issuer: 'systemmanager', audience: 'mcp' }] } }, {}, dir), deps);
  t.after(() => authn.close());
  const key = new TextEncoder().encode(secret);
  const good = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('systemmanager').setAudience('mcp').setExpirationTime('5m').sign(key);
  const noIss = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'HS256' }).setAudience('mcp').setExpirationTime('5m').sign(key);
  const wrongAud = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('systemmanager').setAudience('x').setExpirationTime('5m').sign(key);
  assert.equal((await identifyResult(authn.identify, exchange({ authorization: `Bearer ${good}` }))).error, undefined);
  for (const tok of [noIss, wrongAud]) assert.ok((await identifyResult(authn.identify, exchange({ authorization: `Bearer ${tok}` }))).error);
});
