/**
 * `per: token` keys (docs/limits.md: "the credential — the token id (jti), the API key id; other methods fall back to
 * the principal"). A credential_id that names no credential — every trusted-proxy (Tailscale) user carries
 * 'trusted-proxy' — must not put every such user in one allowance, where one of them exhausts it for all. And
 * credential ids of different methods must not meet: a JWT whose jti is "user:alice" is not Basic user alice's credential.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRules, keyOf } from '../../src/limits/index.js';
import { ROUTES, fakeExchange, limitsConfig, principal } from '../limits/helpers.js';

const rule = () => {
  const { pre } = compileRules(limitsConfig({ rates: [{ name: 'per-token', per: 'token', limit: '1/min', burst: 1 }] }), { routeNames: ROUTES });
  return pre[0]!;
};

test('two trusted-proxy users do not share one per-token allowance', () => {
  const r = rule();
  const alice = fakeExchange({ principal: principal('alice@example.com', { method: 'header', credential_id: 'trusted-proxy' }) });
  const bob = fakeExchange({ principal: principal('bob@example.com', { method: 'header', credential_id: 'trusted-proxy' }) });
  assert.notEqual(keyOf(r, alice), keyOf(r, bob));
  // The attack: alice spends the allowance, bob is refused.
  const now = Date.now();
  assert.equal(r.table.take(keyOf(r, alice), now).allowed, true);
  assert.equal(r.table.take(keyOf(r, bob), now).allowed, true, 'bob was refused because alice used "the trusted-proxy token"');
});

test('a JWT whose jti equals a Basic user credential id does not share that user allowance', () => {
  const r = rule();
  const basicAlice = fakeExchange({ principal: principal('alice', { method: 'basic', credential_id: 'user:alice' }) });
  const jwt = fakeExchange({ principal: principal('mallory', { method: 'jwt', credential_id: 'user:alice' }) });
  assert.notEqual(keyOf(r, basicAlice), keyOf(r, jwt));
});
