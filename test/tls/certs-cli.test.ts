import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';
import { checkCertificatePair } from '../../src/tls/index.js';
import { read, tempDir } from './helpers.js';

const mode = (p: string): number => statSync(p).mode & 0o777;

describe('gatehouse certs', () => {
  const dir = tempDir();
  after(() => dir.remove());

  test('certs dev writes CA, server and client certificates with 0600 keys, relative to the working directory', async () => {
    const r = await cli(['certs', 'dev', '--out', 'pki', '--host', 'gw.internal', '--client', 'agent-a', '--client', 'agent-b'], { cwd: dir.path });
    assert.equal(r.code, 0, r.stderr);
    const out = join(dir.path, 'pki');
    for (const k of ['ca.key', 'server.key', 'client.key', 'client-agent-b.key']) assert.equal(mode(join(out, k)), 0o600, k);
    const server = new X509Certificate(read(join(out, 'server.crt')));
    assert.equal(server.checkHost('gw.internal'), 'gw.internal');
    assert.match(new X509Certificate(read(join(out, 'client.crt'))).subject, /CN=agent-a/);
    assert.doesNotThrow(() => checkCertificatePair(read(join(out, 'client-agent-b.crt')), read(join(out, 'client-agent-b.key')), Date.now()));
    assert.match(r.stdout, new RegExp(server.fingerprint256));
    assert.match(r.stdout, /mtls_allowed_common_names: \[agent-a, agent-b\]/);
    assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY/);
  });

  test('certs dev refuses to overwrite without --force, and replaces with it', async () => {
    const before = read(join(dir.path, 'pki', 'ca.crt'));
    const refused = await cli(['certs', 'dev', '--out', 'pki'], { cwd: dir.path });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /GH_USAGE.*--force/);
    assert.equal(read(join(dir.path, 'pki', 'ca.crt')), before);
    const forced = await cli(['certs', 'dev', '--out', 'pki', '--force'], { cwd: dir.path });
    assert.equal(forced.code, 0, forced.stderr);
    assert.notEqual(read(join(dir.path, 'pki', 'ca.crt')), before);
  });

  test('certs dev --ca signs with an existing CA and does not copy its key', async () => {
    const r = await cli(['certs', 'dev', '--out', 'more', '--ca', 'pki', '--client', 'agent-c'], { cwd: dir.path });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(join(dir.path, 'more', 'ca.key')), false);
    const ca = new X509Certificate(read(join(dir.path, 'pki', 'ca.crt')));
    assert.ok(new X509Certificate(read(join(dir.path, 'more', 'client.crt'))).verify(ca.publicKey));
  });

  test('certs dev without --out, or with a bad host, is a usage error (exit 2)', async () => {
    assert.equal((await cli(['certs', 'dev'], { cwd: dir.path })).code, 2);
    const bad = await cli(['certs', 'dev', '--out', 'bad', '--host', 'not a host'], { cwd: dir.path });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /GH_USAGE/);
  });

  test('certs inspect shows subject, SANs, validity and fingerprint; --json too', async () => {
    const file = join(dir.path, 'pki', 'server.crt');
    const fp = new X509Certificate(read(file)).fingerprint256;
    const text = await cli(['certs', 'inspect', file]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /subject +CN=localhost/);
    assert.match(text.stdout, /SANs +IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1, DNS:localhost\n/);
    assert.match(text.stdout, /days left/);
    assert.ok(text.stdout.includes(fp));
    const json = await cli(['certs', 'inspect', file, '--json']);
    const parsed = JSON.parse(json.stdout) as { fingerprint256: string; ca: boolean; days_left: number };
    assert.equal(parsed.fingerprint256, fp);
    assert.equal(parsed.ca, false);
    assert.ok(parsed.days_left > 390);
  });

  test('certs inspect on a key file prints no key material and fails', async () => {
    const r = await cli(['certs', 'inspect', join(dir.path, 'pki', 'server.key')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /GH_TLS_CERT_INVALID/);
    assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY|MI[A-Za-z0-9+/]{20}/);
  });

  test('operator-named files are read bounded: a device (size 0, no end) is refused at once by certs inspect, audit verify --pubkey and redact --rules', async () => {
    for (const argv of [['certs', 'inspect', '/dev/zero'], ['audit', 'verify', '--pubkey', '/dev/zero', dir.path], ['redact', '--rules', '/dev/zero']]) {
      const r = await cli(argv, { stdin: 'x' });
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /not a regular file/, argv.join(' '));
    }
  });

  test('gatehouse certs --help lists dev and inspect', async () => {
    const r = await cli(['certs', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /dev +write a development CA/);
    assert.match(r.stdout, /inspect +show subject/);
  });
});
