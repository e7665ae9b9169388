/**
 * Attack: reuse a caller's signed identity headers for another request on the same route. Whoever can read the
 * upstream's traffic (a log shipper, a sidecar, plain http on a shared segment) captures an admin's headers for
 * `GET /svc/reports/summary?month=11` and sends them straight to the upstream for `GET /admin/export-all-users`
 * within the five-minute window. v1 signatures bound the method and the request id but not the path, so the
 * upstream's verifier accepted them; only an upstream that kept a replay cache of request ids refused, and only if the
 * original request reached it first.
 * Expected: the signature binds the request target the upstream receives; any other path or query fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { verifyIdentityHeaders } from '../../src/authn/index.js';
import { withSecretsGateway } from '../helpers/secrets-gateway.js';

const KEY = 'fake-identity-signing-key-0123456789abcdef';

test('identity headers captured on one path do not verify on another path or query of the same route', async () => {
  await withSecretsGateway({
    prefix: 'gh-attack-identity-path-',
    files: { identity_key: KEY },
    routes: (url) => [{ name: 'svc', prefix: '/svc', upstream: url, identity_headers: { sign: 'file:identity_key' } }],
  }, async ({ url, token, upstream }) => {
    const res = await request(`${url}/svc/reports/summary?month=11`, { headers: { authorization: `Bearer ${token}` } });
    await res.body.text();
    assert.equal(res.statusCode, 200);
    const seen = upstream.requests.at(-1);
    assert.ok(seen);
    const captured = seen.headers;
    // The upstream's own check of the real request passes.
    assert.equal(verifyIdentityHeaders(captured, Buffer.from(KEY), { method: 'GET', target: seen.url, audience: 'svc' }).subject, 'ci-agent');
    // Replayed elsewhere on the route, it does not.
    assert.equal(seen.url, '/reports/summary?month=11');
    for (const target of ['/admin/export-all-users', '/reports/summary?month=12', '/reports/summary', '/reports/summary?month=11&all=1']) {
      assert.throws(() => verifyIdentityHeaders(captured, Buffer.from(KEY), { method: 'GET', target, audience: 'svc' }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' }, target);
    }
  });
});
