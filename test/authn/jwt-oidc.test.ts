import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import type { GatehouseError } from '../../src/core/errors.js';
import { exchange, identifyResult, jwtAuthenticator } from './helpers.js';
import { AUDIENCE, signingJwk, startProvider } from '../helpers/oidc.js';


const bearer = (token: string) => exchange({ authorization: `Bearer ${token}` });

describe('jwt method against a real OpenID provider', () => {
  test('client_credentials JWTs verify through OIDC discovery and JWKS: subject, scopes, tenant claim', async (t) => {
    const op = await startProvider();
    t.after(() => op.close());
    op.configure([await signingJwk('k1')]);
    const { authn } = await jwtAuthenticator(t, { issuer: op.issuer, audience: AUDIENCE, tenant_claim: 'tenant', principal_type: 'service' });
    const token = await op.token();
    const { ex, error } = await identifyResult(authn.identify, bearer(token));
    assert.equal(error, undefined);
    assert.equal(ex.principal?.id, 'ops-agent');
    assert.equal(ex.principal?.method, 'jwt');
    assert.equal(ex.principal?.type, 'service');
    assert.deepEqual(ex.principal?.scopes, ['readonly', 'container:read']);
    assert.equal(ex.principal?.tenant, 'acme');
    // Cached: the second verification is synchronous.
    const again = bearer(token);
    assert.equal(authn.identify(again), undefined);
    assert.equal(again.principal?.id, 'ops-agent');
  });

  test('a JWKS URL works without discovery; a wrong audience is refused', async (t) => {
    const op = await startProvider();
    t.after(() => op.close());
    op.configure([await signingJwk('k1')]);
    const { authn } = await jwtAuthenticator(t, { issuer: op.issuer, audience: 'https://someone-else.test', jwks_url: `${op.issuer}/jwks` });
    const r = await identifyResult(authn.identify, bearer(await op.token()));
    assert.equal((r.error as GatehouseError).code, 'GH_TOKEN_INVALID');
    assert.equal((r.ex.meta['auth_failure'] as { reason: string }).reason, 'wrong_audience');
  });

  test('key rotation at the provider: a new kid triggers one refetch; old-kid tokens are refused once the key is gone', async (t) => {
    const op = await startProvider();
    t.after(() => op.close());
    op.configure([await signingJwk('k1')]);
    const { authn, deps } = await jwtAuthenticator(t, { issuer: op.issuer, audience: AUDIENCE, refetch_cooldown: '30s' });
    const oldToken = await op.token();
    const oldToken2 = await op.token();
    assert.equal((await identifyResult(authn.identify, bearer(oldToken))).error, undefined);
    const fetchesBefore = op.jwksFetches();

    op.configure([await signingJwk('k2')]);
    const newToken = await op.token();
    const fresh = await identifyResult(authn.identify, bearer(newToken));
    assert.equal(fresh.error, undefined, 'new kid accepted after a refetch');
    assert.equal(op.jwksFetches(), fetchesBefore + 1);

    // retired_key_grace defaults to 0: k1 left the JWKS, so k1 tokens are refused, cached or not.
    for (const tok of [oldToken, oldToken2]) {
      const r = await identifyResult(authn.identify, bearer(tok));
      assert.equal((r.error as GatehouseError).code, 'GH_TOKEN_INVALID');
      assert.equal((r.ex.meta['auth_failure'] as { reason: string }).reason, 'unknown_kid');
    }

    // Unknown kids do not cause a fetch storm: at most one refetch per cooldown.
    op.configure([await signingJwk('k3')]);
    const k3 = await op.token();
    deps.clock.advance(1000);
    for (let i = 0; i < 5; i++) assert.ok((await identifyResult(authn.identify, bearer(k3))).error, 'inside the cooldown, no refetch');
    assert.equal(op.jwksFetches(), fetchesBefore + 1);
    deps.clock.advance(30_000);
    assert.equal((await identifyResult(authn.identify, bearer(k3))).error, undefined, 'after the cooldown the refetch finds k3');
    assert.equal(op.jwksFetches(), fetchesBefore + 2);
  });

  test('retired_key_grace keeps a rotated-out key verifying for the grace period', async (t) => {
    const op = await startProvider();
    t.after(() => op.close());
    op.configure([await signingJwk('k1')]);
    const { authn, deps } = await jwtAuthenticator(t, { issuer: op.issuer, audience: AUDIENCE, retired_key_grace: '2m' });
    const oldToken = await op.token();
    op.configure([await signingJwk('k2')]);
    assert.equal((await identifyResult(authn.identify, bearer(await op.token()))).error, undefined);
    assert.equal((await identifyResult(authn.identify, bearer(oldToken))).error, undefined, 'k1 within the grace');
    deps.clock.advance(121_000);
    const r = await identifyResult(authn.identify, bearer(oldToken));
    assert.equal((r.ex.meta['auth_failure'] as { reason: string }).reason, 'unknown_kid');
  });

  test('a provider that is down at start does not stop the gateway; tokens are refused until keys arrive', async (t) => {
    const op = await startProvider();
    const issuer = op.issuer;
    await op.close();
    const { authn } = await jwtAuthenticator(t, { issuer, audience: AUDIENCE, fetch_timeout: '1s' });
    const forged = `eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.${Buffer.from(JSON.stringify({ iss: issuer, sub: 'x', aud: AUDIENCE, exp: 9e9 })).toString('base64url')}.c2ln`;
    const r = await identifyResult(authn.identify, bearer(forged));
    assert.equal((r.error as GatehouseError).code, 'GH_TOKEN_INVALID');
  });
});

