/**
 * Attack (client certificate revocation, docs/tls.md § Revoking client certificates): "Connections already open with a
 * certificate the new CRL lists are closed when it loads". With an intermediate client CA, the certificate a CRL
 * lists may be the intermediate itself (the root's CRL revokes a compromised issuing CA). OpenSSL then refuses every
 * new handshake of a leaf under it (CRL_CHECK_ALL), but closeRevoked() only looks at the peer's leaf serial: a client
 * that already holds a keep-alive connection under the revoked intermediate keeps it, and keeps sending requests.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import '../../src/tls/reflect-shim.js';
import * as x509 from '@peculiar/x509';
import { generateDevCertificates, issueCertificate, type DevCa, type GeneratedFiles } from '../../src/tls/index.js';
import { issueCrl } from '../../src/tls/crl.js';
import { attempt, read, startHttps, tempDir, tlsConfig, type RunningHttps } from '../tls/helpers.js';

const DAY = 86_400_000;
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

async function keys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function asDevCa(cert: x509.X509Certificate, signingKey: webcrypto.CryptoKey): Promise<DevCa> {
  return { cert, signingKey, certPem: cert.toString('pem') + '\n', keyPem: '', fingerprint256: '', notAfter: cert.notAfter };
}

/** root → intermediate (both CAs of ca_file), without the dev CA's pathLen 0. */
async function twoTierPki(): Promise<{ root: DevCa; intermediate: DevCa }> {
  const now = Date.now();
  const rk = await keys();
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01a1', name: 'CN=Review Root CA', notBefore: new Date(now - DAY), notAfter: new Date(now + 30 * DAY), keys: rk, signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rk.publicKey),
    ],
  });
  const ik = await keys();
  const inter = await x509.X509CertificateGenerator.create({
    serialNumber: '02b2', subject: 'CN=Review Issuing CA', issuer: root.subject, notBefore: new Date(now - DAY), notAfter: new Date(now + 30 * DAY),
    publicKey: ik.publicKey, signingKey: rk.privateKey, signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(ik.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rk.publicKey),
    ],
  });
  return { root: await asDevCa(root, rk.privateKey), intermediate: await asDevCa(inter, ik.privateKey) };
}

describe('attack: a CRL revoking an intermediate client CA leaves open connections under it running', () => {
  const dir = tempDir('gh-review-crl-int-');
  let srv: RunningHttps;
  let server: GeneratedFiles;
  let pki: { root: DevCa; intermediate: DevCa };
  let leaf: { certPem: string; keyPem: string };
  const crlFile = join(dir.path, 'crl.pem');
  const client = () => ({ ca: read(server.caCert), cert: leaf.certPem + pki.intermediate.certPem, key: leaf.keyPem });

  before(async () => {
    server = await generateDevCertificates({ outDir: join(dir.path, 'server') });
    pki = await twoTierPki();
    leaf = await issueCertificate(pki.intermediate, { commonName: 'agent-under-intermediate', usage: 'client' });
    const caFile = join(dir.path, 'clients-ca.pem');
    writeFileSync(caFile, pki.root.certPem + pki.intermediate.certPem);
    // One CRL per CA of the chain (CRL_CHECK_ALL), both empty.
    writeFileSync(crlFile, (await issueCrl(pki.root, { entries: [], nowMs: Date.now(), validityMs: DAY })) + (await issueCrl(pki.intermediate, { entries: [], nowMs: Date.now(), validityMs: DAY })));
    srv = await startHttps(tlsConfig({ cert_file: server.serverCert, key_file: server.serverKey, ca_file: caFile, crl_file: crlFile, client_auth: 'require', watch: false }), { stateDir: dir.path });
  });
  after(async () => {
    await srv?.close();
    dir.remove();
  });

  test('after the root CRL lists the intermediate, new handshakes fail and the open connection is cut', async () => {
    assert.equal((await attempt(srv.port, client())).status, 200, 'the two-tier client is served before the revocation');

    const socket: TLSSocket = connect({ host: '127.0.0.1', port: srv.port, ...client() });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
    });
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write('GET / HTTP/1.1\r\nhost: localhost\r\n\r\n');
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));

    // The issuing CA is compromised: the root's CRL revokes it (serial 02B2).
    const interSerial = pki.intermediate.cert.serialNumber;
    writeFileSync(crlFile, (await issueCrl(pki.root, { entries: [{ serial: interSerial, revokedAt: new Date() }], nowMs: Date.now(), validityMs: DAY })) + (await issueCrl(pki.intermediate, { entries: [], nowMs: Date.now(), validityMs: DAY })));
    const r = srv.tls.reload();
    assert.ok(r.ok && r.changed, JSON.stringify(r));
    assert.equal((await attempt(srv.port, client())).status, 0, 'OpenSSL refuses a new handshake under the revoked intermediate');

    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([closed.then(() => 'closed'), new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still open'), 2000)))]);
    clearTimeout(timer);
    let answered = false;
    if (outcome === 'still open') {
      // Show that it is usable, not merely half-open.
      socket.write('GET /after-revocation HTTP/1.1\r\nhost: localhost\r\n\r\n');
      answered = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), 2000);
        socket.once('data', (d: Buffer) => {
          clearTimeout(t);
          resolve(/^HTTP\/1\.1 200/.test(d.toString('latin1')));
        });
      });
    }
    socket.destroy();
    assert.equal(outcome, 'closed', `the connection under the revoked intermediate stayed open${answered ? ' and was still served a 200' : ''}`);
  });
});
