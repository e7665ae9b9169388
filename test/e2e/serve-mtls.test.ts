import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { generateDevCertificates } from '../../src/tls/index.js';
import { runCliProcess, startServe, type ServeProcess } from '../helpers/process.js';

interface TlsResult {
  status: number;
  body: string;
  cert: PeerCertificate;
}

/** One HTTPS request over a fresh real TLS connection, optionally presenting a client certificate. */
function get(port: number, path: string, opts: { ca: Buffer; cert?: Buffer; key?: Buffer }): Promise<TlsResult> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: opts.ca, ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}) }, () => {
      const cert = socket.getPeerCertificate();
      socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
      let data = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (data += d));
      socket.on('end', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0), body: data.slice(data.indexOf('\r\n\r\n') + 4), cert }));
    });
    socket.on('error', reject);
  });
}

describe('mTLS and certificate rotation through a running gateway (real process)', () => {
  let dir: string;
  let gw: ServeProcess;
  let ca: Buffer;
  const files = (name: string) => readFileSync(join(dir, 'certs', name));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gh-mtls-'));
    const made = await runCliProcess(['certs', 'dev', '--out', join(dir, 'certs'), '--host', 'localhost', '--host', '127.0.0.1', '--client', 'agent-1', '--client', 'intruder'], { GATEHOUSE_HOME: join(dir, 'home') });
    assert.equal(made.code, 0, made.stderr);
    ca = files('ca.crt');
    // The certificate the gateway serves lives in its own directory, so the test can swap it on disk.
    copyFileSync(join(dir, 'certs', 'server.crt'), join(dir, 'live.crt'));
    copyFileSync(join(dir, 'certs', 'server.key'), join(dir, 'live.key'));
    writeFileSync(
      join(dir, 'gatehouse.yaml'),
      [
        'server:',
        '  tls:',
        `    cert_file: ${join(dir, 'live.crt')}`,
        `    key_file: ${join(dir, 'live.key')}`,
        `    ca_file: ${join(dir, 'certs', 'ca.crt')}`,
        '    client_auth: require',
        '    mtls_allowed_common_names: [agent-1]',
        'demo: { enabled: true }',
        'routes:',
        '  - { name: echo, prefix: /echo, upstream: "demo:echo" }',
        'auth:',
        '  methods: [mtls]',
        '  mtls:',
        '    map:',
        '      - { cn: agent-1, principal: agent-1, scopes: [readonly] }',
        'authz:',
        '  routes:',
        '    - { path: "/echo/*", scopes: [system:read] }',
        '',
      ].join('\n'),
    );
    gw = await startServe(['--config', join(dir, 'gatehouse.yaml'), '--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: join(dir, 'home') });
  });
  after(async () => {
    await gw?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  test('the generated client certificate is accepted and becomes the principal', async () => {
    const r = await get(gw.port, '/echo/hi', { ca, cert: files('client.crt'), key: files('client.key') });
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, /gatehouse-demo-echo/);
  });

  test('no client certificate: the handshake is refused', async () => {
    const r = await get(gw.port, '/echo/hi', { ca }).catch((e: Error) => e);
    if (r instanceof Error) assert.match(r.message, /certificate|alert|ECONNRESET|socket hang up/i);
    else assert.equal(r.status, 0, `got HTTP ${r.status}`);
  });

  test('a certificate with an unlisted CN from the same CA is refused', async () => {
    const r = await get(gw.port, '/echo/hi', { ca, cert: files('client-intruder.crt'), key: files('client-intruder.key') }).catch((e: Error) => e);
    if (r instanceof Error) assert.match(r.message, /certificate|alert|ECONNRESET|socket hang up/i);
    else {
      assert.equal(r.status, 403, r.body);
      assert.match(r.body, /GH_TLS_CLIENT_NOT_ALLOWED/);
    }
  });

  test('the admin API applies the same allow-list: an unlisted CN never reaches it', async () => {
    const r = await get(gw.port, '/_gatehouse/approvals', { ca, cert: files('client-intruder.crt'), key: files('client-intruder.key') }).catch((e: Error) => e);
    if (r instanceof Error) assert.match(r.message, /certificate|alert|ECONNRESET|socket hang up/i);
    else {
      assert.equal(r.status, 403, r.body);
      assert.match(r.body, /GH_TLS_CLIENT_NOT_ALLOWED/);
    }
  });

  test('a certificate for the allowed CN signed by another CA is refused', async () => {
    const other = await generateDevCertificates({ outDir: join(dir, 'other'), hosts: ['localhost'], clientNames: ['agent-1'] });
    const client = other.clients[0] as { cert: string; key: string };
    // With TLS 1.3 the client finishes its side of the handshake before the server checks the certificate, so the
    // refusal arrives as an alert instead of a response: either way, no HTTP response comes back.
    const r = await get(gw.port, '/echo/hi', { ca, cert: readFileSync(client.cert), key: readFileSync(client.key) }).catch((e: Error) => e);
    if (r instanceof Error) assert.match(r.message, /certificate|alert|ECONNRESET|socket hang up/i);
    else assert.equal(r.status, 0, `got HTTP ${r.status}: ${r.body.slice(0, 200)}`);
  });

  test('a certificate swapped on disk is served to new connections without restart', async () => {
    const client = { ca, cert: files('client.crt'), key: files('client.key') };
    const before = await get(gw.port, '/echo/a', client);
    const fresh = await generateDevCertificates({
      outDir: join(dir, 'rotated'),
      hosts: ['localhost', '127.0.0.1'],
      ca: { certPem: files('ca.crt').toString(), keyPem: files('ca.key').toString() },
    });
    assert.notEqual(fresh.serverFingerprint256, before.cert.fingerprint256);
    // Replace by rename, as certbot and editors do: key first, then certificate.
    copyFileSync(fresh.serverKey, join(dir, 'next.key'));
    copyFileSync(fresh.serverCert, join(dir, 'next.crt'));
    renameSync(join(dir, 'next.key'), join(dir, 'live.key'));
    renameSync(join(dir, 'next.crt'), join(dir, 'live.crt'));
    let seen = before.cert.fingerprint256;
    for (let i = 0; i < 100 && seen !== fresh.serverFingerprint256; i++) {
      await new Promise((r) => setTimeout(r, 100));
      seen = (await get(gw.port, '/echo/a', client)).cert.fingerprint256;
    }
    assert.equal(seen, fresh.serverFingerprint256);
    const after = await get(gw.port, '/echo/b', client);
    assert.equal(after.status, 200);
  });
});
