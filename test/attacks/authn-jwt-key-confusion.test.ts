import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { exportJWK, importSPKI, SignJWT } from 'jose';
import type { GatehouseError } from '../../src/core/errors.js';
import { createAuthenticator } from '../../src/authn/index.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from '../authn/helpers.js';
import { startJwksServer } from '../fixtures/authn/jwks-server.js';

test('HS256 signed with the RSA public key (key confusion) is refused', async (t) => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const jwk = { ...(await exportJWK(await importSPKI(pem, 'RS256'))), kid: 'k1', alg: 'RS256', use: 'sig' };
  const jwks = await startJwksServer({ keys: [jwk] });
  t.after(() => jwks.close());
  const dir = tempDir(t);
  const deps = testDeps(dir);
  deps.clock.set(Date.now());
  const authn = await createAuthenticator(authConfig({ methods: ['jwt'], jwt: { issuers: [{ issuer: 'https://idp.example', audience: 'gh', jwks_url: jwks.url }] } }, {}, dir), deps);
  t.after(() => authn.close());

  const claims = { sub: 'attacker', scope: 'admin', iss: 'https://idp.example', aud: 'gh' };
  // The genuine RS256 token verifies: the issuer is set up correctly.
  const genuine = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setExpirationTime('5m').sign(privateKey);
  assert.equal((await identifyResult(authn.identify, exchange({ authorization: `Bearer ${genuine}` }))).error, undefined);

  // The attack: HMAC-SHA256 keyed with the public key bytes (PEM, DER, JWK n) anyone can download.
  const keys = [Buffer.from(pem), publicKey.export({ type: 'spki', format: 'der' }), Buffer.from(jwk.n as string, 'base64url')];
  for (const key of keys) {
    const head = Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'k1' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ ...claims, exp: Math.floor(Date.now() / 1000) + 300 })).toString('base64url');
    const sig = createHmac('sha256', key).update(`${head}.${body}`).digest('base64url');
    const r = await identifyResult(authn.identify, exchange({ authorization: `Bearer ${head}.${body}.${sig}` }));
    assert.equal((r.error as GatehouseError).code, 'GH_TOKEN_INVALID');
    assert.equal((r.ex.meta['auth_failure'] as { reason: string }).reason, 'alg_not_allowed');
  }
});

test('configuration refuses HS* algorithms for an issuer whose keys come from a JWKS', () => {
  assert.throws(
    () => authConfig({ methods: ['jwt'], jwt: { issuers: [{ issuer: 'https://idp.example', audience: 'gh', jwks_url: 'https://idp.example/jwks', algorithms: ['RS256', 'HS256'] }] } }),
    /key confusion/,
  );
});

test('a JWKS that publishes a symmetric (oct) or private key member is not used for verification', async (t) => {
  const secret = Buffer.from('an-oct-key-in-the-jwks-0123456789');
  const jwks = await startJwksServer({ keys: [{ kty: 'oct', k: secret.toString('base64url'), kid: 'k1', alg: 'HS256' }] });
  t.after(() => jwks.close());
  const dir = tempDir(t);
  const deps = testDeps(dir);
  deps.clock.set(Date.now());
  const authn = await createAuthenticator(authConfig({ methods: ['jwt'], jwt: { issuers: [{ issuer: 'https://idp.example', audience: 'gh', jwks_url: jwks.url, algorithms: ['RS256'] }] } }, {}, dir), deps);
  t.after(() => authn.close());
  const head = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'k1' })).toString('base64url');
  const body = Buffer.from(JSON.stringify({ sub: 'x', iss: 'https://idp.example', aud: 'gh', exp: Math.floor(Date.now() / 1000) + 300 })).toString('base64url');
  const r = await identifyResult(authn.identify, exchange({ authorization: `Bearer ${head}.${body}.${createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url')}` }));
  assert.equal((r.ex.meta['auth_failure'] as { reason: string }).reason, 'unknown_kid');
});
