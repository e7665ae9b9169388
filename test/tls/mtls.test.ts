import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import type { GatehouseError } from '../../src/core/errors.js';
import type { ClientCertIdentity } from '../../src/core/types.js';
import { checkClientAllowed, generateDevCertificates, issueCertificate, loadDevCa, type GeneratedFiles } from '../../src/tls/index.js';
import { handshake, read, startHttps, tempDir, tlsConfig, type RunningHttps } from './helpers.js';

const identityOf = (body: string | undefined): ClientCertIdentity | null => (JSON.parse(body ?? 'null') as { identity: ClientCertIdentity | null }).identity;

describe('mTLS with client_auth require', () => {
  const dir = tempDir();
  let files: GeneratedFiles;
  let other: GeneratedFiles;
  let srv: RunningHttps;
  let ca: string;
  const cfgInput = () => ({ cert_file: files.serverCert, key_file: files.serverKey, ca_file: files.caCert, client_auth: 'require', mtls_allowed_common_names: ['agent-a'] });

  before(async () => {
    files = await generateDevCertificates({ outDir: join(dir.path, 'ours'), clientNames: ['agent-a', 'intruder'] });
    other = await generateDevCertificates({ outDir: join(dir.path, 'other'), clientNames: ['agent-a'] });
    srv = await startHttps(tlsConfig(cfgInput()), { stateDir: dir.path });
    ca = read(files.caCert);
  });
  after(async () => {
    await srv.close();
    dir.remove();
  });

  const client = (f: GeneratedFiles, i = 0) => ({ cert: read(f.clients[i]?.cert as string), key: read(f.clients[i]?.key as string) });

  test('the generated client certificate is accepted and its identity extracted', async () => {
    const h = await handshake(srv.port, { ca, ...client(files) });
    assert.equal(h.status, 200);
    const id = identityOf(h.body);
    assert.equal(id?.subject_cn, 'agent-a');
    assert.equal(id?.fingerprint256, new X509Certificate(read(files.clients[0]?.cert as string)).fingerprint256);
    assert.doesNotThrow(() => checkClientAllowed(id ?? undefined, tlsConfig(cfgInput())));
  });

  test('no client certificate: TLS 1.3 handshake refused (certificate required alert), no response', async () => {
    const h = await handshake(srv.port, { ca });
    assert.equal(h.status, undefined);
    assert.match(String(h.error), /CERTIFICATE_REQUIRED/);
  });

  test('no client certificate: TLS 1.2 handshake refused', async () => {
    await assert.rejects(handshake(srv.port, { ca, maxVersion: 'TLSv1.2' }), /handshake failure/);
  });

  test('an unlisted CN from the trusted CA passes the handshake and is refused by checkClientAllowed', async () => {
    const h = await handshake(srv.port, { ca, ...client(files, 1) });
    assert.equal(h.status, 200);
    const id = identityOf(h.body);
    assert.equal(id?.subject_cn, 'intruder');
    assert.throws(() => checkClientAllowed(id ?? undefined, tlsConfig(cfgInput())), (e: GatehouseError) => e.code === 'GH_TLS_CLIENT_NOT_ALLOWED' && e.status === 403);
  });

  test('a certificate from another CA is refused in the handshake', async () => {
    const h = await handshake(srv.port, { ca, ...client(other) }).catch((e: Error) => ({ status: undefined, error: e.message }));
    assert.equal(h.status, undefined);
    assert.match(String(h.error), /UNKNOWN_CA|unknown ca|ECONNRESET|no HTTP response/i);
  });

  test('an allowed SAN admits a certificate whose CN is not listed (DNS case-insensitive, URI exact)', async () => {
    const ours = await loadDevCa(read(files.caCert), read(join(dir.path, 'ours', 'ca.key')));
    const issued = await issueCertificate(ours, { commonName: 'workload-7', usage: 'client', hosts: ['Agent-B.internal'], uris: ['spiffe://example.org/agent/b'] });
    const h = await handshake(srv.port, { ca, cert: issued.certPem, key: issued.keyPem });
    const id = identityOf(h.body) ?? undefined;
    assert.deepEqual(id?.san_dns, ['agent-b.internal']);
    assert.deepEqual(id?.san_uri, ['spiffe://example.org/agent/b']);
    const base = { client_auth: 'require', mtls_allowed_common_names: ['agent-a'] };
    assert.doesNotThrow(() => checkClientAllowed(id, tlsConfig({ ...base, mtls_allowed_sans: ['DNS:AGENT-B.internal'] })));
    assert.doesNotThrow(() => checkClientAllowed(id, tlsConfig({ ...base, mtls_allowed_sans: ['URI:spiffe://example.org/agent/b'] })));
    assert.doesNotThrow(() => checkClientAllowed(id, tlsConfig({ ...base, mtls_allowed_sans: ['spiffe://example.org/agent/b'] })));
    assert.throws(() => checkClientAllowed(id, tlsConfig({ ...base, mtls_allowed_sans: ['URI:spiffe://example.org/agent/B'] })), (e: GatehouseError) => e.code === 'GH_TLS_CLIENT_NOT_ALLOWED');
    assert.throws(() => checkClientAllowed(id, tlsConfig(base)), (e: GatehouseError) => e.code === 'GH_TLS_CLIENT_NOT_ALLOWED');
  });

  test('a bare allowed SAN is typed by its form: a DNS SAN spelling a listed URI is not admitted, nor the reverse', () => {
    const base = { client_auth: 'require', mtls_allowed_common_names: ['agent-a'] };
    const allowed = tlsConfig({ ...base, mtls_allowed_sans: ['spiffe://example.org/agent/admin', 'agent-b.internal'] });
    const refused = (e: GatehouseError) => e.code === 'GH_TLS_CLIENT_NOT_ALLOWED';
    assert.throws(() => checkClientAllowed({ subject_cn: 'x', san_dns: ['spiffe://example.org/agent/admin'] }, allowed), refused);
    assert.throws(() => checkClientAllowed({ subject_cn: 'x', san_uri: ['agent-b.internal'] }, allowed), refused);
    assert.doesNotThrow(() => checkClientAllowed({ subject_cn: 'x', san_uri: ['spiffe://example.org/agent/admin'] }, allowed));
    assert.doesNotThrow(() => checkClientAllowed({ subject_cn: 'x', san_dns: ['agent-b.internal'] }, allowed));
  });

  test('empty allow-lists admit any certificate the client CA signed; require without identity is GH_TLS_CLIENT_CERT_REQUIRED', () => {
    assert.doesNotThrow(() => checkClientAllowed({ subject_cn: 'anyone' }, tlsConfig({ client_auth: 'require' })));
    assert.throws(() => checkClientAllowed(undefined, tlsConfig({ client_auth: 'require' })), (e: GatehouseError) => e.code === 'GH_TLS_CLIENT_CERT_REQUIRED' && e.status === 401);
  });
});

