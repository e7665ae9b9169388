/**
 * Ways to get development-grade TLS past the production refusals without touching the settings they name:
 * the dev CA's certificates given explicitly as cert_file / ca_file, and the cipher string's own @SECLEVEL=0.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDevServerCertificate, generateDevCertificates, tlsProductionProblems, type GeneratedFiles } from '../../src/tls/index.js';
import * as x509 from '@peculiar/x509';
import { MOZILLA_INTERMEDIATE_CIPHERS } from '../../src/config/index.js';
import { cli } from '../helpers/cli.js';
import { memoryLogger, tempDir, tlsConfig } from '../tls/helpers.js';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A self-signed CA certificate under a name that has nothing to do with Gatehouse's development CA. */
async function foreignCaPem(): Promise<string> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=Example Internal CA, O=Example Corp',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: ALG,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true)],
  });
  return cert.toString('pem');
}

describe('production TLS refusals cannot be sidestepped', () => {
  const dir = tempDir();
  let files: GeneratedFiles;
  let foreignCa: string;

  before(async () => {
    files = await generateDevCertificates({ outDir: join(dir.path, 'dev') });
    foreignCa = join(dir.path, 'foreign-ca.crt');
    writeFileSync(foreignCa, await foreignCaPem());
  });
  after(() => dir.remove());

  test('a `gatehouse certs dev` server certificate given as cert_file is refused, named', () => {
    const problems = tlsProductionProblems(tlsConfig({ cert_file: files.serverCert, key_file: files.serverKey }));
    assert.ok(problems.some((p) => /^server\.tls\.cert_file\b.*development CA/.test(p)), problems.join('\n'));
  });

  test('the state directory dev certificate given as cert_file is refused too', async () => {
    const dev = await ensureDevServerCertificate({ stateDir: join(dir.path, 'state'), logger: memoryLogger() });
    const problems = tlsProductionProblems(tlsConfig({ cert_file: dev.serverCertPath, key_file: dev.serverKeyPath }));
    assert.ok(problems.some((p) => /^server\.tls\.cert_file\b.*development CA/.test(p)), problems.join('\n'));
  });

  test('the dev CA given as the client CA (ca_file) is refused: anyone holding its key on a laptop could mint clients', () => {
    const problems = tlsProductionProblems(tlsConfig({ cert_file: '/nonexistent/c', key_file: '/nonexistent/k', client_auth: 'require', ca_file: files.caCert }));
    assert.ok(problems.some((p) => /^server\.tls\.ca_file\b.*development CA/.test(p)), problems.join('\n'));
  });

  test('a client CA bundle is refused when any certificate in it is the dev CA', () => {
    const bundle = join(dir.path, 'bundle.crt');
    writeFileSync(bundle, readFileSync(foreignCa, 'utf8') + readFileSync(files.caCert, 'utf8'));
    const problems = tlsProductionProblems(tlsConfig({ cert_file: '/nonexistent/c', key_file: '/nonexistent/k', client_auth: 'require', ca_file: bundle }));
    assert.ok(problems.some((p) => /^server\.tls\.ca_file\b/.test(p)), problems.join('\n'));
  });

  test('certificates from another CA are not mistaken for the dev CA', () => {
    assert.deepEqual(tlsProductionProblems(tlsConfig({ cert_file: '/nonexistent/c', key_file: '/nonexistent/k', client_auth: 'require', ca_file: foreignCa })), []);
  });

  test('ciphers with @SECLEVEL=0 (NULL and anonymous suites become negotiable) are refused, named', () => {
    for (const ciphers of ['ECDHE-ECDSA-NULL-SHA:@SECLEVEL=0', `${MOZILLA_INTERMEDIATE_CIPHERS}:@SECLEVEL=0`]) {
      const problems = tlsProductionProblems(tlsConfig({ cert_file: '/nonexistent/c', key_file: '/nonexistent/k', ciphers }));
      assert.ok(problems.some((p) => /^server\.tls\.ciphers\b.*@SECLEVEL=0/.test(p)), `${ciphers}: ${problems.join('\n')}`);
    }
    assert.deepEqual(tlsProductionProblems(tlsConfig({ cert_file: '/nonexistent/c', key_file: '/nonexistent/k', ciphers: `${MOZILLA_INTERMEDIATE_CIPHERS}:@SECLEVEL=2` })), []);
  });

  test('`gatehouse config check` in production names the dev certificate', async () => {
    const cfgFile = join(dir.path, 'g.yaml');
    writeFileSync(cfgFile, `server:\n  tls:\n    cert_file: ${files.serverCert}\n    key_file: ${files.serverKey}\n`);
    const r = await cli(['config', 'check', '--config', cfgFile], { env: { GATEHOUSE_HOME: dir.path, GATEHOUSE_ENV: 'production' } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /GH_CONFIG_PRODUCTION_REFUSED: production: server\.tls\.cert_file .*development CA/);
  });
});
