/**
 * RFC 8725 §3.11 explicit typing: an IdP signs its ID tokens and its access tokens with the same key, and an ID token
 * issued to a client whose id equals the gateway's audience carries the same iss and aud. Without a `typ` check the
 * gateway takes it as an access token. With `types: [at+jwt]` (RFC 9068) only access tokens pass. A real OpenID
 * provider (oidc-provider) issues the access token; the ID-token-shaped JWT is signed with that provider's own key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, decodeProtectedHeader, importJWK } from 'jose';
import type { GatehouseError } from '../../src/core/errors.js';
import { exchange, identifyResult, jwtAuthenticator } from '../authn/helpers.js';
import { AUDIENCE, signingJwk, startProvider } from '../helpers/oidc.js';

const bearer = (token: string) => exchange({ authorization: `Bearer ${token}` });

test('with types: [at+jwt] the provider\'s access token passes and an ID token of the same issuer and audience does not', async (t) => {
  const op = await startProvider();
  t.after(() => op.close());
  const jwk = await signingJwk('k1');
  op.configure([jwk]);
  const access = await op.token();
  assert.equal(decodeProtectedHeader(access).typ, 'at+jwt', 'oidc-provider types its JWT access tokens (RFC 9068)');
  const key = await importJWK(jwk, 'ES256');
  const now = Math.floor(Date.now() / 1000);
  const idToken = await new SignJWT({ sub: 'ops-agent', nonce: 'n-0S6_WzA2Mj', auth_time: now, tenant: 'acme', scope: 'admin' })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'JWT' })
    .setIssuer(op.issuer)
    .setAudience(AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .sign(key);

  // The control: without explicit typing the ID token is an identity like any other.
  const open = await jwtAuthenticator(t, { issuer: op.issuer, audience: AUDIENCE, tenant_claim: 'tenant' });
  assert.equal((await identifyResult(open.authn.identify, bearer(idToken))).error, undefined);

  const typed = await jwtAuthenticator(t, { issuer: op.issuer, audience: AUDIENCE, tenant_claim: 'tenant', types: ['application/AT+JWT'] });
  const ok = await identifyResult(typed.authn.identify, bearer(access));
  assert.equal(ok.error, undefined);
  assert.equal(ok.ex.principal?.id, 'ops-agent');
  for (const token of [idToken, await new SignJWT({ sub: 'ops-agent', tenant: 'acme' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(op.issuer).setAudience(AUDIENCE).setExpirationTime(now + 300).sign(key)]) {
    const r = await identifyResult(typed.authn.identify, bearer(token));
    assert.equal((r.error as GatehouseError).code, 'GH_TOKEN_INVALID');
    assert.equal((r.ex.meta['auth_failure'] as { reason: string }).reason, 'wrong_type');
  }
});
