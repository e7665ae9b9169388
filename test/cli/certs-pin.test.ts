/** `gatehouse certs pin` (docs/tls.md § Pinning upstream keys): pins from PEM files, and from a live loopback upstream. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevCa, issueCertificate, type DevCa, type IssuedCertificate } from '../../src/tls/index.js';
import { cli } from '../helpers/cli.js';

/** The pipeline docs/tls.md gives, run by the real openssl. */
const opensslPin = (file: string): string =>
  execFileSync('/bin/sh', ['-c', 'openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64', 'sh', file], { encoding: 'utf8' }).trim();

async function startHttps(certPem: string, keyPem: string): Promise<{ port: number; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const server: Server = createServer({ cert: certPem, key: keyPem }, (_req, res) => {
    hits++;
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    hits: () => hits,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

describe('gatehouse certs pin', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-pin-cli-'));
  let ca: DevCa;
  let leaf: IssuedCertificate;
  const file = (name: string): string => join(dir, name);

  before(async () => {
    ca = await createDevCa({ commonName: 'Pin Test CA' });
    leaf = await issueCertificate(ca, { commonName: 'billing.internal', usage: 'server', hosts: ['billing.internal', '127.0.0.1'] });
    writeFileSync(file('ca.crt'), ca.certPem);
    writeFileSync(file('leaf.crt'), leaf.certPem);
    // A chain file with the key in it too: the key is ignored and never printed.
    writeFileSync(file('chain.pem'), leaf.certPem + leaf.keyPem + ca.certPem);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('--cert prints, per certificate, the pin openssl computes, whether it is a CA, and its CN', async () => {
    const r = await cli(['certs', 'pin', '--cert', file('chain.pem')]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.deepEqual(lines, [`${opensslPin(file('leaf.crt'))}  ca=no   CN=billing.internal`, `${opensslPin(file('ca.crt'))}  ca=yes  CN=Pin Test CA`]);
    assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY/);
    const one = await cli(['certs', 'pin', '--cert', 'leaf.crt'], { cwd: dir });
    assert.equal(one.stdout.split(' ')[0], opensslPin(file('leaf.crt')));
  });

  test('--cert --json', async () => {
    const r = await cli(['certs', 'pin', '--cert', file('chain.pem'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { certificates: { pin: string; subject_cn: string; ca: boolean; subject: string }[] };
    assert.deepEqual(out.certificates.map((c) => [c.pin, c.subject_cn, c.ca]), [
      [opensslPin(file('leaf.crt')), 'billing.internal', false],
      [opensslPin(file('ca.crt')), 'Pin Test CA', true],
    ]);
  });

  test('--connect prints the pins of the presented chain, says it verified nothing, and gives a YAML snippet', async () => {
    const upstream = await startHttps(leaf.certPem, leaf.keyPem);
    try {
      const r = await cli(['certs', 'pin', '--connect', `127.0.0.1:${upstream.port}`, '--servername', 'billing.internal']);
      assert.equal(r.code, 0, r.stderr);
      const leafPin = opensslPin(file('leaf.crt'));
      assert.match(r.stdout, /NOT VERIFIED/);
      assert.ok(r.stdout.includes(`${leafPin}  ca=no   CN=billing.internal`), r.stdout);
      // The CA the client might trust locally is not shown: it was not sent.
      assert.ok(!r.stdout.includes(opensslPin(file('ca.crt'))), r.stdout);
      assert.match(r.stdout, /root CA was not sent/);
      assert.ok(r.stdout.includes(`  tls:\n    pin_sha256:\n      - "${leafPin}"  # CN=billing.internal\n`), r.stdout);
      assert.equal(upstream.hits(), 0, 'no HTTP request is made');
      const json = await cli(['certs', 'pin', '--connect', `127.0.0.1:${upstream.port}`, '--json']);
      assert.equal(json.code, 0, json.stderr);
      const out = JSON.parse(json.stdout) as { verified: boolean; servername: string | null; pin_sha256: string[]; root_sent: boolean };
      assert.deepEqual([out.verified, out.servername, out.pin_sha256, out.root_sent], [false, null, [leafPin], false]);
    } finally {
      await upstream.close();
    }
  });

  test('--connect shows a CA the server sends, leaf first', async () => {
    const upstream = await startHttps(leaf.certPem + ca.certPem, leaf.keyPem);
    try {
      const r = await cli(['certs', 'pin', '--connect', `127.0.0.1:${upstream.port}`, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { pin_sha256: string[]; root_sent: boolean };
      assert.deepEqual(out.pin_sha256, [opensslPin(file('leaf.crt')), opensslPin(file('ca.crt'))]);
      assert.equal(out.root_sent, true);
    } finally {
      await upstream.close();
    }
  });

  test('--help says the connection is not verified', async () => {
    const r = await cli(['certs', 'pin', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /VERIFIES NOTHING/);
    assert.match(r.stdout, /--connect HOST:PORT/);
  });

  test('misuse exits 2; an unreachable server or a file without certificates exits 1', async () => {
    for (const argv of [[], ['--cert', file('leaf.crt'), '--connect', '127.0.0.1:1'], ['--cert', file('leaf.crt'), '--servername', 'x'], ['--connect', 'no-port'], ['--connect', '127.0.0.1:70000'], ['extra']]) {
      const r = await cli(['certs', 'pin', ...argv]);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /GH_USAGE/);
    }
    const refused = await cli(['certs', 'pin', '--connect', '127.0.0.1:1']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /GH_UPSTREAM_UNAVAILABLE: no TLS handshake with 127\.0\.0\.1:1 \(ECONNREFUSED\)/);
    writeFileSync(file('empty.pem'), 'nothing here\n');
    const empty = await cli(['certs', 'pin', '--cert', file('empty.pem')]);
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /GH_TLS_CERT_INVALID/);
    const missing = await cli(['certs', 'pin', '--cert', file('missing.pem')]);
    assert.equal(missing.code, 2);
  });
});
