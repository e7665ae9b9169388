/**
 * mTLS `client_auth: request` and TLS 1.2 renegotiation. A client that completed the handshake with a certificate
 * from the trusted CA (or with none) renegotiated and presented a self-signed certificate in the second handshake:
 * Node left `socket.authorized` true (it sets only `authorizationError`) and emitted no second `secureConnection`,
 * so the check that cuts unverified certificates never ran, and the identity was read from the new, unverified
 * certificate — any CN the client chose. Now the server refuses renegotiation (SSL_OP_NO_RENEGOTIATION) and an
 * identity is only read from a socket with no authorization error. Real TLS handshakes on loopback, Node's client
 * with `setKeyCert` + `renegotiate`. Node's client sends its first certificate again when it renegotiates, so the
 * swap itself was shown in the review with an OpenSSL C client (SSL_use_certificate + SSL_renegotiate); these tests
 * prove the renegotiation it needs is refused, and that a socket in the state it left is not believed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createSecureContext, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { clientCertIdentity, generateDevCertificates, type GeneratedFiles } from '../../src/tls/index.js';
import { read, startHttps, tempDir, tlsConfig, type RunningHttps } from '../tls/helpers.js';

interface Attempt {
  firstIdentity: string | null | undefined;
  renegotiated: boolean;
  secondIdentity: string | null | undefined;
  error?: string;
}

function getOver(socket: TLSSocket): Promise<string | null | undefined> {
  return new Promise((resolve, reject) => {
    let data = '';
    const onData = (d: Buffer) => {
      data += d.toString();
      const end = data.indexOf('\r\n\r\n');
      const len = /content-length: (\d+)/i.exec(data);
      if (end >= 0 && len && data.length >= end + 4 + Number(len[1])) {
        socket.off('data', onData);
        const body = JSON.parse(data.slice(end + 4, end + 4 + Number(len[1]))) as { identity: { subject_cn?: string } | null };
        resolve(body.identity === null ? null : body.identity.subject_cn);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => resolve(undefined));
    socket.write('GET / HTTP/1.1\r\nhost: localhost\r\n\r\n');
  });
}

/** Handshake with `first` (or no certificate), ask who we are, renegotiate as `second`, ask again. */
async function swap(port: number, ca: string, first: { cert: string; key: string } | undefined, second: { cert: string; key: string }): Promise<Attempt> {
  const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', maxVersion: 'TLSv1.2', ...(first ?? {}) });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  const out: Attempt = { firstIdentity: await getOver(socket), renegotiated: false, secondIdentity: undefined };
  try {
    socket.setKeyCert(createSecureContext(second));
    // Settled by the renegotiation's end, or by the server's refusal (a no_renegotiation alert ends the connection).
    out.renegotiated = await new Promise<boolean>((resolve) => {
      const refused = (e?: Error) => {
        if (e) out.error = e.message;
        resolve(false);
      };
      socket.once('error', refused);
      socket.once('close', () => refused());
      socket.on('data', () => undefined);
      const ok = socket.renegotiate({ rejectUnauthorized: true }, (err) => {
        socket.off('error', refused);
        socket.removeAllListeners('data');
        if (err) out.error = err.message;
        resolve(!err);
      });
      if (!ok) resolve(false);
    });
    if (out.renegotiated) out.secondIdentity = await getOver(socket);
  } catch (e) {
    out.error = (e as Error).message;
  } finally {
    socket.destroy();
  }
  return out;
}

describe('mTLS client_auth request: no certificate swap by renegotiation', () => {
  const dir = tempDir();
  let files: GeneratedFiles;
  let rogue: GeneratedFiles;
  let srv: RunningHttps;
  let ca: string;

  before(async () => {
    files = await generateDevCertificates({ outDir: join(dir.path, 'ours'), clientNames: ['lowpriv'] });
    // Another CA's client certificate named as the admin: refused when presented in the first handshake.
    rogue = await generateDevCertificates({ outDir: join(dir.path, 'rogue'), clientNames: ['admin'] });
    srv = await startHttps(tlsConfig({ cert_file: files.serverCert, key_file: files.serverKey, ca_file: files.caCert, client_auth: 'request', min_version: 'tls12' }), { stateDir: dir.path });
    ca = read(files.caCert);
  });
  after(async () => {
    await srv.close();
    dir.remove();
  });

  const pair = (f: GeneratedFiles) => ({ cert: read(f.clients[0]?.cert as string), key: read(f.clients[0]?.key as string) });

  test('a trusted low-privilege certificate cannot be swapped for a rogue "admin" one', async () => {
    const r = await swap(srv.port, ca, pair(files), pair(rogue));
    assert.equal(r.firstIdentity, 'lowpriv', 'the first handshake identifies the trusted certificate');
    assert.notEqual(r.secondIdentity, 'admin', `the rogue certificate was believed after renegotiation: ${JSON.stringify(r)}`);
    assert.equal(r.renegotiated, false, `renegotiation is refused: ${JSON.stringify(r)}`);
  });

  test('a client without a certificate cannot present a rogue one by renegotiating', async () => {
    const r = await swap(srv.port, ca, undefined, pair(rogue));
    assert.equal(r.firstIdentity, null);
    assert.notEqual(r.secondIdentity, 'admin', `the rogue certificate was believed after renegotiation: ${JSON.stringify(r)}`);
    assert.equal(r.renegotiated, false, `renegotiation is refused: ${JSON.stringify(r)}`);
  });
});

test('a socket that verified once and then carries an authorization error yields no identity', async () => {
  const dir = tempDir();
  try {
    const files = await generateDevCertificates({ outDir: join(dir.path, 'ours'), clientNames: ['admin'] });
    const pem = read(files.clients[0]?.cert as string);
    const raw = new X509Certificate(pem).raw;
    const peer = { raw, subject: { CN: 'admin' }, fingerprint256: new X509Certificate(pem).fingerprint256 };
    // The state Node leaves after a renegotiation with a certificate that did not verify: authorized still true.
    const socket = (authorizationError: Error | undefined) => ({ authorized: true, authorizationError, getPeerCertificate: () => peer }) as unknown as TLSSocket;
    assert.equal(clientCertIdentity(socket(undefined))?.subject_cn, 'admin', 'a verified socket is believed');
    assert.equal(clientCertIdentity(socket(Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }))), undefined);
  } finally {
    dir.remove();
  }
});