describe('mTLS with client_auth request', () => {
  const dir = tempDir();
  let files: GeneratedFiles;
  let other: GeneratedFiles;
  let srv: RunningHttps;
  let ca: string;

  before(async () => {
    files = await generateDevCertificates({ outDir: join(dir.path, 'ours') });
    other = await generateDevCertificates({ outDir: join(dir.path, 'other') });
    srv = await startHttps(tlsConfig({ cert_file: files.serverCert, key_file: files.serverKey, ca_file: files.caCert, client_auth: 'request' }), { stateDir: dir.path });
    ca = read(files.caCert);
  });
  after(async () => {
    await srv.close();
    dir.remove();
  });

  test('a client without a certificate is served with no identity (another method decides)', async () => {
    const h = await handshake(srv.port, { ca });
    assert.equal(h.status, 200);
    assert.equal(identityOf(h.body), null);
    assert.doesNotThrow(() => checkClientAllowed(undefined, tlsConfig({ client_auth: 'request' })));
  });

  test('a client with a valid certificate gets its identity', async () => {
    const h = await handshake(srv.port, { ca, cert: read(files.clients[0]?.cert as string), key: read(files.clients[0]?.key as string) });
    assert.equal(identityOf(h.body)?.subject_cn, 'gatehouse-dev-client');
  });

  test('a certificate that does not verify is not treated as no certificate: the connection is closed', async () => {
    const h = await handshake(srv.port, { ca, cert: read(other.clients[0]?.cert as string), key: read(other.clients[0]?.key as string) });
    assert.equal(h.status, undefined);
  });
});

describe('mTLS in development without ca_file', () => {
  const dir = tempDir();
  after(() => dir.remove());

  test('the state directory dev CA signs client certificates made with `certs dev --ca`', async () => {
    const srv = await startHttps(tlsConfig({ client_auth: 'require' }), { stateDir: dir.path });
    try {
      const tlsDir = join(dir.path, 'tls');
      const files = await generateDevCertificates({ outDir: join(dir.path, 'clients'), clientNames: ['agent-a'], ca: { certPem: read(join(tlsDir, 'ca.crt')), keyPem: read(join(tlsDir, 'ca.key')) } });
      assert.equal(files.caKey, undefined);
      const h = await handshake(srv.port, { ca: read(files.caCert), cert: read(files.clients[0]?.cert as string), key: read(files.clients[0]?.key as string) });
      assert.equal(identityOf(h.body)?.subject_cn, 'agent-a');
    } finally {
      await srv.close();
    }
  });
});
