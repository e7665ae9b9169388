import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { startServe, type ServeProcess } from '../helpers/process.js';

/** A real TLS handshake with node's client; resolves with the negotiated protocol and the server certificate. */
function handshake(port: number, opts: { ca?: Buffer; minVersion?: 'TLSv1.2' | 'TLSv1.3'; maxVersion?: 'TLSv1.2' | 'TLSv1.3' }): Promise<{ protocol: string | null; cert: PeerCertificate; cipher: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...opts }, () => {
      const out = { protocol: socket.getProtocol(), cert: socket.getPeerCertificate(), cipher: socket.getCipher().standardName };
      socket.end();
      resolve(out);
    });
    socket.on('error', reject);
  });
}

describe('gatehouse serve on its embedded default (real process, real TLS)', () => {
  let home: string;
  let gw: ServeProcess;
  let ca: Buffer;
  let caPath: string;

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'gh-e2e-'));
    gw = await startServe(['--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: home });
    const m = /--cacert (\S+)/.exec(gw.stderr());
    assert.ok(m, 'the banner shows a curl line with --cacert');
    caPath = m[1] as string;
    assert.ok(caPath.startsWith(home), 'the dev CA lives under GATEHOUSE_HOME');
    ca = readFileSync(caPath);
  });
  after(async () => {
    await gw.stop('SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  test('prints once how to call it: the URLs and a curl line with --cacert', () => {
    const banner = gw.stderr();
    assert.match(banner, /https:\/\/127\.0\.0\.1:\d+\/echo/);
    assert.match(banner, /https:\/\/127\.0\.0\.1:\d+\/mcp/);
    assert.match(banner, /curl --cacert \S+ .*\/echo/);
    assert.equal(banner.match(/listening on/g)?.length, 1);
  });

  test('TLS 1.3 handshake verifies against the generated dev CA', async () => {
    const r = await handshake(gw.port, { ca });
    assert.equal(r.protocol, 'TLSv1.3');
  });

  test('TLS 1.2 handshake negotiates a cipher from Mozilla intermediate', async () => {
    const r = await handshake(gw.port, { ca, maxVersion: 'TLSv1.2' });
    assert.equal(r.protocol, 'TLSv1.2');
    assert.match(r.cipher, /^TLS_ECDHE_(ECDSA|RSA)_WITH_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)$/);
  });

  test('a client that does not trust the dev CA is refused', async () => {
    await assert.rejects(handshake(gw.port, {}), /self.signed|unable to (get|verify)/i);
  });

  test('openssl s_client with TLS 1.1 is refused (min_version tls12)', () => {
    const r = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${gw.port}`, '-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0'], { input: '', encoding: 'utf8', timeout: 10_000 });
    assert.notEqual(r.status, 0, r.stdout);
    // The server answers with a protocol_version alert: no cipher is ever negotiated.
    assert.match(r.stdout, /Cipher is \(NONE\)/);
    assert.match(r.stderr, /alert protocol version|no protocols available|unsupported protocol/i);
  });

  test('HTTPS responses carry HSTS, liveness answers', async () => {
    const { Agent, request } = await import('undici');
    const dispatcher = new Agent({ connect: { ca } });
    try {
      const res = await request(`https://localhost:${gw.port}/healthz`, { dispatcher });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['strict-transport-security']), /^max-age=31536000; includeSubDomains/);
      await res.body.dump();
    } finally {
      await dispatcher.close();
    }
  });

  test('a second start reuses the dev CA and certificate; SIGTERM exits 0', async () => {
    const first = await handshake(gw.port, { ca });
    assert.equal(await gw.stop(), 0);
    gw = await startServe(['--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: home });
    const second = await handshake(gw.port, { ca: readFileSync(caPath) });
    assert.equal(second.cert.fingerprint256, first.cert.fingerprint256);
  });
});
