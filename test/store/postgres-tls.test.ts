/**
 * store.postgres.tls against a real PostgreSQL server with ssl=on and a certificate from the project's development CA,
 * which accepts TCP connections over TLS only (hostssl). The store is opened the way the gateway and the CLI open it
 * (openConfiguredStore: the block built by createUpstreamTls): it verifies the server against ca_file, honours
 * server_name and pins, presents a client certificate, and fails closed (GH_STORE_UNAVAILABLE) on any mismatch.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { validateConfig } from '../../src/config/index.js';
import { GatehouseError } from '../../src/core/errors.js';
import type { StateStore } from '../../src/core/store.js';
import { openConfiguredStore } from '../../src/gateway/store.js';
import { createDevCa, issueCertificate, spkiPin, type DevCa, type IssuedCertificate } from '../../src/tls/index.js';
import { usePostgres } from '../helpers/postgres.js';

let ca: DevCa;
let otherCa: DevCa;
let serverCert: IssuedCertificate;
let clientCert: IssuedCertificate;
const dir = mkdtempSync(join(tmpdir(), 'gh-pgtls-'));
const file = (name: string, text: string): string => {
  const f = join(dir, name);
  writeFileSync(f, text, { mode: 0o600 });
  return f;
};
after(() => rmSync(dir, { recursive: true, force: true }));

const server = usePostgres(async () => {
  [ca, otherCa] = await Promise.all([createDevCa(), createDevCa({ commonName: 'Another CA' })]);
  serverCert = await issueCertificate(ca, { commonName: 'localhost', usage: 'server', hosts: ['localhost', '127.0.0.1'] });
  clientCert = await issueCertificate(ca, { commonName: 'gh_cert', usage: 'client' });
  return {
    tls: { certPem: serverCert.certPem, keyPem: serverCert.keyPem, tlsOnly: true, clientCaPem: ca.certPem },
    // gh_cert logs in with its client certificate alone (its CN is the role name).
    hba: ['hostssl all gh_cert 127.0.0.1/32 cert'],
  };
}, async (pg) => {
  caFile = file('ca.crt', ca.certPem);
  otherCaFile = file('other-ca.crt', otherCa.certPem);
  await pg.sql('CREATE ROLE gh_cert LOGIN');
  await pg.sql(`GRANT CREATE ON DATABASE ${pg.database} TO gh_cert`);
});

let caFile: string;
let otherCaFile: string;

const unavailable = (e: unknown): boolean => e instanceof GatehouseError && e.code === 'GH_STORE_UNAVAILABLE';

/** The store as `gatehouse serve` opens it from this store.postgres block. */
function open(t: { after(fn: () => unknown): void }, postgres: Record<string, unknown>): StateStore {
  const cfg = validateConfig(
    { state_dir: dir, store: { kind: 'postgres', postgres: { url: server().url, password_file: server().passwordFile, schema: server().schemaName(), connect_timeout: '2s', ...postgres } } },
    { env: {} },
  );
  const store = openConfiguredStore(cfg, { env: {} });
  t.after(() => store.close());
  return store;
}

/** The code of the innermost cause (the TLS or server error under GH_STORE_UNAVAILABLE). */
const rootCode = (e: unknown): string => {
  let c: unknown = e;
  while ((c as { cause?: unknown }).cause !== undefined) c = (c as { cause: unknown }).cause;
  return String((c as { code?: unknown }).code ?? (c as Error).message);
};

describe('the PostgreSQL store over TLS', () => {
  test('tls.enabled with ca_file: the server certificate is verified and the store works', async (t) => {
    const store = open(t, { tls: { enabled: true, ca_file: caFile } });
    await store.put('ns', 'k', { over: 'tls' });
    assert.deepEqual(await store.get('ns', 'k'), { over: 'tls' });
    await store.ping();
  });

  test('the server only takes TLS here: the same store with TLS off is refused (so the test above did use TLS)', async (t) => {
    const store = open(t, {});
    const e = await store.ping().then(() => undefined, (err: unknown) => err);
    assert.ok(unavailable(e), String(e));
    assert.equal(rootCode(e), '28000'); // no pg_hba.conf entry … no encryption
  });

  test('a CA that did not sign the server certificate: refused, GH_STORE_UNAVAILABLE', async (t) => {
    const store = open(t, { tls: { enabled: true, ca_file: otherCaFile } });
    const e = await store.ping().then(() => undefined, (err: unknown) => err);
    assert.ok(unavailable(e), String(e));
    assert.match(rootCode(e), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
  });

  test('server_name is the name checked, not the URL host (node-postgres would check the host): a name the certificate lacks is refused', async (t) => {
    // The URL names localhost, which the certificate carries: only server_name can make this fail.
    const url = server().url.replace('@127.0.0.1:', '@localhost:');
    await open(t, { url, tls: { enabled: true, ca_file: caFile } }).ping();
    const e = await open(t, { url, tls: { enabled: true, ca_file: caFile, server_name: 'db.other.example' } }).ping().then(() => undefined, (err: unknown) => err);
    assert.ok(unavailable(e), String(e));
    assert.equal(rootCode(e), 'ERR_TLS_CERT_ALTNAME_INVALID');
    await open(t, { tls: { enabled: true, ca_file: caFile, server_name: 'localhost' } }).ping();
  });

  test('pin_sha256: the CA\'s key pinned passes, a key not in the chain is refused', async (t) => {
    const pin = (pem: string) => spkiPin(new X509Certificate(pem));
    await open(t, { tls: { enabled: true, ca_file: caFile, pin_sha256: [pin(ca.certPem)] } }).ping();
    const e = await open(t, { tls: { enabled: true, ca_file: caFile, pin_sha256: [pin(otherCa.certPem)] } }).ping().then(() => undefined, (err: unknown) => err);
    assert.ok(unavailable(e), String(e));
  });

  test('a client certificate (mutual TLS) logs in a role that has no password', async (t) => {
    const cert = { ca_file: caFile, cert_file: file('client.crt', clientCert.certPem), key_file: file('client.key', clientCert.keyPem) };
    const url = server().url.replace(`//${server().user}@`, '//gh_cert@');
    await open(t, { url, password_file: undefined, tls: { enabled: true, ...cert } }).put('ns', 'k', 1);
    const e = await open(t, { url, password_file: undefined, tls: { enabled: true, ca_file: caFile } }).ping().then(() => undefined, (err: unknown) => err);
    assert.ok(unavailable(e), String(e));
  });
});
