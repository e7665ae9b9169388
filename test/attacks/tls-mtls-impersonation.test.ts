/**
 * Client-certificate impersonation against mTLS (seed 002 `mtls_allowed_common_names`): forged issuers, misused
 * server certificates, ambiguous subjects and SAN strings crafted to confuse a comma-splitting parser.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { join } from 'node:path';
import type { GatehouseError } from '../../src/core/errors.js';
import type { ClientCertIdentity } from '../../src/core/types.js';
import { checkClientAllowed, createDevCa, generateDevCertificates, issueCertificate, loadDevCa, type DevCa, type GeneratedFiles } from '../../src/tls/index.js';
import * as x509 from '@peculiar/x509';
import { handshake, read, startHttps, tempDir, tlsConfig, type RunningHttps } from '../tls/helpers.js';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A client certificate with a hand-written subject and SAN list, signed by `ca` (what a careless or hostile issuer could sign). */
async function craftClientCert(ca: DevCa, subject: string, sans: x509.JsonGeneralNames): Promise<{ cert: string; key: string }> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    subject,
    issuer: ca.cert.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: ALG,
    extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]), ...(sans.length ? [new x509.SubjectAlternativeNameExtension(sans)] : [])],
  });
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { cert: cert.toString('pem'), key: `-----BEGIN PRIVATE KEY-----\n${Buffer.from(der).toString('base64')}\n-----END PRIVATE KEY-----\n` };
}

describe('mTLS impersonation attempts (client_auth require, allow-list agent-a)', () => {
  const dir = tempDir();
  let files: GeneratedFiles;
  let ca: DevCa;
  let srv: RunningHttps;
  let caPem: string;
  const cfgInput = () => ({ cert_file: files.serverCert, key_file: files.serverKey, ca_file: files.caCert, client_auth: 'require', mtls_allowed_common_names: ['agent-a'], mtls_allowed_sans: ['DNS:allowed.example'] });
  const identity = (body: string | undefined): ClientCertIdentity | undefined => (JSON.parse(body ?? '{"identity":null}') as { identity: ClientCertIdentity | null }).identity ?? undefined;

  before(async () => {
    files = await generateDevCertificates({ outDir: join(dir.path, 'ours'), clientNames: ['agent-a'] });
    caPem = read(files.caCert);
    ca = await loadDevCa(caPem, read(files.caKey as string));
    srv = await startHttps(tlsConfig(cfgInput()), { stateDir: dir.path });
  });
  after(async () => {
    await srv.close();
    dir.remove();
  });

  test('a self-signed certificate claiming the allowed CN is refused in the handshake', async () => {
    const rogue = await createDevCa({ commonName: 'agent-a' });
    const h = await handshake(srv.port, { ca: caPem, cert: rogue.certPem, key: rogue.keyPem }).catch(() => undefined);
    assert.equal(h?.status, undefined);
  });

  test('a certificate for the allowed CN issued by another CA is refused in the handshake', async () => {
    const otherCa = await createDevCa({ commonName: 'Gatehouse Development CA' }); // same name, different key
    const forged = await issueCertificate(otherCa, { commonName: 'agent-a', usage: 'client' });
    const h = await handshake(srv.port, { ca: caPem, cert: forged.certPem, key: forged.keyPem }).catch(() => undefined);
    assert.equal(h?.status, undefined);
  });

  test('a server certificate for the allowed CN from the trusted CA cannot be used as a client certificate (extended key usage)', async () => {
    const serverOnly = await issueCertificate(ca, { commonName: 'agent-a', usage: 'server' }); // EKU serverAuth only
    for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
      const h = await handshake(srv.port, { ca: caPem, maxVersion, cert: serverOnly.certPem, key: serverOnly.keyPem }).catch(() => undefined);
      assert.equal(h?.status, undefined, maxVersion);
    }
    const clientToo = await issueCertificate(ca, { commonName: 'agent-a', usage: 'client' }); // the same with clientAuth passes
    assert.equal((await handshake(srv.port, { ca: caPem, cert: clientToo.certPem, key: clientToo.keyPem })).status, 200);
  });

  test('a subject with two CNs (one of them allowed) yields no CN and is refused', async () => {
    const twoNames = await craftClientCert(ca, 'CN=intruder, CN=agent-a', []);
    const h = await handshake(srv.port, { ca: caPem, ...twoNames });
    assert.equal(h.status, 200, 'the CA signed it, so the handshake passes');
    const id = identity(h.body);
    assert.equal(id?.subject_cn, undefined);
    assert.throws(() => checkClientAllowed(id, tlsConfig(cfgInput())), (e: GatehouseError) => e.code === 'GH_TLS_CLIENT_NOT_ALLOWED');
  });

  test('a DNS SAN crafted as "evil.example, DNS:allowed.example" stays one name and is refused', async () => {
    const crafted = await craftClientCert(ca, 'CN=intruder', [{ type: 'dns', value: 'evil.example, DNS:allowed.example' }]);
    const h = await handshake(srv.port, { ca: caPem, ...crafted });
    const id = identity(h.body);
    assert.deepEqual(id?.san_dns, ['evil.example, DNS:allowed.example']);
    assert.throws(() => checkClientAllowed(id, tlsConfig(cfgInput())), (e: GatehouseError) => e.code === 'GH_TLS_CLIENT_NOT_ALLOWED');
  });

  test('the allowed SAN itself is admitted (the check above is not vacuous)', async () => {
    const honest = await craftClientCert(ca, 'CN=workload', [{ type: 'dns', value: 'allowed.example' }]);
    const h = await handshake(srv.port, { ca: caPem, ...honest });
    assert.doesNotThrow(() => checkClientAllowed(identity(h.body), tlsConfig(cfgInput())));
  });

  test('an error for a refused client carries the CN only in the internal detail, bounded and printable', () => {
    try {
      checkClientAllowed({ subject_cn: 'x\u0000\u001b[31m'.padEnd(300, 'y') }, tlsConfig(cfgInput()));
      assert.fail('expected a refusal');
    } catch (e) {
      const err = e as GatehouseError;
      assert.equal(err.publicMessage, 'The client certificate is not allowed.');
      assert.ok((err.detail ?? '').length < 140);
      assert.doesNotMatch(err.detail ?? '', /[\u0000-\u001f]/);
    }
  });
});
