/**
 * server.trusted_proxies that trusts every address (0.0.0.0/0, ::/0 or an equivalent spelling) lets any client set
 * X-Forwarded-For: it picks the source address that lockouts and rate limits count and the audit trail records.
 * Production refused it only when identity headers authenticated; doctor already called it a production failure, and
 * `serve` started anyway. Now production refuses it whatever auth.methods is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, validateConfig } from '../../src/config/index.js';
import { productionRefusals, assertProductionReady } from '../../src/gateway/production.js';
import { runDoctor } from '../../src/doctor/index.js';
import { cli } from '../helpers/cli.js';

const prod = (trusted: string[], profile = 'production') =>
  validateConfig(
    {
      state_dir: '/tmp/gh-prod-test',
      server: { trusted_proxies: trusted, tls: { cert_file: '/etc/gh/server.crt', key_file: '/etc/gh/server.key' } },
      routes: [{ prefix: '/api', upstream: 'https://api.internal' }],
      auth: { methods: ['token'], token: { secret: 'k'.repeat(32) } },
    },
    { env: { GATEHOUSE_ENV: profile } },
  );

const CATCH_ALL = [['0.0.0.0/0'], ['::/0'], ['::ffff:0:0/96'], ['0.0.0.0/1', '128.0.0.0/1'], ['10.0.0.5', '0.0.0.0/0']];

test('production refuses a trusted_proxies list that trusts every address, with token authentication (no header auth)', () => {
  for (const trusted of CATCH_ALL) {
    const problems = productionRefusals(prod(trusted));
    assert.ok(problems.some((p) => /^server\.trusted_proxies trusts every address/.test(p)), `${trusted.join(', ')}: ${problems.join('\n')}`);
    assert.throws(() => assertProductionReady(prod(trusted)), (e: unknown) => e instanceof ConfigError && e.code === 'GH_CONFIG_PRODUCTION_REFUSED');
  }
});

test('the loader refuses it in production and names the setting; development loads it', async () => {
  const text = 'server:\n  trusted_proxies: ["0.0.0.0/0", "::/0"]\n';
  await assert.rejects(loadConfig({ text, env: { GATEHOUSE_HOME: '/tmp/gh-test-home', GATEHOUSE_ENV: 'production' } }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.code, 'GH_CONFIG_PRODUCTION_REFUSED');
    assert.match(e.message, /production: server\.trusted_proxies trusts every address/);
    return true;
  });
  const dev = await loadConfig({ text, env: { GATEHOUSE_HOME: '/tmp/gh-test-home' } });
  assert.deepEqual(dev.server.trusted_proxies, ['0.0.0.0/0', '::/0']);
});

test('real proxy lists stay accepted', () => {
  for (const trusted of [[], ['10.0.0.0/8'], ['127.0.0.1', '::1'], ['173.245.48.0/20', '2400:cb00::/32'], ['172.16.0.0/12', '192.168.0.0/16', 'fd00::/8']]) {
    assert.deepEqual(productionRefusals(prod(trusted)).filter((p) => p.includes('trusted_proxies')), [], trusted.join(', '));
  }
});

test('doctor and serve agree: server.trusted_proxies fails in production, warns "(refused in production)" in development', async () => {
  const failed = (await runDoctor(prod(['0.0.0.0/0']), { env: {} })).checks.find((c) => c.id === 'server.trusted_proxies');
  assert.equal(failed?.status, 'fail');
  assert.match(failed?.detail ?? '', /^server\.trusted_proxies trusts every address/);
  assert.doesNotMatch(failed?.detail ?? '', /;.*trusts every address/, 'reported once');
  const warned = (await runDoctor(prod(['0.0.0.0/0'], 'development'), { env: {} })).checks.find((c) => c.id === 'server.trusted_proxies');
  assert.equal(warned?.status, 'warn');
  assert.match(warned?.detail ?? '', /\(refused in production\)/);
});

test('gatehouse config check in production exits 2 naming server.trusted_proxies', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-xff-'));
  try {
    writeFileSync(join(dir, 'g.yaml'), 'server:\n  trusted_proxies: ["0.0.0.0/0"]\n');
    const r = await cli(['config', 'check', '--config', join(dir, 'g.yaml')], { env: { GATEHOUSE_HOME: dir, GATEHOUSE_ENV: 'production' } });
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stderr, /GH_CONFIG_PRODUCTION_REFUSED: production: server\.trusted_proxies trusts every address/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
