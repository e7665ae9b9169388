/**
 * Client certificate revocation (server.tls.crl_file; docs/tls.md § Revoking client certificates): real TLS
 * handshakes against a server built by createServerTls, CRLs issued by `gatehouse certs revoke` / `certs crl` (the
 * CLI in-process) and by the library.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type ConnectionOptions } from 'node:tls';
import { cli } from '../helpers/cli.js';
import { rejectionCode } from '../helpers/error-code.js';
import { createServerTls, generateDevCertificates, loadDevCa, type GeneratedFiles } from '../../src/tls/index.js';
import { checkCrlBundle, issueCrl } from '../../src/tls/crl.js';
import { attempt, memoryLogger, read, startHttps, tempDir, tlsConfig, type RunningHttps } from './helpers.js';

const DAY = 86_400_000;
const serialOf = (certFile: string): string => new X509Certificate(read(certFile)).serialNumber.toUpperCase();

describe('client certificate revocation (crl_file)', () => {
  const dir = tempDir('gh-crl-');
  const crlFile = join(dir.path, 'crl.pem');
  let pki: GeneratedFiles;
  let other: GeneratedFiles;
  let srv: RunningHttps;
  const client = (i: number, extra: ConnectionOptions = {}): ConnectionOptions => ({
    ca: read(pki.caCert), cert: read(pki.clients[i]?.cert as string), key: read(pki.clients[i]?.key as string), ...extra,
  });

  before(async () => {
    pki = await generateDevCertificates({ outDir: join(dir.path, 'pki'), clientNames: ['agent-a', 'agent-b'] });
    other = await generateDevCertificates({ outDir: join(dir.path, 'other'), clientNames: ['x'] });
    // agent-a is revoked from the start, through the CLI as an operator would.
    const r = await cli(['certs', 'revoke', '--ca', join(dir.path, 'pki'), '--cert', pki.clients[0]?.cert as string, '--crl', crlFile, '--reason', 'keyCompromise']);
    assert.equal(r.code, 0, r.stderr);
    srv = await startHttps(tlsConfig({ cert_file: pki.serverCert, key_file: pki.serverKey, ca_file: pki.caCert, crl_file: crlFile, client_auth: 'require', watch: false }), { stateDir: dir.path });
  });
  after(async () => {
    await srv?.close();
    dir.remove();
  });

  test('a revoked client certificate is refused at the handshake; another one of the same CA is served', async () => {
    assert.equal((await attempt(srv.port, client(0))).status, 0, 'the revoked certificate got a response');
    assert.equal((await attempt(srv.port, client(1))).status, 200);
    const d = srv.tls.describe();
    assert.equal(d.crl?.revoked, 1);
    assert.equal(d.crl?.crls, 1);
    assert.ok(d.crl?.next_update && Date.parse(d.crl.next_update) > Date.now() + 29 * DAY, 'certs revoke defaults to 30 days');
  });

  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    test(`revoking a certificate in use (${maxVersion}): new connections and resumed sessions are refused after the reload`, async () => {
      const b = client(1, { maxVersion });
      const first = await attempt(srv.port, b);
      assert.equal(first.status, 200);
      assert.ok(first.session);
      const again = await attempt(srv.port, { ...b, session: first.session });
      assert.equal(again.reused, true, 'resumption works before the revocation: the refusal below is about it');

      const r = await cli(['certs', 'revoke', '--ca', join(dir.path, 'pki'), '--serial', serialOf(pki.clients[1]?.cert as string), '--crl', crlFile]);
      assert.equal(r.code, 0, r.stderr);
      const reloaded = srv.tls.reload();
      assert.ok(reloaded.ok && reloaded.changed, JSON.stringify(reloaded));
      assert.equal((await attempt(srv.port, b)).status, 0, 'a full handshake with the revoked certificate was served');
      const resumed = await attempt(srv.port, { ...b, session: again.session ?? first.session });
      assert.equal(resumed.reused, false, 'a session made before the revocation was resumed');
      assert.equal(resumed.status, 0);

      // Put agent-b back for the next round (a CRL without it, issued by the library).
      const ca = await loadDevCa(read(pki.caCert), read(join(dir.path, 'pki', 'ca.key')));
      writeFileSync(crlFile, await issueCrl(ca, { entries: [{ serial: serialOf(pki.clients[0]?.cert as string), revokedAt: new Date() }], nowMs: Date.now(), validityMs: DAY }));
      assert.ok(srv.tls.reload().ok);
      assert.equal((await attempt(srv.port, b)).status, 200);
    });
  }

  test('a connection opened before the revocation is cut when the new CRL is loaded, not left running', async () => {
    const socket = connect({ host: '127.0.0.1', port: srv.port, ...client(1) });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    socket.write('GET / HTTP/1.1\r\nhost: localhost\r\n\r\n');
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    const good = read(crlFile);
    const r = await cli(['certs', 'revoke', '--ca', join(dir.path, 'pki'), '--cert', pki.clients[1]?.cert as string, '--crl', crlFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(srv.tls.reload().ok);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([closed.then(() => 'closed'), new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still open'), 3000)))]);
    clearTimeout(timer);
    socket.destroy();
    assert.equal(outcome, 'closed');
    writeFileSync(crlFile, good);
    assert.ok(srv.tls.reload().ok);
    assert.equal((await attempt(srv.port, client(1))).status, 200);
  });

  test('a bad CRL on reload is refused and the previous one keeps serving: wrong CA, expired, garbage', async () => {
    const good = read(crlFile);
    const otherCa = await loadDevCa(read(other.caCert), read(join(dir.path, 'other', 'ca.key')));
    const pkiCa = await loadDevCa(read(pki.caCert), read(join(dir.path, 'pki', 'ca.key')));
    const bad = [
      await issueCrl(otherCa, { entries: [], nowMs: Date.now(), validityMs: DAY }),
      await issueCrl(pkiCa, { entries: [], nowMs: Date.now() - 10 * DAY, validityMs: DAY }),
      '-----BEGIN X509 CRL-----\nnot a crl\n-----END X509 CRL-----\n',
      'no PEM at all',
    ];
    for (const text of bad) {
      writeFileSync(crlFile, text);
      assert.deepEqual(srv.tls.reload(), { ok: false, code: 'GH_TLS_CRL_INVALID' });
      assert.equal((await attempt(srv.port, client(0))).status, 0, 'the revoked certificate got in after a rejected reload');
      assert.equal((await attempt(srv.port, client(1))).status, 200);
    }
    writeFileSync(crlFile, good);
  });
});

describe('checkCrlBundle', () => {
  const dir = tempDir('gh-crl-unit-');
  after(() => dir.remove());

  test('a tampered CRL (one bit of its signed part flipped) and one past its nextUpdate are refused', async () => {
    const pki = await generateDevCertificates({ outDir: join(dir.path, 'a') });
    const ca = await loadDevCa(read(pki.caCert), read(join(dir.path, 'a', 'ca.key')));
    const serial = serialOf(pki.clients[0]?.cert as string);
    const pem = await issueCrl(ca, { entries: [{ serial, revokedAt: new Date() }], nowMs: Date.now(), validityMs: DAY });
    assert.deepEqual(checkCrlBundle(pem, read(pki.caCert), Date.now()).crls[0]?.revoked, [serial]);
    // One bit flipped inside the signed part (the revoked entry): the signature no longer matches.
    const b64 = pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
    const der = Buffer.from(b64, 'base64');
    der[der.length - 80] = (der[der.length - 80] as number) ^ 0x01;
    const tampered = `-----BEGIN X509 CRL-----\n${der.toString('base64')}\n-----END X509 CRL-----\n`;
    assert.throws(() => checkCrlBundle(tampered, read(pki.caCert), Date.now()), { code: 'GH_TLS_CRL_INVALID' });
    const nextYear = Date.now() + 400 * DAY;
    assert.throws(() => checkCrlBundle(pem, read(pki.caCert), nextYear), (e: Error & { code?: string }) => e.code === 'GH_TLS_CRL_INVALID' && /expired/.test(e.message));
  });

  test('crl_file without client_auth is a configuration error; an expired CRL stops the start', async () => {
    const pki = await generateDevCertificates({ outDir: join(dir.path, 'b') });
    const ca = await loadDevCa(read(pki.caCert), read(join(dir.path, 'b', 'ca.key')));
    const crl = join(dir.path, 'b', 'crl.pem');
    writeFileSync(crl, await issueCrl(ca, { entries: [], nowMs: Date.now() - 10 * DAY, validityMs: DAY }));
    const base = { cert_file: pki.serverCert, key_file: pki.serverKey, ca_file: pki.caCert, crl_file: crl, watch: false };
    const opts = { stateDir: dir.path, logger: memoryLogger(), profile: 'development' as const };
    assert.equal(await rejectionCode(createServerTls(tlsConfig({ ...base, client_auth: 'none' }), opts)), 'GH_CONFIG_INVALID');
    assert.equal(await rejectionCode(createServerTls(tlsConfig({ ...base, client_auth: 'require' }), opts)), 'GH_TLS_CRL_INVALID');
  });
});

describe('gatehouse certs revoke / crl', () => {
  const dir = tempDir('gh-crl-cli-');
  after(() => dir.remove());

  test('revoke adds once (idempotent), crl renews with the entries kept, bad input is a usage error', async () => {
    const pki = await generateDevCertificates({ outDir: join(dir.path, 'pki'), clientNames: ['a', 'b'] });
    const caDir = join(dir.path, 'pki');
    const crl = join(caDir, 'crl.pem');
    const revoke = await cli(['certs', 'revoke', '--ca', caDir, '--cert', pki.clients[1]?.cert as string]);
    assert.equal(revoke.code, 0, revoke.stderr);
    assert.match(revoke.stdout, /revoked +serial/);
    const again = await cli(['certs', 'revoke', '--ca', caDir, '--cert', pki.clients[1]?.cert as string]);
    assert.match(again.stdout, /already revoked/);
    const renewed = await cli(['certs', 'crl', '--ca', caDir, '--next-update', '7d']);
    assert.equal(renewed.code, 0, renewed.stderr);
    const { crls } = checkCrlBundle(read(crl), read(pki.caCert), Date.now());
    assert.deepEqual(crls[0]?.revoked, [serialOf(pki.clients[1]?.cert as string)]);
    assert.ok((crls[0]?.nextUpdate?.getTime() ?? 0) < Date.now() + 8 * DAY);
    for (const args of [
      ['certs', 'revoke', '--ca', caDir],
      ['certs', 'revoke', '--ca', caDir, '--serial', 'zz'],
      ['certs', 'revoke', '--ca', caDir, '--serial', '01', '--reason', 'because'],
      ['certs', 'crl', '--ca', caDir, '--next-update', 'soon'],
      ['certs', 'crl'],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /GH_USAGE/);
    }
    assert.doesNotMatch(revoke.stdout + revoke.stderr + renewed.stdout, /PRIVATE KEY/);
  });
});
