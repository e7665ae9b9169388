/**
 * With `auth.header.trusted_identity.authenticate`, an identity header from a trusted proxy is an identity. Production
 * refused this with an empty `server.trusted_proxies`, but a list that trusts every peer — `0.0.0.0/0` (the
 * "trust proxy: true" of other frameworks), `::/0`, the IPv4-mapped `::ffff:0:0/96`, two /1 halves — is the same
 * thing spelled differently: any client on the network names its own identity, and production started.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { validateConfig } from '../../src/config/index.js';
import { productionRefusals } from '../../src/gateway/production.js';
import { startRecordingUpstream, startTestGateway } from '../helpers/gateway.js';

const auth = { methods: ['header'], header: { trusted_identity: { enabled: true, authenticate: true, scopes: ['admin'] } } };
const prod = (trusted: string[]) =>
  validateConfig(
    { state_dir: '/tmp/gh-prod-test', server: { trusted_proxies: trusted, tls: { cert_file: '/etc/gh/server.crt', key_file: '/etc/gh/server.key' } }, routes: [{ prefix: '/api', upstream: 'https://api.internal' }], auth },
    { env: { GATEHOUSE_ENV: 'production' } },
  );

test('production refuses trusted proxy identity behind a trusted_proxies list that trusts every address', () => {
  for (const trusted of [['0.0.0.0/0'], ['::/0'], ['::ffff:0:0/96'], ['0.0.0.0/1', '128.0.0.0/1'], ['10.0.0.5', '0.0.0.0/0']]) {
    const problems = productionRefusals(prod(trusted));
    assert.ok(problems.some((p) => /trusted_identity\.authenticate.*trusted_proxies trusts every address/.test(p)), `${trusted.join(', ')}: ${problems.join('\n')}`);
  }
});

test('a real proxy list (private ranges, a CDN range) is still accepted', () => {
  for (const trusted of [['10.0.0.0/8'], ['127.0.0.1', '::1'], ['173.245.48.0/20', '2400:cb00::/32', '2a06:98c0::/29'], ['172.16.0.0/12', '192.168.0.0/16', 'fd00::/8']]) {
    assert.deepEqual(productionRefusals(prod(trusted)), [], trusted.join(', '));
  }
});

test('what the refusal prevents: behind 0.0.0.0/0 a direct client names itself admin with one header', async () => {
  // Development allows it (and warns), so the consequence can be shown on loopback.
  const upstream = await startRecordingUpstream();
  const gw = await startTestGateway({ server: { trusted_proxies: ['0.0.0.0/0'] }, routes: [{ prefix: '/api', upstream: upstream.url, auth_required: true }], auth });
  try {
    const res = await request(`${gw.url}/_gatehouse/approvals`, { headers: { 'tailscale-user-login': 'mallory@example.com' } });
    assert.equal(res.statusCode, 200, await res.body.text());
  } finally {
    await gw.stop();
    await upstream.close();
  }
});
