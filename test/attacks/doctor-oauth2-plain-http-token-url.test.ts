/**
 * Attack: get a configuration past `gatehouse doctor --production --strict` (the CI gate before a deploy) that sends
 * an OAuth client secret over plain http. routes[].upstream_auth.oauth2.token_url and the secure client's
 * security.auth.token_url are refused when they are http off loopback (the gateway does not start; the client is not
 * created), yet doctor reported every route and the client as passing: a green checklist for a configuration that
 * cannot run, whose only fix is the insecure one the operator may reach for.
 * Expected: doctor fails the check in every profile, as the gateway and the client refuse in every profile.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/index.js';
import { createSecureClient } from '../../src/client/index.js';
import { withSecretsGateway } from '../helpers/secrets-gateway.js';
import { check, config, doctor } from '../doctor/helpers.js';

const PLAIN = 'http://auth.example.test/oauth/token';
const route = (upstream: string) => ({
  name: 'inventory', prefix: '/inventory', upstream,
  upstream_auth: { oauth2: { token_url: PLAIN, client_id: 'gatehouse', client_secret: 'file:oauth_secret' } },
});

test('doctor fails a route whose upstream_auth.oauth2.token_url is plain http off loopback (the gateway refuses to start)', async () => {
  await assert.rejects(
    withSecretsGateway({ prefix: 'gh-attack-doctor-oauth-', files: { oauth_secret: 'fake-oauth-client-secret-0123' }, routes: (url) => [route(url)] }, async () => {}),
    { code: 'GH_CONFIG_INVALID' },
  );
  for (const profile of ['production', 'development'] as const) {
    const result = check(await doctor(config({ routes: [route('https://inventory.internal.example')] }, profile)), 'routes.plain_http');
    assert.equal(result.status, 'fail', `${profile}: ${result.status} ${result.detail}`);
    assert.match(result.detail, /routes\[0\]\.upstream_auth\.oauth2\.token_url/);
  }
});

test('doctor fails the secure client whose oauth2 token_url is plain http off loopback (the client refuses it)', async () => {
  const client = { url: 'https://logs.example.test', security: { auth: { type: 'oauth2', client_id: 'agent', client_secret: 'fake-client-secret-0123', token_url: PLAIN } } };
  assert.throws(() => createSecureClient(validateConfig({ client }, { env: {} }).client), { code: 'GH_CONFIG_INVALID' });
  for (const profile of ['production', 'development'] as const) {
    const result = check(await doctor(config({ client }, profile)), 'client.tls');
    assert.equal(result.status, 'fail', `${profile}: ${result.status} ${result.detail}`);
    assert.match(result.detail, /client\.security\.auth\.token_url/);
    assert.ok(!result.detail.includes('fake-client-secret'));
  }
});
