/**
 * One list: every setting `gatehouse serve` refuses in production (productionRefusals, composed in doctor/ and
 * re-exported by gateway/production.ts) is a failing doctor check, named by its config path.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GatehouseConfig } from '../../src/config/index.js';
import { CHECKS, productionRefusals } from '../../src/doctor/index.js';
import { refusalPath } from '../../src/doctor/refusals.js';
import { productionRefusals as gatewayRefusals, isHttpsUpstream as gatewayIsHttps, assertProductionReady } from '../../src/gateway/production.js';
import { isHttpsUpstream } from '../../src/doctor/index.js';
import { check, config, devCa, doctor, foreignCa, hardened, tempDir, writePair } from './helpers.js';

/** TLS on with every TLS refusal, and every other refusal the configuration, authentication and approvals have. */
const everythingRefused = {
  server: {
    admin_cors_origins: ['*'],
    tls: { min_version: 'tls11', insecure_allow_legacy_tls: true, ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0', client_auth: 'require' },
  },
  demo: { enabled: true },
  routes: [
    { prefix: '/a', upstream: 'https://10.0.0.5', tls: { insecure_skip_verify: true, min_version: 'tls10' } },
    { prefix: '/b', upstream: 'demo:echo', auth_required: false },
  ],
  auth: {
    methods: ['none', 'basic', 'header', 'token', 'jwt'],
    token: { secret: 's'.repeat(20) },
    basic: { users: [{ name: 'ops', password: 'correct-horse-battery' }] },
    jwt: { issuers: [{ issuer: 'http://idp.example', jwks_url: 'http://idp.example/jwks', audience: 'gw' }, { secret: 'j'.repeat(16) }] },
    header: { headers: { 'X-API-Key': 'short' } },
  },
  audit: { enabled: false },
  approval: { webhook: { url: 'http://approvals.example.com/hook', secret: 'w'.repeat(32) } },
};

/** TLS off, a header credential with no long value, identity headers trusted from every address. */
const plaintextAndCatchAll = {
  server: { tls: { enabled: false }, trusted_proxies: ['0.0.0.0/0'] },
  auth: { methods: ['header'], header: { headers: { 'X-Client-Code': '1234' }, trusted_identity: { enabled: true, authenticate: true } } },
};

function assertEveryRefusalFails(cfg: GatehouseConfig, report: Awaited<ReturnType<typeof doctor>>): void {
  const refusals = productionRefusals(cfg);
  for (const message of refusals) {
    const holder = report.checks.find((c) => c.detail.includes(message));
    assert.ok(holder, `no check reports: ${message}`);
    assert.equal(holder.status, 'fail', `${holder.id} reports "${message}" as ${holder.status}`);
  }
}

describe('production refusals as doctor checks', () => {
  const dir = tempDir();
  let devCaFiles: { cert: string; key: string; ca: string };
  before(async () => {
    const ca = await devCa();
    const pair = await writePair(ca, dir.path, 'dev', -1, 200);
    const caFile = join(dir.path, 'dev-ca.crt');
    writeFileSync(caFile, ca.certPem);
    devCaFiles = { ...pair, ca: caFile };
  });
  after(() => dir.remove());

  test('a config full of refused settings: every productionRefusals entry appears as a failing check', async () => {
    const cfg = config(everythingRefused);
    const refusals = productionRefusals(cfg);
    // Every producer contributes: server TLS, upstream TLS, authentication, the config's own, the approval webhook.
    for (const expected of [/^server\.tls\.cert_file/, /^server\.tls\.min_version/, /^server\.tls\.insecure_allow_legacy_tls/, /^server\.tls\.ciphers/, /^server\.tls\.client_auth/, /^routes\[0\]\.tls\.insecure_skip_verify/, /^routes\[0\]\.tls\.min_version/, /^auth\.methods includes "none"/, /^auth\.basic\.users\[0\]\.password/, /^auth\.token\.secret/, /^auth\.jwt\.issuers\[0\]\.issuer/, /^auth\.jwt\.issuers\[0\]\.jwks_url/, /^auth\.jwt\.issuers\[1\]\.secret/, /^auth\.header\.headers\.X-API-Key/, /^routes\[1\]\.upstream is demo/, /^routes\[1\]\.auth_required/, /^server\.admin_cors_origins/, /^demo\.enabled/, /^audit\.enabled/, /^approval\.webhook\.url/]) {
      assert.ok(refusals.some((r) => expected.test(r)), `expected a refusal matching ${expected}:\n${refusals.join('\n')}`);
    }
    assertEveryRefusalFails(cfg, await doctor(cfg));
  });

  test('TLS off, a header credential with no long value and a catch-all proxy list: each refusal fails a check', async () => {
    const cfg = config(plaintextAndCatchAll);
    const refusals = productionRefusals(cfg);
    for (const expected of [/^server\.tls\.enabled is false/, /^auth\.header\.headers: no header/, /^auth\.header\.trusted_identity\.authenticate .* every address/]) {
      assert.ok(refusals.some((r) => expected.test(r)), `expected a refusal matching ${expected}:\n${refusals.join('\n')}`);
    }
    assertEveryRefusalFails(cfg, await doctor(cfg));
  });

  test('a certificate and a client CA from the development CA fail tls.dev_ca and tls.client_ca in production', async () => {
    const cfg = config({ server: { tls: { cert_file: devCaFiles.cert, key_file: devCaFiles.key, ca_file: devCaFiles.ca, client_auth: 'require' } } });
    const report = await doctor(cfg);
    assert.match(check(report, 'tls.dev_ca').detail, /server\.tls\.cert_file is issued by a Gatehouse development CA/);
    assert.equal(check(report, 'tls.dev_ca').status, 'fail');
    assert.match(check(report, 'tls.client_ca').detail, /server\.tls\.ca_file holds a Gatehouse development CA/);
    assert.equal(check(report, 'tls.client_ca').status, 'fail');
    assertEveryRefusalFails(cfg, report);
  });

  test('every refusal known today has a check of its own: none falls through to production.other', async () => {
    for (const raw of [everythingRefused, plaintextAndCatchAll]) {
      const report = await doctor(config(raw));
      const other = check(report, 'production.other');
      assert.equal(other.status, 'pass', other.detail);
    }
  });

  test('a refusal no check claims still fails, under production.other', () => {
    const claimer = CHECKS.find((c) => c.refusals?.test(refusalPath('server.brand_new_option is true: refused')));
    assert.equal(claimer?.id, 'production.other');
    assert.equal(refusalPath('routes[12].tls.insecure_skip_verify is true'), 'routes[].tls.insecure_skip_verify');
  });

  test('in development the same settings are warnings that say production refuses them', async () => {
    const report = await doctor(config(everythingRefused, 'development'));
    assert.equal(report.profile, 'development');
    const demo = check(report, 'demo.disabled');
    assert.equal(demo.status, 'warn');
    assert.match(demo.detail, /demo\.enabled is true.*\(refused in production\)/);
    for (const message of productionRefusals(config(everythingRefused, 'development'))) {
      assert.ok(report.checks.some((c) => c.status === 'warn' && c.detail.includes(`${message} (refused in production)`)), message);
    }
  });

  test('the profile option evaluates a development config as production', async () => {
    const report = await doctor(config(everythingRefused, 'development'), { profile: 'production' });
    assert.equal(report.profile, 'production');
    assert.equal(check(report, 'demo.disabled').status, 'fail');
    assert.equal(check(report, 'profile.production').status, 'pass');
  });

  test('gateway/production.ts re-exports the doctor list, so serve and doctor judge by one', () => {
    assert.equal(gatewayRefusals, productionRefusals);
    assert.equal(gatewayIsHttps, isHttpsUpstream);
    assert.throws(() => assertProductionReady(config(everythingRefused)), (e: unknown) => (e as { code?: string }).code === 'GH_CONFIG_PRODUCTION_REFUSED');
  });

  test('an approval webhook spelt HTTP:// in capitals is still plain http to another host', () => {
    const refusals = productionRefusals(config({ approval: { webhook: { url: 'HTTP://approvals.example.com/hook', secret: 'w'.repeat(32) } } }));
    assert.ok(refusals.some((r) => r.startsWith('approval.webhook.url is plain http')), refusals.join('\n'));
    assert.deepEqual(productionRefusals(config({ approval: { webhook: { url: 'http://127.0.0.1:9/hook', secret: 'w'.repeat(32) } } })).filter((r) => r.startsWith('approval.')), []);
  });

  test('a hardened production config has no refusal, and every refusal check passes', async () => {
    const pair = await writePair(await foreignCa(), dir.path, 'real', -10, 300);
    const cfg = config(hardened(pair));
    assert.deepEqual(productionRefusals(cfg), []);
    const report = await doctor(cfg);
    for (const c of CHECKS.filter((x) => x.refusals)) assert.ok(['pass', 'skip'].includes(check(report, c.id).status), `${c.id}: ${check(report, c.id).detail}`);
    assert.equal(check(report, 'tls.dev_ca').status, 'pass');
  });
});
