/**
 * auth.token.previous_secrets keep verifying tokens after a rotation. Production held auth.token.secret to 32 bytes
 * but accepted a 16-character previous secret, and a token forged with that short secret verified.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/index.js';
import { productionRefusals } from '../../src/gateway/production.js';
import { runDoctor } from '../../src/doctor/index.js';

const prod = (previous: string[]) =>
  validateConfig(
    {
      state_dir: '/tmp/gh-prod-test',
      server: { tls: { cert_file: '/etc/gh/server.crt', key_file: '/etc/gh/server.key' } },
      routes: [{ prefix: '/api', upstream: 'https://api.internal' }],
      auth: { methods: ['token'], token: { secret: 'c'.repeat(32), previous_secrets: previous } },
    },
    { env: { GATEHOUSE_ENV: 'production' } },
  );

test('production refuses each previous secret shorter than 32 bytes, by index', () => {
  const problems = productionRefusals(prod(['p'.repeat(32), 'changeme-changeme']));
  assert.deepEqual(problems.filter((p) => p.startsWith('auth.token.previous_secrets')), ['auth.token.previous_secrets[1] is shorter than 32 bytes: it still verifies tokens; remove it or use 32 random bytes']);
  // Bytes, not characters: 16 two-byte characters are 32 bytes.
  assert.deepEqual(productionRefusals(prod(['p'.repeat(32), 'é'.repeat(16)])), []);
});

test('doctor reports it under auth.secret_strength, without the secret', async () => {
  const report = await runDoctor(prod(['changeme-changeme']), { env: {} });
  const c = report.checks.find((x) => x.id === 'auth.secret_strength');
  assert.equal(c?.status, 'fail');
  assert.match(c?.detail ?? '', /auth\.token\.previous_secrets\[0\] is shorter than 32 bytes/);
  assert.ok(!JSON.stringify(report).includes('changeme-changeme'));
});
