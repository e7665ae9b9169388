import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, validateConfig } from '../../src/config/index.js';
import { assertProductionReady, productionRefusals } from '../../src/gateway/production.js';
import { startGateway } from '../../src/gateway/start.js';
import { memoryLogger } from '../helpers/gateway.js';

const prod = (raw: Record<string, unknown>) => validateConfig({ state_dir: '/tmp/gh-prod-test', ...raw }, { env: { GATEHOUSE_ENV: 'production' } });

test('production names every dev-only setting: dev CA, TLS below 1.2, insecure_skip_verify, auth none, wildcard CORS, demo', () => {
  const cfg = prod({
    demo: { enabled: true },
    server: { admin_cors_origins: ['*'], tls: { min_version: 'tls11', insecure_allow_legacy_tls: true } },
    routes: [{ prefix: '/api', upstream: 'https://10.0.0.5', tls: { insecure_skip_verify: true } }],
    auth: { methods: ['none'] },
    approval: { webhook: { url: 'http://approvals.example.com/hook', secret: 'x'.repeat(32) } },
  });
  const text = productionRefusals(cfg).join('\n');
  for (const expected of [/approval\.webhook\.url is plain http/, /dev CA/, /min_version is tls11/, /insecure_allow_legacy_tls/, /routes\[0\]\.tls\.insecure_skip_verify/, /"none"/, /wildcard CORS/, /demo\.enabled/]) {
    assert.match(text, expected);
  }
});

test('an upstream scheme in capitals is still TLS: its route tls block is checked (and used)', () => {
  const cfg = prod({ routes: [{ prefix: '/api', upstream: 'HTTPS://10.0.0.5', tls: { insecure_skip_verify: true } }] });
  assert.match(productionRefusals(cfg).join('\n'), /routes\[0\]\.tls\.insecure_skip_verify/);
});

test('a production-ready config has no refusals', () => {
  const cfg = prod({
    server: { tls: { cert_file: '/etc/gh/server.crt', key_file: '/etc/gh/server.key' } },
    routes: [{ prefix: '/api', upstream: 'https://api.internal' }],
    auth: { methods: ['token'] },
  });
  assert.deepEqual(productionRefusals(cfg), []);
  assert.doesNotThrow(() => assertProductionReady(cfg));
});

test('startGateway refuses to start in production with a dev-only setting, listing them all', async () => {
  const cfg = prod({ auth: { methods: ['none'] }, routes: [{ prefix: '/api', upstream: 'http://127.0.0.1:9' }] });
  await assert.rejects(startGateway(cfg, { logger: memoryLogger(), listen: '127.0.0.1:0' }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.code, 'GH_CONFIG_PRODUCTION_REFUSED');
    assert.ok(e.problems.length >= 2, e.problems.join('\n'));
    assert.ok(e.problems.every((p) => p.startsWith('production: ')));
    return true;
  });
});