describe('jwt method with a shared secret (seed 001 SYSTEMMANAGER_JWT_SECRET)', () => {
  const secret = 'jwt-secret-0123456789abcdef0123456789';
  const sign = (claims: Record<string, unknown>, exp = '5m') =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(exp).sign(new TextEncoder().encode(secret));

  test('HS256 tokens: scp array, configured scopes claim, nested tenant claim', async (t) => {
    const { authn } = await jwtAuthenticator(t, { secret, scopes_claim: 'permissions', tenant_claim: 'app_metadata.tenant' });
    const token = await sign({ sub: 'agent-1', permissions: ['container:read', 'bad scope!'], app_metadata: { tenant: 'acme' } });
    const { ex, error } = await identifyResult(authn.identify, bearer(token));
    assert.equal(error, undefined);
    assert.deepEqual(ex.principal?.scopes, ['container:read']);
    assert.equal(ex.principal?.tenant, 'acme');
  });

  test('a configured tenant claim that is missing refuses the token (no principal bound to no tenant); tenant_claim_optional admits it', async (t) => {
    const strict = await jwtAuthenticator(t, { secret, tenant_claim: 'app_metadata.tenant' });
    const token = await sign({ sub: 'new-signup', scope: 'readonly', app_metadata: {} });
    const r = await identifyResult(strict.authn.identify, bearer(token));
    assert.equal((r.error as GatehouseError | undefined)?.code, 'GH_TOKEN_INVALID');
    assert.equal((r.ex.meta['auth_failure'] as { reason: string }).reason, 'tenant_claim_missing');
    assert.equal(r.ex.principal, undefined);
    const lenient = await jwtAuthenticator(t, { secret, tenant_claim: 'app_metadata.tenant', tenant_claim_optional: true });
    const ok = await identifyResult(lenient.authn.identify, bearer(token));
    assert.equal(ok.error, undefined);
    assert.equal(ok.ex.principal?.id, 'new-signup');
    assert.equal(ok.ex.principal?.tenant, undefined);
  });

  test('scope (space-separated) and scp (array) are both read by default', async (t) => {
    const { authn } = await jwtAuthenticator(t, { secret });
    const a = await identifyResult(authn.identify, bearer(await sign({ sub: 'a', scope: 'readonly network:read' })));
    assert.deepEqual(a.ex.principal?.scopes, ['readonly', 'network:read']);
    const b = await identifyResult(authn.identify, bearer(await sign({ sub: 'b', scp: ['container:read'] })));
    assert.deepEqual(b.ex.principal?.scopes, ['container:read']);
  });

  test('a JWT without exp is refused (expiry always enforced)', async (t) => {
    const { authn } = await jwtAuthenticator(t, { secret });
    const token = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().sign(new TextEncoder().encode(secret));
    const r = await identifyResult(authn.identify, bearer(token));
    assert.equal((r.error as GatehouseError).code, 'GH_TOKEN_INVALID');
  });
});
