/**
 * Attack: receive the secure client's OAuth client secret at a token endpoint whose certificate is not valid for the
 * token endpoint's host. The client's `security.tls` block (server_name, insecure_skip_verify) is about the resource
 * server; reusing its connection settings for token_url checks the token endpoint's certificate against the resource
 * server's name, or not at all. Whoever holds a certificate for the resource server (the resource server itself, or
 * anyone with its key) then collects the client secret by answering for the token endpoint's address.
 * Expected: the token endpoint is verified for its own host name, whatever the resource server's TLS settings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/index.js';
import { createSecureClient } from '../../src/client/index.js';
import { createDevCa, issueCertificate } from '../../src/tls/index.js';

const SECRET = 'fake-client-secret-0123456789';

async function endpointWithCertFor(t: import('node:test').TestContext, name: string): Promise<{ url: string; caFile: string; secretsSeen: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-attack-token-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await createDevCa();
  const leaf = await issueCertificate(ca, { commonName: name, usage: 'server', hosts: [name] });
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, ca.certPem);
  const secretsSeen: string[] = [];
  const server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const basic = req.headers.authorization?.startsWith('Basic ') ? Buffer.from(req.headers.authorization.slice(6), 'base64').toString() : '';
      if (basic.includes(SECRET) || body.includes(SECRET)) secretsSeen.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(req.url === '/token' ? JSON.stringify({ access_token: 'fake-access-token', token_type: 'Bearer', expires_in: 300 }) : '{}');
    });
  });
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caFile, secretsSeen };
}

const oauth = (tokenUrl: string) => ({ type: 'oauth2', client_id: 'agent', client_secret: SECRET, token_url: tokenUrl });

test('client oauth2: server_name (meant for the resource server) does not vouch for the token endpoint', async (t) => {
  // The certificate names logs.example.test only; the token endpoint is 127.0.0.1.
  const ep = await endpointWithCertFor(t, 'logs.example.test');
  const cfg = validateConfig({ client: { url: ep.url, security: { tls: { ca_file: ep.caFile, server_name: 'logs.example.test' }, auth: oauth(`${ep.url}/token`) } } }, { env: {} }).client;
  const client = createSecureClient(cfg);
  t.after(() => client.close());
  const outcome = await client.request('/ingest').then(() => 'answered', (e: { code?: string }) => e.code);
  assert.deepEqual(ep.secretsSeen, [], 'the client secret went to a token endpoint whose certificate is not for its host');
  assert.equal(outcome, 'GH_OAUTH_TOKEN_FAILED');
});

test('client oauth2: insecure_skip_verify for the resource server does not switch verification off for the token endpoint', async (t) => {
  const ep = await endpointWithCertFor(t, 'logs.example.test');
  const cfg = validateConfig({ client: { url: ep.url, security: { tls: { insecure_skip_verify: true }, auth: oauth(`${ep.url}/token`) } } }, { env: {} }).client;
  const client = createSecureClient(cfg);
  t.after(() => client.close());
  const outcome = await client.request('/ingest').then(() => 'answered', (e: { code?: string }) => e.code);
  assert.deepEqual(ep.secretsSeen, [], 'the client secret went to an unverified token endpoint');
  assert.equal(outcome, 'GH_OAUTH_TOKEN_FAILED');
});
