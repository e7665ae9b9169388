/**
 * metrics.tls: server.tls's closed schema with TLS off by default, file fields named by their metrics.tls path, and
 * what production refuses: off loopback a token or client_auth require (mTLS) must guard the port, and an enabled
 * block is judged as server.tls is (dev CA, legacy TLS, a client CA missing), each refusal naming metrics.tls.*.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, validateConfig, type GatehouseConfig } from '../../src/config/index.js';
import { assertProductionReady, productionRefusals } from '../../src/gateway/production.js';
import { generateDevCertificates, type GeneratedFiles } from '../../src/tls/index.js';
import { foreignCa, tempDir, writePair, type PairFiles } from '../doctor/helpers.js';
import { configRefusal, TEST_ENV } from './helpers.js';

const TOKEN = 'metrics-scrape-token-0123456789abcdef';
const cfg = (metrics: Record<string, unknown>): GatehouseConfig => validateConfig({ metrics }, { env: { GATEHOUSE_ENV: 'production' } });
const refused = (metrics: Record<string, unknown>): string[] => productionRefusals(cfg(metrics)).filter((p) => p.startsWith('metrics.'));

describe('the metrics.tls block', () => {
  test('server.tls\'s fields and defaults, but off by default', () => {
    const c = validateConfig({}, { env: {} });
    assert.equal(c.metrics.tls.enabled, false);
    assert.equal(c.server.tls.enabled, true);
    assert.deepEqual({ ...c.metrics.tls, enabled: true }, c.server.tls);
    const on = validateConfig({ metrics: { tls: { enabled: true, client_auth: 'require', mtls_allowed_common_names: ['prometheus'] } } }, { env: {} });
    assert.equal(on.metrics.tls.client_auth, 'require');
    assert.deepEqual(on.metrics.tls.mtls_allowed_common_names, ['prometheus']);
  });

  test('an unknown key or a bad value is a config error naming the metrics.tls path', () => {
    for (const [tls, path] of [
      [{ enabeld: true }, 'metrics.tls'],
      [{ client_auth: 'always' }, 'metrics.tls.client_auth'],
      [{ min_version: 'ssl3' }, 'metrics.tls.min_version'],
    ] as const) {
      assert.throws(() => validateConfig({ metrics: { tls } }, { env: {} }), (e: { code?: string; message?: string }) => e.code === 'GH_CONFIG_INVALID' && String(e.message).includes(path), JSON.stringify(tls));
    }
  });

  test('a metrics.tls file that does not exist is refused at load, named by its path', async () => {
    const e = await configRefusal('metrics:\n  enabled: true\n  tls:\n    enabled: true\n    cert_file: /nonexistent/gh-metrics.crt\n    key_file: /nonexistent/gh-metrics.key\n');
    assert.ok(e.problems.some((p) => p.startsWith('metrics.tls.cert_file: file does not exist')), e.problems.join('\n'));
    assert.ok(e.problems.every((p) => !p.startsWith('server.tls')));
    // The paths stay paths (never read into the configuration): TLS reloads them.
    const ok = await loadConfig({ text: 'metrics:\n  tls:\n    enabled: false\n', env: TEST_ENV });
    assert.equal(ok.metrics.tls.cert_file, undefined);
  });
});

describe('production and metrics.tls', () => {
  const dir = tempDir('gh-metrics-tls-cfg-');
  let real: PairFiles;
  let realCa: string;
  let dev: GeneratedFiles;
  before(async () => {
    const ca = await foreignCa();
    real = await writePair(ca, dir.path, 'metrics', -1, 365, Date.now());
    realCa = join(dir.path, 'clients-ca.crt');
    writeFileSync(realCa, ca.certPem);
    dev = await generateDevCertificates({ outDir: join(dir.path, 'dev') });
  });
  after(() => dir.remove());
  const tls = (more: Record<string, unknown> = {}) => ({ enabled: true, cert_file: real.cert, key_file: real.key, ...more });

  test('off loopback without a token or required client certificates: refused, naming both ways out', () => {
    const problems = refused({ enabled: true, listen: '0.0.0.0:9464' });
    assert.equal(problems.length, 1);
    assert.match(problems[0] as string, /^metrics\.listen is 0\.0\.0\.0:9464, not loopback, and neither metrics\.token nor metrics\.tls\.client_auth: require is set/);
    // HTTPS alone, or client certificates only requested, guard nothing.
    assert.equal(refused({ enabled: true, listen: '0.0.0.0:9464', tls: tls() }).length, 1);
    assert.equal(refused({ enabled: true, listen: '0.0.0.0:9464', tls: tls({ client_auth: 'request', ca_file: realCa }) }).length, 1);
  });

  test('off loopback, client_auth require with your own CA stands in for the token; so does the token', () => {
    assert.deepEqual(refused({ enabled: true, listen: '0.0.0.0:9464', tls: tls({ client_auth: 'require', ca_file: realCa, mtls_allowed_common_names: ['prometheus'] }) }), []);
    assert.deepEqual(refused({ enabled: true, listen: '0.0.0.0:9464', token: TOKEN, tls: tls() }), []);
    // A token over plain HTTP is not refused (the doctor warns that it crosses the network in clear).
    assert.deepEqual(refused({ enabled: true, listen: '0.0.0.0:9464', token: TOKEN }), []);
  });

  test('an enabled metrics.tls is judged as server.tls is, each refusal naming metrics.tls.*', () => {
    assert.deepEqual(refused({ enabled: true, tls: { enabled: true } }), ['metrics.tls.cert_file/key_file are not set: the generated dev CA is for development only']);
    assert.match(refused({ enabled: true, tls: { enabled: true, cert_file: dev.serverCert, key_file: dev.serverKey } }).join('\n'), /^metrics\.tls\.cert_file is issued by a Gatehouse development CA/);
    const legacy = refused({ enabled: true, tls: tls({ min_version: 'tls11', insecure_allow_legacy_tls: true }) });
    assert.ok(legacy.some((p) => p.startsWith('metrics.tls.min_version is tls11')), legacy.join('\n'));
    assert.ok(legacy.some((p) => p.startsWith('metrics.tls.insecure_allow_legacy_tls is true')), legacy.join('\n'));
    // client_auth require counts as the guard only with a client CA of your own.
    assert.deepEqual(refused({ enabled: true, listen: '0.0.0.0:9464', tls: tls({ client_auth: 'require' }) }), ['metrics.tls.client_auth is require without ca_file: client certificates would chain to the dev CA']);
    assert.match(refused({ enabled: true, tls: tls({ client_auth: 'require', ca_file: dev.caCert }) }).join('\n'), /^metrics\.tls\.ca_file holds a Gatehouse development CA/);
    assert.deepEqual(refused({ enabled: true, tls: tls() }), []);
    // Off, the block is not judged; metrics off, nothing is.
    assert.deepEqual(refused({ enabled: true, tls: { enabled: false, min_version: 'tls10', insecure_allow_legacy_tls: true } }), []);
    assert.deepEqual(refused({ enabled: false, listen: '0.0.0.0:9464', tls: { enabled: true } }), []);
  });

  test('a production start is refused with GH_CONFIG_PRODUCTION_REFUSED naming metrics.tls', () => {
    const c = validateConfig(
      { server: { tls: { cert_file: real.cert, key_file: real.key } }, auth: { methods: ['token'] }, metrics: { enabled: true, tls: { enabled: true } } },
      { env: { GATEHOUSE_ENV: 'production' } },
    );
    assert.throws(() => assertProductionReady(c), (e: { code?: string; problems?: string[] }) => {
      assert.equal(e.code, 'GH_CONFIG_PRODUCTION_REFUSED');
      assert.ok(e.problems?.includes('production: metrics.tls.cert_file/key_file are not set: the generated dev CA is for development only'), String(e.problems));
      return true;
    });
  });
});
