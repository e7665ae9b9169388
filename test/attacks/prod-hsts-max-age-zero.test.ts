/**
 * `server.tls.hsts.max_age: 0` sends `Strict-Transport-Security: max-age=0`, which tells browsers to delete the HSTS
 * policy they hold (RFC 6797 §6.1.1): worse than sending none. Production accepted it. It is refused now;
 * `hsts.enabled: false` (no header at all) stays allowed and warned (docs/configuration.md says why).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/index.js';
import { productionRefusals } from '../../src/gateway/production.js';
import { runDoctor } from '../../src/doctor/index.js';

const prod = (hsts: Record<string, unknown>, profile = 'production') =>
  validateConfig(
    {
      state_dir: '/tmp/gh-prod-test',
      server: { tls: { cert_file: '/etc/gh/server.crt', key_file: '/etc/gh/server.key', hsts } },
      routes: [{ prefix: '/api', upstream: 'https://api.internal' }],
      auth: { methods: ['token'], token: { secret: 'c'.repeat(32) } },
    },
    { env: { GATEHOUSE_ENV: profile } },
  );

test('production refuses hsts.max_age 0 (and anything under a second, which is sent as max-age=0)', () => {
  for (const max_age of [0, '0s', '500ms']) {
    const problems = productionRefusals(prod({ max_age }));
    assert.ok(problems.some((p) => p.startsWith('server.tls.hsts.max_age is 0: browsers told max-age=0 delete the HSTS policy')), `${max_age}: ${problems.join('\n')}`);
  }
});

test('a real max_age, and HSTS switched off, are not refused', () => {
  assert.deepEqual(productionRefusals(prod({ max_age: '1s' })), []);
  assert.deepEqual(productionRefusals(prod({})), []);
  assert.deepEqual(productionRefusals(prod({ enabled: false, max_age: 0 })), []);
});

test('doctor tls.hsts fails in production, warns in development', async () => {
  const failed = (await runDoctor(prod({ max_age: 0 }), { env: {} })).checks.find((c) => c.id === 'tls.hsts');
  assert.equal(failed?.status, 'fail');
  assert.match(failed?.detail ?? '', /^server\.tls\.hsts\.max_age is 0/);
  const warned = (await runDoctor(prod({ max_age: 0 }, 'development'), { env: {} })).checks.find((c) => c.id === 'tls.hsts');
  assert.equal(warned?.status, 'warn');
  const off = (await runDoctor(prod({ enabled: false }), { env: {} })).checks.find((c) => c.id === 'tls.hsts');
  assert.equal(off?.status, 'warn');
});
