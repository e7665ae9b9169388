import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { MOZILLA_INTERMEDIATE_CIPHERS } from '../../src/config/index.js';
import { ManualClock } from '../../src/core/clock.js';
import type { GatehouseError } from '../../src/core/errors.js';
import { createServerTls, generateDevCertificates, hstsHeader, tlsProductionProblems, type GeneratedFiles } from '../../src/tls/index.js';
import { handshake, memoryLogger, read, startHttps, tempDir, tlsConfig, type RunningHttps } from './helpers.js';

/** Mozilla intermediate names in IANA form, as node's getCipher().standardName reports them. */
const INTERMEDIATE_IANA = new Set([
  'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
  'TLS_DHE_RSA_WITH_AES_128_GCM_SHA256',
  'TLS_DHE_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
]);

describe('server TLS with the generated development CA', () => {
  const dir = tempDir();
  let srv: RunningHttps;
  let ca: string;

  before(async () => {
    srv = await startHttps(tlsConfig(), { stateDir: dir.path });
    ca = read(srv.tls.devCa?.caCertPath as string);
  });
  after(async () => {
    await srv.close();
    dir.remove();
  });

  test('a TLS 1.3 handshake succeeds for a client trusting the dev CA, and negotiates http/1.1 by ALPN', async () => {
    const h = await handshake(srv.port, { ca, ALPNProtocols: ['h2', 'http/1.1'] });
    assert.equal(h.protocol, 'TLSv1.3');
    assert.equal(h.alpn, 'http/1.1');
    assert.equal(h.status, 200);
  });

  test('a TLS 1.2 handshake succeeds with a Mozilla intermediate cipher', async () => {
    const h = await handshake(srv.port, { ca, maxVersion: 'TLSv1.2' });
    assert.equal(h.protocol, 'TLSv1.2');
    assert.ok(INTERMEDIATE_IANA.has(h.cipher), h.cipher);
    assert.equal(h.status, 200);
  });

  test('a TLS 1.2 client offering only a CBC suite outside the intermediate list is refused', async () => {
    await assert.rejects(handshake(srv.port, { ca, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA' }));
  });

  test('a client that does not trust the dev CA refuses the server', async () => {
    await assert.rejects(handshake(srv.port, {}), /self-signed|unable to (get|verify)/i);
  });

  test('the certificate covers localhost and 127.0.0.1 (hostname verification passes by name)', async () => {
    const h = await handshake(srv.port, { ca, servername: 'localhost' });
    assert.equal(h.status, 200);
    assert.match(String(h.peer.subjectaltname), /DNS:localhost/);
    assert.match(String(h.peer.subjectaltname), /IP Address:127\.0\.0\.1/);
  });

  test('the dev certificate is reused on a second start (same fingerprint)', async () => {
    const again = await createServerTls(tlsConfig(), { stateDir: dir.path, logger: memoryLogger(), profile: 'development' });
    assert.equal(again.describe().fingerprint256, srv.tls.describe().fingerprint256);
    assert.equal(again.describe().source, 'dev-ca');
    again.close();
  });

  test('a keep-alive HTTPS request over node:https works end to end', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: srv.port, path: '/', ca, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 200);
  });
});

describe('server TLS from configured files', () => {
  const dir = tempDir();
  let files: GeneratedFiles;
  before(async () => {
    files = await generateDevCertificates({ outDir: dir.path });
  });
  after(() => dir.remove());

  test('serves the configured certificate with TLS 1.3 only when min_version is tls13', async () => {
    const srv = await startHttps(tlsConfig({ cert_file: files.serverCert, key_file: files.serverKey, min_version: 'tls13' }), { stateDir: dir.path });
    try {
      const h = await handshake(srv.port, { ca: read(files.caCert) });
      assert.equal(h.peer.fingerprint256, files.serverFingerprint256);
      await assert.rejects(handshake(srv.port, { ca: read(files.caCert), maxVersion: 'TLSv1.2' }), /protocol version|alert/i);
      assert.equal(srv.tls.devCa, undefined);
    } finally {
      await srv.close();
    }
  });

  test('warns when the key file is readable by others or the certificate expires within 14 days', async () => {
    const loose = join(dir.path, 'loose.key');
    writeFileSync(loose, read(files.serverKey), { mode: 0o644 });
    chmodSync(loose, 0o644);
    const logger = memoryLogger();
    const clock = new ManualClock(Date.now() + 390 * 86_400_000);
    const t = await createServerTls(tlsConfig({ cert_file: files.serverCert, key_file: loose }), { stateDir: dir.path, logger, profile: 'development', clock });
    t.close();
    assert.ok(logger.lines.some((l) => l.includes('readable by group or others')));
    assert.ok(logger.lines.some((l) => l.includes('expires soon')));
    assert.ok(!logger.lines.some((l) => l.includes('PRIVATE KEY')));
  });

  test('refuses to start with a key that does not match the certificate', async () => {
    await assert.rejects(
      createServerTls(tlsConfig({ cert_file: files.serverCert, key_file: files.caKey }), { stateDir: dir.path, logger: memoryLogger(), profile: 'production' }),
      (e: GatehouseError) => e.code === 'GH_TLS_KEY_MISMATCH',
    );
  });

  test('refuses cert_file without key_file', async () => {
    await assert.rejects(
      createServerTls(tlsConfig({ cert_file: files.serverCert }), { stateDir: dir.path, logger: memoryLogger(), profile: 'development' }),
      (e: GatehouseError) => e.code === 'GH_CONFIG_INVALID',
    );
  });

  test('client_auth require with own certificates needs ca_file', async () => {
    await assert.rejects(
      createServerTls(tlsConfig({ cert_file: files.serverCert, key_file: files.serverKey, client_auth: 'require' }), { stateDir: dir.path, logger: memoryLogger(), profile: 'development' }),
      (e: GatehouseError) => e.code === 'GH_CONFIG_INVALID' && /ca_file/.test(e.message),
    );
  });

  test('a cipher list OpenSSL cannot use is a config error', async () => {
    await assert.rejects(
      createServerTls(tlsConfig({ cert_file: files.serverCert, key_file: files.serverKey, ciphers: 'NOT-A-CIPHER' }), { stateDir: dir.path, logger: memoryLogger(), profile: 'development' }),
      (e: GatehouseError) => e.code === 'GH_CONFIG_INVALID',
    );
  });
});

describe('version policy and production refusals', () => {
  const dir = tempDir();
  after(() => dir.remove());
  const create = (input: Record<string, unknown>, profile: 'development' | 'production' = 'development', logger = memoryLogger()) =>
    createServerTls(tlsConfig(input), { stateDir: dir.path, logger, profile });

  test('tls10 and tls11 are refused without insecure_allow_legacy_tls', async () => {
    for (const v of ['tls10', 'tls11']) {
      await assert.rejects(create({ min_version: v }), (e: GatehouseError) => e.code === 'GH_CONFIG_INVALID' && e.message.includes('insecure_allow_legacy_tls'));
    }
  });

  test('legacy TLS with the opt-in is warned about through the logger and adds @SECLEVEL=0', async () => {
    const logger = memoryLogger();
    const t = await create({ min_version: 'tls11', insecure_allow_legacy_tls: true }, 'development', logger);
    assert.ok(logger.lines.some((l) => l.includes('"level":"warn"') && l.includes('insecure_allow_legacy_tls')));
    assert.match(String(t.options.ciphers), /@SECLEVEL=0$/);
    assert.equal(t.options.minVersion, 'TLSv1.1');
    assert.equal(t.describe().legacy_tls, true);
    t.close();
  });

  test('min_version above max_version is refused', async () => {
    await assert.rejects(create({ min_version: 'tls13', max_version: 'tls12' }), (e: GatehouseError) => e.code === 'GH_CONFIG_INVALID');
  });

  test('production refuses the generated dev CA', async () => {
    await assert.rejects(create({}, 'production'), (e: GatehouseError) => e.code === 'GH_CONFIG_PRODUCTION_REFUSED');
  });

  test('tlsProductionProblems names each dev-only setting', () => {
    const problems = tlsProductionProblems(tlsConfig({ min_version: 'tls10', insecure_allow_legacy_tls: true }));
    assert.equal(problems.length, 3);
    assert.match(problems[0] as string, /cert_file.*dev CA/);
    assert.match(problems[1] as string, /min_version is tls10/);
    assert.match(problems[2] as string, /insecure_allow_legacy_tls/);
    assert.deepEqual(tlsProductionProblems(tlsConfig({ cert_file: '/c', key_file: '/k' })), []);
    assert.deepEqual(tlsProductionProblems(tlsConfig({ cert_file: '/c', key_file: '/k', client_auth: 'require', ca_file: '/ca' })), []);
  });

  test('defaults: TLS 1.2 to 1.3, Mozilla intermediate ciphers, server cipher order, no client certificate', async () => {
    const t = await create({});
    assert.equal(t.options.minVersion, 'TLSv1.2');
    assert.equal(t.options.maxVersion, 'TLSv1.3');
    assert.equal(t.options.ciphers, MOZILLA_INTERMEDIATE_CIPHERS);
    assert.equal(t.options.honorCipherOrder, true);
    assert.equal(t.options.requestCert, false);
    t.close();
  });
});

describe('hstsHeader', () => {
  test('one year with includeSubDomains by default', () => {
    assert.equal(hstsHeader(tlsConfig()), 'max-age=31536000; includeSubDomains');
  });
  test('honours max_age and include_subdomains', () => {
    assert.equal(hstsHeader(tlsConfig({ hsts: { max_age: '1d', include_subdomains: false } })), 'max-age=86400');
  });
  test('is absent when HSTS or TLS is disabled (RFC 6797 §7.2: never over plain HTTP)', () => {
    assert.equal(hstsHeader(tlsConfig({ hsts: { enabled: false } })), undefined);
    assert.equal(hstsHeader(tlsConfig({ enabled: false })), undefined);
  });
});
