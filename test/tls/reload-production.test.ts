/**
 * Production refuses, at start, a cert_file issued by a Gatehouse development CA and a client CA (ca_file) holding
 * one (docs/tls.md, "Development CA"). Certificate rotation must not be the way around it: a dev pair copied over
 * the live files later (a debugging session, a wrong directory in a deploy script) is rejected like a bad pair, and
 * the previous one keeps serving.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createServerTls, generateDevCertificates, issueCertificate, loadDevCa, writeFileAtomic, type DevCa, type GeneratedFiles } from '../../src/tls/index.js';
import { memoryLogger, read, tempDir, tlsConfig } from './helpers.js';
// After src/tls: its reflect shim must load before @peculiar/x509.
import * as x509 from '@peculiar/x509';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A CA under a name that has nothing to do with Gatehouse's development CA. */
async function foreignCa(): Promise<DevCa> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=Example Internal CA, O=Example Corp',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 30 * 86_400_000),
    keys,
    signingAlgorithm: ALG,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return loadDevCa(cert.toString('pem'), x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'));
}

describe('certificate rotation in production keeps the development CA out', () => {
  const dir = tempDir();
  const live = join(dir.path, 'live');
  const certFile = join(live, 'server.crt');
  const keyFile = join(live, 'server.key');
  const caFile = join(live, 'clients-ca.crt');
  let ca: DevCa;
  let dev: GeneratedFiles;

  const installProductionPair = async () => {
    const pair = await issueCertificate(ca, { commonName: 'gw.example', usage: 'server', hosts: ['gw.example', '127.0.0.1'] });
    writeFileAtomic(keyFile, pair.keyPem, 0o600);
    writeFileAtomic(certFile, pair.certPem, 0o644);
    writeFileAtomic(caFile, ca.certPem, 0o644);
    return pair;
  };

  before(async () => {
    mkdirSync(live);
    ca = await foreignCa();
    dev = await generateDevCertificates({ outDir: join(dir.path, 'dev') });
  });
  after(() => dir.remove());

  test('a dev-CA-issued pair copied over cert_file/key_file is rejected; the production pair keeps serving', async () => {
    const original = await installProductionPair();
    const logger = memoryLogger();
    const tls = await createServerTls(tlsConfig({ cert_file: certFile, key_file: keyFile, watch: false }), { stateDir: dir.path, logger, profile: 'production' });
    try {
      writeFileAtomic(keyFile, read(dev.serverKey), 0o600);
      writeFileAtomic(certFile, read(dev.serverCert), 0o644);
      const result = tls.reload();
      assert.deepEqual(result, { ok: false, code: 'GH_CONFIG_PRODUCTION_REFUSED' });
      assert.equal(tls.describe().fingerprint256, original.fingerprint256);
      assert.ok(logger.lines.some((l) => l.includes('new TLS certificate rejected') && l.includes('development CA')));
    } finally {
      tls.close();
    }
  });

  test('a dev CA swapped into the client CA file (ca_file) is rejected: its key mints client certificates', async () => {
    const original = await installProductionPair();
    const tls = await createServerTls(tlsConfig({ cert_file: certFile, key_file: keyFile, ca_file: caFile, client_auth: 'require', watch: false }), {
      stateDir: dir.path,
      logger: memoryLogger(),
      profile: 'production',
    });
    try {
      writeFileAtomic(caFile, `${ca.certPem}\n${read(dev.caCert)}`, 0o644);
      assert.deepEqual(tls.reload(), { ok: false, code: 'GH_CONFIG_PRODUCTION_REFUSED' });
      assert.equal(tls.describe().fingerprint256, original.fingerprint256);
    } finally {
      tls.close();
    }
  });

  test('in development the same swap is a normal rotation', async () => {
    await installProductionPair();
    const tls = await createServerTls(tlsConfig({ cert_file: certFile, key_file: keyFile, watch: false }), { stateDir: dir.path, logger: memoryLogger(), profile: 'development' });
    try {
      writeFileAtomic(keyFile, read(dev.serverKey), 0o600);
      writeFileAtomic(certFile, read(dev.serverCert), 0o644);
      const result = tls.reload();
      assert.equal(result.ok, true);
      assert.equal(tls.describe().fingerprint256, dev.serverFingerprint256);
    } finally {
      tls.close();
    }
  });

  test('production refuses a key file others can read, at start and on reload; group-readable (640) only warns', async () => {
    const { chmodSync } = await import('node:fs');
    await installProductionPair();
    chmodSync(keyFile, 0o644);
    const start = createServerTls(tlsConfig({ cert_file: certFile, key_file: keyFile, watch: false }), { stateDir: dir.path, logger: memoryLogger(), profile: 'production' });
    await assert.rejects(start, (e: Error & { code?: string }) => e.code === 'GH_KEY_FILE_PERMISSIONS' && /readable by others/.test(e.message) && !e.message.includes('PRIVATE KEY'));
    chmodSync(keyFile, 0o640);
    const logger = memoryLogger();
    const tls = await createServerTls(tlsConfig({ cert_file: certFile, key_file: keyFile, watch: false }), { stateDir: dir.path, logger, profile: 'production' });
    try {
      assert.ok(logger.lines.some((l) => l.includes('readable by group or others')));
      // A renewal deployed with the wrong mode is rejected like a bad pair; the current one keeps serving.
      const serving = tls.describe().fingerprint256;
      const renewed = await issueCertificate(ca, { commonName: 'gw.example', usage: 'server', hosts: ['gw.example'] });
      writeFileAtomic(keyFile, renewed.keyPem, 0o604);
      writeFileAtomic(certFile, renewed.certPem, 0o644);
      assert.deepEqual(tls.reload(), { ok: false, code: 'GH_KEY_FILE_PERMISSIONS' });
      assert.equal(tls.describe().fingerprint256, serving);
      chmodSync(keyFile, 0o600);
      assert.equal(tls.reload().ok, true);
      assert.equal(tls.describe().fingerprint256, renewed.fingerprint256);
    } finally {
      tls.close();
    }
  });
});
