/**
 * The outbound secure client (gatehouse/client, docs/client.md), against real peers: an HTTPS server with a dev CA
 * (verification, server name, mutual TLS, TLS versions), a real OpenID provider (oidc-provider) issuing client
 * credentials tokens, and a real Gatehouse gateway that accepts those tokens and decrypts client-encrypted bodies.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttp } from 'node:http';
import { createServer as createHttps, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig, type ClientConfig } from '../../src/config/index.js';
import { createSecureClient } from '../../src/client/index.js';
import { generateDevCertificates, type GeneratedFiles } from '../../src/tls/index.js';
import { startGateway } from '../../src/gateway/start.js';
import { memoryLogger, startRecordingUpstream } from '../helpers/gateway.js';
import { AUDIENCE, BASIC_CLIENT, CLIENT, signingJwk, startProvider } from '../helpers/oidc.js';

const clientConfig = (client: Record<string, unknown>): ClientConfig => validateConfig({ client }, { env: {} }).client;

describe('secure client: TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-client-tls-'));
  let files: GeneratedFiles;
  let server: HttpsServer;
  let url: string;
  let seen: { cn?: string; headers?: Record<string, unknown> } = {};

  before(async () => {
    files = await generateDevCertificates({ outDir: dir, hosts: ['localhost', '127.0.0.1'], clientNames: ['agent-1'] });
    server = createHttps({ cert: readFileSync(files.serverCert), key: readFileSync(files.serverKey), ca: readFileSync(files.caCert), requestCert: true, rejectUnauthorized: false, maxVersion: 'TLSv1.3' }, (req, res) => {
      const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
      seen = { ...(peer && peer.subject ? { cn: String(peer.subject.CN) } : {}), headers: req.headers };
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://localhost:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('verifies the server against ca_file; without it the dev CA is not trusted and nothing is sent', async () => {
    const ok = createSecureClient(clientConfig({ url, security: { tls: { ca_file: files.caCert }, auth: { type: 'token', token: 'tok-abc-0123456789' } } }));
    const res = await ok.request('/x');
    assert.equal(res.status, 200);
    assert.equal(seen.headers?.['authorization'], 'Bearer tok-abc-0123456789');
    await ok.close();
    seen = {};
    const untrusted = createSecureClient(clientConfig({ url, security: { auth: { type: 'token', token: 'tok-abc-0123456789' } } }));
    await assert.rejects(untrusted.request('/x'), (e: Error & { code?: string }) => /SELF_SIGNED|UNABLE_TO_VERIFY|unable to verify|self.signed/i.test(`${e.code} ${e.message} ${String((e as { cause?: unknown }).cause)}`));
    assert.deepEqual(seen, {}, 'the request reached the server');
    await untrusted.close();
  });

  test('server_name must match the certificate', async () => {
    const c = createSecureClient(clientConfig({ url, security: { tls: { ca_file: files.caCert, server_name: 'logs.example.com' } } }));
    await assert.rejects(c.request('/x'), (e: Error) => /altnames|ERR_TLS_CERT_ALTNAME_INVALID|does not match/i.test(`${e.message} ${String((e as { code?: string }).code)}`));
    await c.close();
  });

  test('mutual TLS: the client certificate reaches the server', async () => {
    const client = files.clients[0] as { cert: string; key: string };
    const c = createSecureClient(clientConfig({ url, security: { tls: { ca_file: files.caCert, cert_file: client.cert, key_file: client.key } } }));
    assert.equal((await c.request('/x')).status, 200);
    assert.equal(seen.cn, 'agent-1');
    await c.close();
  });

  test('insecure_skip_verify connects in development (warned) and is refused in production; plain http with TLS on is refused', async () => {
    const lines: string[] = [];
    const c = createSecureClient(clientConfig({ url, security: { tls: { insecure_skip_verify: true } } }), { logger: memoryLogger(lines) });
    assert.equal((await c.request('/x')).status, 200);
    assert.match(lines.join('\n'), /insecure_skip_verify/);
    await c.close();
    assert.throws(() => createSecureClient(clientConfig({ url, security: { tls: { insecure_skip_verify: true } } }), { profile: 'production' }), { code: 'GH_CONFIG_PRODUCTION_REFUSED' });
    const plain = createSecureClient(clientConfig({ security: { auth: { type: 'token', token: 'tok-abc-0123456789' } } }));
    await assert.rejects(plain.request('http://203.0.113.5/x'), /plain http to another host/);
    await assert.rejects(plain.request('https://user:pw@localhost/x'), /credentials in the URL/);
    await plain.close();
  });

  test('min_version tls13 against a server that stops at TLS 1.2 fails the handshake', async () => {
    const s12 = createHttps({ cert: readFileSync(files.serverCert), key: readFileSync(files.serverKey), maxVersion: 'TLSv1.2' }, (_q, r) => r.end('ok'));
    await new Promise<void>((r) => s12.listen(0, '127.0.0.1', r));
    try {
      const base = `https://localhost:${(s12.address() as AddressInfo).port}`;
      const c13 = createSecureClient(clientConfig({ url: base, security: { tls: { ca_file: files.caCert, min_version: 'tls13' } } }));
      await assert.rejects(c13.request('/'), (e: Error) => /version|protocol|alert/i.test(`${e.message} ${String((e as { code?: string }).code)}`));
      await c13.close();
      const c12 = createSecureClient(clientConfig({ url: base, security: { tls: { ca_file: files.caCert } } }));
      assert.equal((await c12.request('/')).status, 200);
      await c12.close();
    } finally {
      s12.closeAllConnections();
      s12.close();
    }
  });
});

describe('secure client: OAuth 2.0 client credentials through a gateway', () => {
  test('tokens from a real OpenID provider: fetched once for many requests, accepted by the gateway; a bad secret is GH_OAUTH_TOKEN_FAILED without the secret', async (t) => {
    const op = await startProvider();
    op.configure([await signingJwk('k1')]);
    const upstream = await startRecordingUpstream();
    const dir = mkdtempSync(join(tmpdir(), 'gh-client-oauth-'));
    const cfg = validateConfig({
      state_dir: dir,
      server: { tls: { enabled: false } },
      routes: [{ name: 'logs', prefix: '/logs', upstream: upstream.url }],
      auth: { methods: ['jwt'], jwt: { issuers: [{ issuer: op.issuer, jwks_url: `${op.issuer}/jwks`, audience: AUDIENCE, tenant_claim: 'tenant', principal_type: 'service' }] } },
      authz: { routes: [{ path: '/logs/*', scopes: ['container:read'] }] },
    }, { env: {} });
    const gw = await startGateway(cfg, { listen: '127.0.0.1:0', logger: memoryLogger() });
    t.after(async () => {
      await gw.close(2000);
      await upstream.close();
      await op.close();
      rmSync(dir, { recursive: true, force: true });
    });
    for (const [client, method] of [[BASIC_CLIENT, 'client_secret_basic'], [CLIENT, 'client_secret_post']] as const) {
      const c = createSecureClient(clientConfig({
        url: gw.url,
        security: { tls: { enabled: false }, auth: { type: 'oauth2', client_id: client.client_id, client_secret: client.client_secret, token_url: `${op.issuer}/token`, scopes: ['container:read'], resource: AUDIENCE, auth_method: method } },
      }));
      const before = op.tokenRequests();
      for (let i = 0; i < 3; i++) assert.equal((await c.request(`/logs/ingest-${i}`, { method: 'POST', body: 'line' })).status, 200, method);
      assert.equal(op.tokenRequests() - before, 1, `${method}: one token for three requests`);
      const auth = upstream.requests.at(-1)?.headers['authorization'];
      assert.equal(auth, undefined, 'the gateway strips the client\'s token before the upstream');
      await c.close();
    }
    const bad = createSecureClient(clientConfig({
      url: gw.url,
      security: { tls: { enabled: false }, auth: { type: 'oauth2', client_id: CLIENT.client_id, client_secret: 'wrong-secret-value-9999', token_url: `${op.issuer}/token`, auth_method: 'client_secret_post' } },
    }));
    await assert.rejects(bad.request('/logs/x'), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'GH_OAUTH_TOKEN_FAILED');
      assert.match(e.message, /invalid_client/);
      assert.ok(!e.message.includes('wrong-secret-value-9999'));
      return true;
    });
    await bad.close();
  });

  test('a token the resource server refuses (401) is replaced once and the request retried; a server that refuses every token gets one retry, not a loop', async (t) => {
    const op = await startProvider();
    op.configure([await signingJwk('k1')]);
    const tokens: string[] = [];
    let refuseAll = false;
    // A resource server that no longer accepts the first token it sees (as after a revocation at the provider).
    const rs = createHttp((req, res) => {
      const auth = String(req.headers['authorization'] ?? '');
      tokens.push(auth);
      res.statusCode = refuseAll || auth === tokens[0] ? 401 : 200;
      res.end();
    });
    await new Promise<void>((r) => rs.listen(0, '127.0.0.1', r));
    t.after(async () => {
      rs.closeAllConnections();
      rs.close();
      await op.close();
    });
    const c = createSecureClient(clientConfig({
      url: `http://127.0.0.1:${(rs.address() as AddressInfo).port}`,
      security: { tls: { enabled: false }, auth: { type: 'oauth2', client_id: CLIENT.client_id, client_secret: CLIENT.client_secret, token_url: `${op.issuer}/token`, scopes: ['container:read'], resource: AUDIENCE, auth_method: 'client_secret_post' } },
    }));
    assert.equal((await c.request('/a', { method: 'POST', body: 'replayable' })).status, 200);
    assert.equal(op.tokenRequests(), 2, 'a second token after the 401');
    assert.equal(tokens.length, 2);
    assert.notEqual(tokens[0], tokens[1]);
    refuseAll = true;
    assert.equal((await c.request('/b')).status, 401);
    assert.equal(tokens.length, 4, 'one retry, then the 401 is the answer');
    await c.close();
  });
});

describe('secure client: encrypted bodies', () => {
  test('a body encrypted with seed 000\'s key_file is decrypted by the gateway and reaches the upstream as plaintext', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-client-enc-'));
    const keyFile = join(dir, 'data.key');
    writeFileSync(keyFile, randomBytes(32).toString('hex'), { mode: 0o600 });
    const upstream = await startRecordingUpstream();
    const cfg = validateConfig({
      state_dir: join(dir, 'state'),
      server: { tls: { enabled: false } },
      routes: [{ name: 'api', prefix: '/api', upstream: upstream.url }],
      auth: { methods: ['header'], header: { headers: { 'X-API-Key': 'client-header-key-0123456789' } } },
      authz: { routes: [{ path: '/api/*', any_authenticated: true }] },
      encryption: { enabled: true, key_file: keyFile, key_id: 'key-2023', request_bodies: { enabled: true } },
    }, { env: {} });
    t.after(async () => {
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const gw = await startGateway(cfg, { listen: '127.0.0.1:0', logger: memoryLogger() });
    t.after(() => gw.close(2000));
    const c = createSecureClient(clientConfig({
      url: gw.url,
      security: {
        tls: { enabled: false },
        auth: { type: 'header', headers: { 'X-API-Key': 'client-header-key-0123456789' } },
        encryption: { enabled: true, key_file: keyFile, key_id: 'key-2023', route: 'api' },
      },
    }));
    const res = await c.request('/api/orders', { method: 'POST', body: '{"order":42}', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(upstream.requests.at(-1)?.body, '{"order":42}');
    // Bound to its route: the same client pointed at another route's context is refused by the gateway.
    const wrong = await c.request('/api/orders', { method: 'POST', body: '{"order":43}', route: 'other' });
    assert.equal(wrong.status, 400);
    await c.close();
  });
});
