import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { generateDevCertificates, issueCertificate, loadDevCa, writeFileAtomic, type DevCa, type IssuedCertificate, type ReloadResult } from '../../src/tls/index.js';
import { handshake, memoryLogger, read, startHttps, tempDir, tlsConfig, type RunningHttps } from './helpers.js';
import { until } from '../helpers/until.js';

const DAY = 86_400_000;

describe('certificate rotation without restart', () => {
  const dir = tempDir();
  const live = join(dir.path, 'live');
  const certFile = join(live, 'server.crt');
  const keyFile = join(live, 'server.key');
  const results: ReloadResult[] = [];
  const logger = memoryLogger();
  let ca: DevCa;
  let caPem: string;
  let srv: RunningHttps;
  let agent: Agent;
  let original: IssuedCertificate;

  /** Replaces the pair the way certbot and editors do: write elsewhere, rename over. Key first, then certificate. */
  const install = (pair: { certPem: string; keyPem: string }) => {
    writeFileAtomic(keyFile, pair.keyPem, 0o600);
    writeFileAtomic(certFile, pair.certPem, 0o644);
  };
  const issue = (opts: { notBefore?: Date; notAfter?: Date } = {}) => issueCertificate(ca, { commonName: 'localhost', usage: 'server', hosts: ['localhost', '127.0.0.1'], ...opts });
  const waitFor = (what: string, pred: () => boolean) => until(() => `${what}; reloads: ${JSON.stringify(results)}`, pred);
  const servedFingerprint = async () => (await handshake(srv.port, { ca: caPem })).peer.fingerprint256;
  const keepAliveGet = () =>
    new Promise<{ status: number; socket: TLSSocket }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: srv.port, path: '/', agent }, (res) => {
        const socket = res.socket as TLSSocket; // captured now: after 'end' the socket goes back to the agent's pool
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, socket }));
      });
      req.on('error', reject);
      req.end();
    });

  before(async () => {
    const files = await generateDevCertificates({ outDir: join(dir.path, 'ca') });
    caPem = read(files.caCert);
    ca = await loadDevCa(caPem, read(files.caKey as string));
    mkdirSync(live);
    original = await issue();
    install(original);
    srv = await startHttps(tlsConfig({ cert_file: certFile, key_file: keyFile }), {
      stateDir: dir.path,
      logger,
      watch: { debounceMs: 50, pollIntervalMs: 250 },
      onReload: (r) => results.push(r),
    });
    agent = new Agent({ keepAlive: true, maxSockets: 1, ca: caPem });
  });
  after(async () => {
    agent.destroy();
    await srv.close();
    dir.remove();
  });

  test('a new pair written by rename is picked up: new connections see it, a keep-alive connection keeps working', async () => {
    assert.equal(srv.tls.describe().watching, true);
    const first = await keepAliveGet();
    assert.equal(first.status, 200);
    assert.equal(first.socket.getPeerCertificate().fingerprint256, original.fingerprint256);

    const next = await issue();
    install(next);
    await waitFor('the new certificate', () => srv.tls.describe().fingerprint256 === next.fingerprint256);
    assert.equal(await servedFingerprint(), next.fingerprint256);

    const second = await keepAliveGet();
    assert.equal(second.status, 200);
    assert.equal(second.socket, first.socket, 'the same keep-alive connection served the second request');
    assert.equal(second.socket.getPeerCertificate().fingerprint256, original.fingerprint256);
    assert.ok(logger.lines.some((l) => l.includes('TLS certificate reloaded') && l.includes(next.fingerprint256)));
  });

  test('a key that does not match the certificate is rejected, logged without key material, and the old pair keeps serving', async () => {
    const serving = srv.tls.describe().fingerprint256;
    const stranger = await issue();
    const before = results.length;
    writeFileAtomic(keyFile, stranger.keyPem, 0o600);
    await waitFor('the rejection', () => results.slice(before).some((r) => !r.ok && r.code === 'GH_TLS_KEY_MISMATCH'));
    assert.equal(await servedFingerprint(), serving);
    assert.equal(srv.tls.describe().fingerprint256, serving);
    const warn = logger.lines.find((l) => l.includes('new TLS certificate rejected') && l.includes('GH_TLS_KEY_MISMATCH'));
    assert.ok(warn);
    assert.ok(!logger.lines.some((l) => l.includes('PRIVATE KEY') || l.includes(stranger.keyPem.split('\n')[1] as string)));
  });

  test('an expired certificate is rejected and the old pair keeps serving', async () => {
    const serving = srv.tls.describe().fingerprint256;
    const expired = await issue({ notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) });
    const before = results.length;
    install(expired);
    await waitFor('the rejection', () => results.slice(before).some((r) => !r.ok && r.code === 'GH_TLS_CERT_EXPIRED'));
    assert.equal(await servedFingerprint(), serving);
  });

  test('a certificate not valid yet is rejected the same way', async () => {
    const serving = srv.tls.describe().fingerprint256;
    const future = await issue({ notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 30 * DAY) });
    const before = results.length;
    install(future);
    await waitFor('the rejection', () => results.slice(before).some((r) => !r.ok && r.code === 'GH_TLS_CERT_EXPIRED'));
    assert.equal(await servedFingerprint(), serving);
  });

  test('after rejections, a good pair is accepted again', async () => {
    const good = await issue();
    install(good);
    await waitFor('the good pair', () => srv.tls.describe().fingerprint256 === good.fingerprint256);
    assert.equal(await servedFingerprint(), good.fingerprint256);
    assert.ok(srv.tls.describe().rejected_reloads >= 3);
  });

  test('garbage in the certificate file is rejected as GH_TLS_CERT_INVALID', async () => {
    const serving = srv.tls.describe().fingerprint256;
    const before = results.length;
    writeFileAtomic(certFile, 'not a certificate\n', 0o644);
    await waitFor('the rejection', () => results.slice(before).some((r) => !r.ok && r.code === 'GH_TLS_CERT_INVALID'));
    assert.equal(await servedFingerprint(), serving);
  });
});
