import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { checkCertificatePair, ensureDevServerCertificate, generateDevCertificates } from '../../src/tls/index.js';
import { memoryLogger, read, tempDir } from './helpers.js';

const mode = (p: string): number => statSync(p).mode & 0o777;

describe('generateDevCertificates', () => {
  const dir = tempDir();
  after(() => dir.remove());

  test('writes a CA, a server and client certificates that chain to it, keys 0600', async () => {
    const out = join(dir.path, 'certs');
    const files = await generateDevCertificates({ outDir: out, hosts: ['gw.internal', '10.0.0.7'], clientNames: ['agent-a', 'agent-b'] });
    for (const f of ['ca.key', 'server.key', 'client.key', 'client-agent-b.key']) assert.equal(mode(join(out, f)), 0o600, f);
    for (const f of ['ca.crt', 'server.crt', 'client.crt', 'client-agent-b.crt']) assert.ok(existsSync(join(out, f)), f);
    assert.equal(mode(out), 0o700);
    const ca = new X509Certificate(read(files.caCert));
    assert.equal(ca.ca, true);
    const server = new X509Certificate(read(files.serverCert));
    assert.ok(server.verify(ca.publicKey));
    assert.equal(server.checkHost('gw.internal'), 'gw.internal');
    assert.equal(server.checkIP('10.0.0.7'), '10.0.0.7');
    assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(server.checkHost('localhost'), 'localhost');
    assert.equal(server.keyUsage?.includes('1.3.6.1.5.5.7.3.1'), true, 'serverAuth EKU');
    const client = new X509Certificate(read(join(out, 'client.crt')));
    assert.match(client.subject, /CN=agent-a/);
    assert.ok(client.verify(ca.publicKey));
    assert.equal(client.keyUsage?.includes('1.3.6.1.5.5.7.3.2'), true, 'clientAuth EKU');
    checkCertificatePair(read(files.serverCert), read(files.serverKey), Date.now());
    assert.equal(files.serverFingerprint256, server.fingerprint256);
  });

  test('refuses a host that is neither a DNS name nor an IP, and a client name unfit for a file name', async () => {
    await assert.rejects(generateDevCertificates({ outDir: join(dir.path, 'x'), hosts: ['bad host/'] }), TypeError);
    await assert.rejects(generateDevCertificates({ outDir: join(dir.path, 'y'), clientNames: ['../escape'] }), TypeError);
    assert.equal(existsSync(join(dir.path, 'y', 'ca.key')), false);
  });
});

describe('development CA under the state directory', () => {
  const dir = tempDir();
  after(() => dir.remove());
  const clock = new ManualClock(Date.now());

  test('is generated on first start with 0700 directory and 0600 keys, and reused on the second (same fingerprints)', async () => {
    const first = await ensureDevServerCertificate({ stateDir: dir.path, logger: memoryLogger(), clock });
    assert.deepEqual(first.generated, { ca: true, server: true });
    assert.equal(mode(join(dir.path, 'tls')), 0o700);
    assert.equal(mode(join(dir.path, 'tls', 'ca.key')), 0o600);
    assert.equal(mode(join(dir.path, 'tls', 'server.key')), 0o600);
    const second = await ensureDevServerCertificate({ stateDir: dir.path, logger: memoryLogger(), clock });
    assert.deepEqual(second.generated, { ca: false, server: false });
    assert.equal(second.fingerprint256, first.fingerprint256);
    assert.equal(second.caCertPem, first.caCertPem);
  });

  test('re-issues the server certificate (same CA) when the hosts change', async () => {
    const before = await ensureDevServerCertificate({ stateDir: dir.path, logger: memoryLogger(), clock });
    const after = await ensureDevServerCertificate({ stateDir: dir.path, hosts: ['gatehouse.test'], logger: memoryLogger(), clock });
    assert.deepEqual(after.generated, { ca: false, server: true });
    assert.notEqual(after.fingerprint256, before.fingerprint256);
    assert.equal(after.caCertPem, before.caCertPem);
    assert.equal(new X509Certificate(after.certPem).checkHost('gatehouse.test'), 'gatehouse.test');
  });

  test('re-issues the server certificate when it is within 30 days of expiry', async () => {
    const before = await ensureDevServerCertificate({ stateDir: dir.path, hosts: ['gatehouse.test'], logger: memoryLogger(), clock });
    clock.advance(380 * 86_400_000);
    const after = await ensureDevServerCertificate({ stateDir: dir.path, hosts: ['gatehouse.test'], logger: memoryLogger(), clock });
    assert.deepEqual(after.generated, { ca: false, server: true });
    assert.notEqual(after.fingerprint256, before.fingerprint256);
  });
});
