/**
 * Doctor check metrics.exposure with metrics.tls: it reports the transport (plain HTTP, HTTPS, mTLS) and the guards,
 * warns when a bearer token would cross the network in clear, takes the metrics.tls production refusals, and the
 * certificate checks cover metrics.tls's files.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateDevCertificates, type GeneratedFiles } from '../../src/tls/index.js';
import { checkOf, foreignCa, tempDir, writePair, type PairFiles } from './helpers.js';

const TOKEN = 'metrics-scrape-token-0123456789abcdef';

describe('metrics.exposure', () => {
  const dir = tempDir();
  let pair: PairFiles;
  let clientCa: string;
  let dev: GeneratedFiles;
  before(async () => {
    const ca = await foreignCa();
    pair = await writePair(ca, dir.path, 'metrics', -10, 365);
    clientCa = join(dir.path, 'clients-ca.crt');
    writeFileSync(clientCa, ca.certPem);
    dev = await generateDevCertificates({ outDir: join(dir.path, 'dev') });
  });
  after(() => dir.remove());
  const tls = (more: Record<string, unknown> = {}) => ({ enabled: true, cert_file: pair.cert, key_file: pair.key, ...more });

  test('says which transport serves the scrapes and what guards them', async () => {
    assert.equal((await checkOf('metrics.exposure', {})).detail, 'metrics.enabled is false: no metrics listener');
    assert.equal((await checkOf('metrics.exposure', { metrics: { enabled: true } })).detail, 'metrics on loopback (127.0.0.1:9464) over plain HTTP');
    const https = await checkOf('metrics.exposure', { metrics: { enabled: true, listen: '0.0.0.0:9464', token: TOKEN, allowed_ips: ['10.20.0.0/24'], tls: tls() } });
    assert.equal(https.status, 'pass');
    assert.equal(https.detail, 'metrics on a reachable address (0.0.0.0:9464) over HTTPS, guarded by a bearer token and 1 allowed address ranges');
    const mtls = await checkOf('metrics.exposure', { metrics: { enabled: true, listen: '0.0.0.0:9464', allowed_ips: ['10.20.0.0/24'], tls: tls({ client_auth: 'require', ca_file: clientCa }) } });
    assert.equal(mtls.status, 'pass');
    assert.equal(mtls.detail, 'metrics on a reachable address (0.0.0.0:9464) over HTTPS with client certificates required (mTLS), guarded by client certificates and 1 allowed address ranges');
  });

  test('a bearer token over plain HTTP off loopback warns: it crosses the network in clear', async () => {
    const plain = await checkOf('metrics.exposure', { metrics: { enabled: true, listen: '0.0.0.0:9464', token: TOKEN, allowed_ips: ['10.20.0.0/24'] } });
    assert.equal(plain.status, 'warn');
    assert.equal(plain.detail, 'metrics.token crosses the network in clear: metrics.listen 0.0.0.0:9464 is plain HTTP; enable metrics.tls');
    assert.ok(!plain.detail.includes(TOKEN));
    // On loopback the token never leaves the host.
    assert.equal((await checkOf('metrics.exposure', { metrics: { enabled: true, token: TOKEN } })).status, 'pass');
  });

  test('no guard off loopback fails in production; client_auth require with your CA is a guard', async () => {
    const open = await checkOf('metrics.exposure', { metrics: { enabled: true, listen: '0.0.0.0:9464', allowed_ips: ['10.20.0.0/24'], tls: tls({ client_auth: 'request', ca_file: clientCa }) } });
    assert.equal(open.status, 'fail');
    assert.match(open.detail, /neither metrics\.token nor metrics\.tls\.client_auth: require is set/);
    const noIps = await checkOf('metrics.exposure', { metrics: { enabled: true, listen: '0.0.0.0:9464', tls: tls({ client_auth: 'require', ca_file: clientCa }) } });
    assert.equal(noIps.status, 'warn');
    assert.match(noIps.detail, /answers any client that reaches it holding a client certificate: list your scrapers in metrics\.allowed_ips/);
  });

  test('metrics.tls production refusals land here: a dev certificate fails in production, warns in development', async () => {
    const raw = { metrics: { enabled: true, tls: { enabled: true, cert_file: dev.serverCert, key_file: dev.serverKey } } };
    const prod = await checkOf('metrics.exposure', raw);
    assert.equal(prod.status, 'fail');
    assert.match(prod.detail, /^metrics\.tls\.cert_file is issued by a Gatehouse development CA/);
    const devProfile = await checkOf('metrics.exposure', raw, { profile: 'development' });
    assert.equal(devProfile.status, 'warn');
    assert.match(devProfile.detail, /\(refused in production\)/);
    // Not reported as the main listener's problem.
    const main = await checkOf('tls.dev_ca', { ...raw, server: { tls: { cert_file: pair.cert, key_file: pair.key } } });
    assert.equal(main.status, 'pass');
    assert.doesNotMatch(main.detail, /metrics/);
  });

  test('the certificate checks cover metrics.tls.cert_file and its key', async () => {
    const raw = { metrics: { enabled: true, tls: tls() } };
    assert.match((await checkOf('tls.certificate_expiry', raw)).detail, /metrics\.tls\.cert_file valid until/);
    assert.match((await checkOf('tls.key_match', raw)).detail, /metrics\.tls\.key_file matches metrics\.tls\.cert_file/);
    assert.match((await checkOf('tls.key_permissions', raw)).detail, /metrics\.tls\.key_file/);
  });
});
