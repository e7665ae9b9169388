/**
 * Attack: impersonate any user at one upstream with identity headers captured at another. The signature binds the
 * method and the request id, not the route or the upstream, and docs/gateway.md's example (one `sign:` secret) is
 * naturally repeated on every route. A low-trust upstream behind route A (or whoever reads its plain-http traffic)
 * then replays a caller's signed headers to the upstream behind route B, with any path and body, within five
 * minutes; B's replay cache has never seen that request id.
 * Expected: headers signed for one audience (the route) do not verify for another; the gateway binds the route name;
 * and doctor warns when one key signs for different upstreams.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { identitySignatureHeader, upstreamIdentityHeaders, verifyIdentityHeaders } from '../../src/authn/index.js';
import type { Principal } from '../../src/core/types.js';
import { withSecretsGateway } from '../helpers/secrets-gateway.js';
import { check, config, doctor } from '../doctor/helpers.js';

const KEY = 'fake-identity-signing-key-0123456789abcdef';
const NOW = Date.parse('2031-06-01T12:00:00Z');

test('identity headers signed for one audience do not verify for another (library)', () => {
  const p = { id: 'ops-admin', type: 'user', method: 'jwt', tenant: 'acme', scopes: ['admin'] } as unknown as Principal;
  const signature = identitySignatureHeader(p, { id: 'req-9', method: 'POST', target: '/invoices' }, { prefix: 'X-Gatehouse-', key: Buffer.from(KEY), nowMs: NOW, audience: 'billing' });
  const signedForBilling = { ...Object.fromEntries([...upstreamIdentityHeaders(p, { prefix: 'X-Gatehouse-' }), signature]), 'x-request-id': 'req-9' };
  assert.equal(verifyIdentityHeaders(signedForBilling, Buffer.from(KEY), { method: 'POST', target: '/invoices', nowMs: NOW, audience: 'billing' }).subject, 'ops-admin');
  assert.throws(() => verifyIdentityHeaders(signedForBilling, Buffer.from(KEY), { method: 'POST', target: '/invoices', nowMs: NOW, audience: 'admin-api' }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' });
  // Without an audience on one side only, nothing verifies either (no silent downgrade to the unbound form).
  assert.throws(() => verifyIdentityHeaders(signedForBilling, Buffer.from(KEY), { method: 'POST', target: '/invoices', nowMs: NOW }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' });
});

test('through the gateway: headers captured behind route "billing" do not verify at the upstream of route "admin-api" (same key)', async () => {
  await withSecretsGateway({
    prefix: 'gh-attack-identity-replay-',
    files: { identity_key: KEY },
    routes: (url) => [
      { name: 'billing', prefix: '/billing', upstream: url, identity_headers: { sign: 'file:identity_key' } },
      { name: 'admin-api', prefix: '/admin-api', upstream: url, identity_headers: { sign: 'file:identity_key' } },
    ],
  }, async ({ url, token, upstream }) => {
    const res = await request(`${url}/billing/invoices`, { method: 'POST', body: '{}', headers: { authorization: `Bearer ${token}` } });
    await res.body.text();
    assert.equal(res.statusCode, 200);
    const captured = upstream.requests.at(-1)?.headers ?? {};
    // What the billing upstream checks passes; the admin upstream, replayed to, must refuse.
    assert.equal(verifyIdentityHeaders(captured, Buffer.from(KEY), { method: 'POST', target: '/invoices', audience: 'billing' }).subject, 'ci-agent');
    assert.throws(() => verifyIdentityHeaders(captured, Buffer.from(KEY), { method: 'POST', target: '/invoices', audience: 'admin-api' }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' });
  });
});

test('doctor: one identity signing key and one audience for routes to different upstreams is a warning; each route\'s own audience (the default) passes', async () => {
  const routes = (audience?: string) => [
    { name: 'billing', prefix: '/billing', upstream: 'https://billing.internal.example', identity_headers: { sign: 'secret:identity_key', ...(audience ? { audience } : {}) } },
    { name: 'admin-api', prefix: '/admin-api', upstream: 'https://admin.internal.example', identity_headers: { sign: 'secret:identity_key', ...(audience ? { audience } : {}) } },
  ];
  const shared = check(await doctor(config({ routes: routes('internal') })), 'routes.identity_signed');
  assert.equal(shared.status, 'warn', shared.detail);
  assert.match(shared.detail, /billing.*admin-api.*same key and audience/);
  assert.equal(check(await doctor(config({ routes: routes() })), 'routes.identity_signed').status, 'pass');
});
