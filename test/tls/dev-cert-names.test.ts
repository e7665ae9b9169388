/**
 * ensureDevServerCertificate's `name`: a second listener (metrics) whose hosts the main certificate does not cover
 * keeps files of its own under <state_dir>/tls, signed by the one dev CA, so neither re-issues the other's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDevServerCertificate } from '../../src/tls/index.js';
import { memoryLogger, tempDir } from './helpers.js';

test('a named dev certificate for other hosts leaves the main one and the CA untouched, and both are reused afterwards', async () => {
  const dir = tempDir();
  try {
    const tls = join(dir.path, 'tls');
    const main = await ensureDevServerCertificate({ stateDir: dir.path, hosts: ['127.0.0.1'], logger: memoryLogger() });
    const before = { server: readFileSync(join(tls, 'server.crt'), 'utf8'), key: readFileSync(join(tls, 'server.key'), 'utf8'), ca: readFileSync(join(tls, 'ca.crt'), 'utf8') };

    const metrics = await ensureDevServerCertificate({ stateDir: dir.path, hosts: ['monitor.internal'], logger: memoryLogger(), name: 'metrics' });
    assert.deepEqual(metrics.generated, { ca: false, server: true });
    assert.equal(metrics.serverCertPath, join(tls, 'metrics.crt'));
    assert.equal(metrics.serverKeyPath, join(tls, 'metrics.key'));
    assert.ok(existsSync(join(tls, 'metrics.hosts.json')));
    const leaf = new X509Certificate(metrics.certPem);
    assert.match(String(leaf.subjectAltName), /DNS:monitor\.internal/);
    assert.ok(leaf.checkIssued(new X509Certificate(main.caCertPem)), 'signed by the same dev CA');
    assert.notEqual(metrics.fingerprint256, main.fingerprint256);
    // The main listener's files are byte for byte what they were.
    assert.equal(readFileSync(join(tls, 'server.crt'), 'utf8'), before.server);
    assert.equal(readFileSync(join(tls, 'server.key'), 'utf8'), before.key);
    assert.equal(readFileSync(join(tls, 'ca.crt'), 'utf8'), before.ca);

    const mainAgain = await ensureDevServerCertificate({ stateDir: dir.path, hosts: ['127.0.0.1'], logger: memoryLogger() });
    assert.deepEqual(mainAgain.generated, { ca: false, server: false });
    assert.equal(mainAgain.fingerprint256, main.fingerprint256);
    const metricsAgain = await ensureDevServerCertificate({ stateDir: dir.path, hosts: ['monitor.internal'], logger: memoryLogger(), name: 'metrics' });
    assert.deepEqual(metricsAgain.generated, { ca: false, server: false });
    assert.equal(metricsAgain.fingerprint256, metrics.fingerprint256);
  } finally {
    dir.remove();
  }
});

test('a certificate name that is not a plain file stem is caller misuse (TypeError)', async () => {
  const dir = tempDir();
  try {
    for (const name of ['ca', '../ca', 'ca/x', '', 'Server', 'a'.repeat(40)]) {
      await assert.rejects(ensureDevServerCertificate({ stateDir: dir.path, logger: memoryLogger(), name }), TypeError, name);
    }
  } finally {
    dir.remove();
  }
});
