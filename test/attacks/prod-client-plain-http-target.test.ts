/**
 * The secure client refused `client.url: http://…` in production, but with no client.url and security.tls.enabled
 * false it sent its credential in clear to any absolute http:// target (and `gatehouse client request http://host/…`
 * did the same). Production now refuses plain http to a non-loopback host whenever the client sends a credential,
 * whatever the configuration path. 0.0.0.0 stands in for "another host": it is not a loopback name, yet reaches the
 * loopback-bound test server, so the test shows what would have been sent.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { validateConfig, type ClientConfig } from '../../src/config/index.js';
import { createSecureClient } from '../../src/client/index.js';

const clientConfig = (client: Record<string, unknown>): ClientConfig => validateConfig({ client }, { env: {} }).client;
const TOKEN = 'tok-plain-http-0123456789abcdef';

let server: Server;
let port: number;
const seen: (string | undefined)[] = [];
before(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers.authorization);
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

test('production: no client.url, TLS off, an absolute http:// target off loopback is refused before anything is sent', async () => {
  seen.length = 0;
  for (const auth of [{ type: 'token', token: TOKEN }, { type: 'basic', username: 'agent', password: TOKEN }, { type: 'header', headers: { 'X-Api-Key': TOKEN } }]) {
    const client = createSecureClient(clientConfig({ security: { tls: { enabled: false }, auth } }), { profile: 'production' });
    try {
      await assert.rejects(client.request(`http://0.0.0.0:${port}/x`), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'GH_CONFIG_PRODUCTION_REFUSED');
        assert.match(e.message, /plain http to another host and client\.security\.auth\.type is \w+/);
        assert.ok(!e.message.includes(TOKEN));
        return true;
      });
    } finally {
      await client.close();
    }
  }
  assert.deepEqual(seen, [], 'a request reached the server');
});

test('loopback targets, auth none, and development are unchanged', async () => {
  seen.length = 0;
  const prodToken = createSecureClient(clientConfig({ security: { tls: { enabled: false }, auth: { type: 'token', token: TOKEN } } }), { profile: 'production' });
  assert.equal((await prodToken.request(`http://127.0.0.1:${port}/x`)).status, 200);
  await prodToken.close();
  const prodNone = createSecureClient(clientConfig({ security: { tls: { enabled: false } } }), { profile: 'production' });
  assert.equal((await prodNone.request(`http://0.0.0.0:${port}/x`)).status, 200);
  await prodNone.close();
  const dev = createSecureClient(clientConfig({ security: { tls: { enabled: false }, auth: { type: 'token', token: TOKEN } } }), { profile: 'development' });
  assert.equal((await dev.request(`http://0.0.0.0:${port}/x`)).status, 200);
  await dev.close();
  assert.deepEqual(seen, [`Bearer ${TOKEN}`, undefined, `Bearer ${TOKEN}`]);
});
