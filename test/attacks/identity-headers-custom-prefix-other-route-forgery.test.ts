/**
 * Attack: forge unsigned identity headers with a custom prefix by sending them on another route to the same service.
 * Route "api" tells its upstream who called in X-Auth-* (unsigned: the service listens on loopback, which docs and
 * doctor call enough). The gateway drops a client's X-Auth-* only on "api"; on route "status", in front of the same
 * service, a client's X-Auth-Subject / X-Auth-Scopes travel unchanged, and the service believes them.
 * Expected: the names of every route's identity headers are dropped from client requests on every route (as
 * X-Gatehouse-* already is), underscore twins included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { withSecretsGateway } from '../helpers/secrets-gateway.js';

test('a client\'s X-Auth-Subject sent on another route to the same upstream never arrives', async () => {
  await withSecretsGateway({
    prefix: 'gh-attack-identity-prefix-',
    routes: (url) => [
      { name: 'api', prefix: '/api', upstream: url, identity_headers: { prefix: 'X-Auth-' } },
      { name: 'status', prefix: '/status', upstream: url },
    ],
  }, async ({ url, token, upstream }) => {
    const forged = { 'X-Auth-Subject': 'ops-admin', 'X-Auth-Scopes': 'admin', 'X-Auth-Principal-Type': 'user', X_Auth_Tenant: 'other-tenant' };
    const res = await request(`${url}/status/health`, { headers: { authorization: `Bearer ${token}`, ...forged } });
    await res.body.text();
    assert.equal(res.statusCode, 200);
    const seen = upstream.requests.at(-1)?.headers ?? {};
    const arrived = Object.keys(seen).filter((k) => /^x[-_]auth[-_]/.test(k));
    assert.deepEqual(arrived, [], `forged identity headers reached the upstream: ${arrived.join(', ')}`);
  });
});
