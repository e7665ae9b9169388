/**
 * Protocol downgrade against the server, with a real `openssl s_client` (issue 2, "Done when").
 *
 * OpenSSL 3's own client refuses TLS 1.0/1.1 at its default security level 1, so every s_client here runs with
 * `-cipher DEFAULT@SECLEVEL=0`: the client is then willing, and the only thing deciding is the server's policy.
 * A refusal is asserted by the server's protocol_version alert (number 70), not by a client-side failure.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startHttps, tempDir, tlsConfig, type RunningHttps } from '../tls/helpers.js';

interface SClient {
  code: number | null;
  protocol: string | undefined;
  cipher: string | undefined;
  output: string;
}

function sClient(port: number, args: string[]): Promise<SClient> {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-ign_eof', '-cipher', 'DEFAULT@SECLEVEL=0', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
    p.stdout.on('data', (c: Buffer) => (output += c.toString()));
    p.stderr.on('data', (c: Buffer) => (output += c.toString()));
    p.on('error', reject);
    p.stdin.end('GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n');
    p.on('close', (code) => {
      clearTimeout(timer);
      const cipher = /Cipher\s+:\s+(\S+)/.exec(output)?.[1];
      resolve({ code, protocol: /Protocol\s+:\s+(\S+)/.exec(output)?.[1], cipher: cipher === '0000' ? undefined : cipher, output });
    });
  });
}

const PROTOCOL_VERSION_ALERT = /alert protocol version|alert number 70/;

describe('TLS downgrade with openssl s_client, min_version tls12 (default)', () => {
  const dir = tempDir();
  let srv: RunningHttps;
  before(async () => {
    srv = await startHttps(tlsConfig(), { stateDir: dir.path });
  });
  after(async () => {
    await srv.close();
    dir.remove();
  });

  test('TLS 1.1 is refused by the server with a protocol_version alert', async () => {
    const r = await sClient(srv.port, ['-tls1_1']);
    assert.notEqual(r.code, 0);
    assert.match(r.output, PROTOCOL_VERSION_ALERT);
    assert.equal(r.cipher, undefined);
    assert.doesNotMatch(r.output, /HTTP\/1\.1 200/);
  });

  test('TLS 1.0 is refused by the server with a protocol_version alert', async () => {
    const r = await sClient(srv.port, ['-tls1']);
    assert.notEqual(r.code, 0);
    assert.match(r.output, PROTOCOL_VERSION_ALERT);
  });

  test('the same willing client gets TLS 1.2 with an AEAD cipher (the refusal is the server policy, not the client)', async () => {
    const r = await sClient(srv.port, ['-tls1_2']);
    assert.equal(r.code, 0);
    assert.equal(r.protocol, 'TLSv1.2');
    assert.match(String(r.cipher), /GCM|CHACHA20/);
    assert.match(r.output, /HTTP\/1\.1 200/);
  });
});

describe('TLS 1.1 only with insecure_allow_legacy_tls', () => {
  const dir = tempDir();
  let srv: RunningHttps;
  before(async () => {
    srv = await startHttps(tlsConfig({ min_version: 'tls11', insecure_allow_legacy_tls: true }), { stateDir: dir.path });
  });
  after(async () => {
    await srv.close();
    dir.remove();
  });

  test('TLS 1.1 completes and serves a request (server adds @SECLEVEL=0 and CBC suites)', async () => {
    const r = await sClient(srv.port, ['-tls1_1']);
    assert.equal(r.code, 0, r.output.slice(-400));
    assert.equal(r.protocol, 'TLSv1.1');
    assert.match(String(r.cipher), /^ECDHE-/);
    assert.match(r.output, /HTTP\/1\.1 200/);
  });

  test('TLS 1.0 stays refused below the configured tls11', async () => {
    const r = await sClient(srv.port, ['-tls1']);
    assert.notEqual(r.code, 0);
    assert.match(r.output, PROTOCOL_VERSION_ALERT);
  });

  test('a modern client is not weakened: TLS 1.2 still negotiates an AEAD cipher in server order', async () => {
    const r = await sClient(srv.port, ['-tls1_2']);
    assert.equal(r.protocol, 'TLSv1.2');
    assert.match(String(r.cipher), /GCM|CHACHA20/);
  });
});
