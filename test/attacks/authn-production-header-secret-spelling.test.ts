/**
 * Production refuses short custom-header secrets, but judged them by name (key|token|secret|auth): the same four
 * characters under X-Gateway-Password or X-Client-Code passed, and they were the whole credential of the `header`
 * method. The configured headers together are the credential, so one of them must hold a long value, whatever the
 * headers are called; a short non-secret header beside it (seed 000's X-Tenant-ID) stays allowed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/index.js';
import { productionRefusals } from '../../src/gateway/production.js';

const prod = (headers: Record<string, string>) =>
  validateConfig(
    {
      state_dir: '/tmp/gh-prod-test',
      server: { tls: { cert_file: '/etc/gh/server.crt', key_file: '/etc/gh/server.key' } },
      routes: [{ prefix: '/api', upstream: 'https://api.internal' }],
      auth: { methods: ['header'], header: { headers } },
    },
    { env: { GATEHOUSE_ENV: 'production' } },
  );

test('a short shared secret is refused in production whatever its header is called', () => {
  const cases: Record<string, string>[] = [{ 'X-Gateway-Password': 'hunter2' }, { 'X-Client-Code': '1234' }, { 'X-Passphrase': 'letmein', 'X-Tenant-ID': 'acme' }];
  for (const headers of cases) {
    const problems = productionRefusals(prod(headers));
    assert.ok(problems.some((p) => p.startsWith('auth.header.headers')), `${JSON.stringify(headers)}: ${problems.join('\n')}`);
  }
});

test("seed 000's header pair with a long API key is still accepted", () => {
  assert.deepEqual(productionRefusals(prod({ 'X-API-Key': 'k'.repeat(32), 'X-Tenant-ID': 'acme' })), []);
  assert.deepEqual(productionRefusals(prod({ 'X-Client-Code': 'c'.repeat(40) })), []);
});
