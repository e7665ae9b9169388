/**
 * Attack: hold every caller of the OAuth client (the secure client, and each gateway request on a route with
 * upstream_auth.oauth2, which all wait on one shared token request) by answering the token request one byte at a
 * time. undici's bodyTimeout is per gap between chunks, so a byte every few hundred milliseconds never trips it, and
 * the 64 KiB answer cap alone allows hours. Expected: the token request as a whole is bounded by the timeout, and
 * every waiter gets GH_OAUTH_TOKEN_FAILED once it passes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { validateConfig } from '../../src/config/index.js';
import { createSecureClient } from '../../src/client/index.js';
import { startRecordingUpstream } from '../helpers/gateway.js';

test('client oauth2: a token endpoint dripping its answer byte by byte is cut off at client.timeout, for every waiter', async (t) => {
  const timers = new Set<NodeJS.Timeout>();
  const tokenEndpoint = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const answer = `{${' '.repeat(40)}"access_token":"fake-access-token","token_type":"Bearer"}`;
      let at = 0;
      // 40 gaps of 100 ms (4 s in all), each far below the 1 s timeout.
      const timer = setInterval(() => {
        res.write(answer[at] as string);
        if (++at === answer.length) {
          clearInterval(timer);
          res.end();
        }
      }, 100);
      timers.add(timer);
      res.on('close', () => clearInterval(timer));
    });
  });
  t.after(() => {
    for (const x of timers) clearInterval(x);
    tokenEndpoint.closeAllConnections();
    tokenEndpoint.close();
  });
  await new Promise<void>((r) => tokenEndpoint.listen(0, '127.0.0.1', r));
  const upstream = await startRecordingUpstream();
  t.after(() => upstream.close());

  const cfg = validateConfig({
    client: {
      url: upstream.url,
      timeout: '1s',
      security: { tls: { enabled: false }, auth: { type: 'oauth2', client_id: 'agent', client_secret: 'fake-client-secret-0123', token_url: `http://127.0.0.1:${(tokenEndpoint.address() as AddressInfo).port}/token` } },
    },
  }, { env: {} }).client;
  const client = createSecureClient(cfg);
  t.after(() => client.close());

  const started = Date.now();
  const outcomes = await Promise.all([1, 2, 3].map(() => client.request('/ingest').then(() => 'answered', (e: { code?: string }) => e.code ?? 'error')));
  const waited = Date.now() - started;
  assert.ok(waited < 2500, `the callers waited ${waited} ms on a token endpoint dripping its answer (timeout 1s)`);
  assert.deepEqual(outcomes, ['GH_OAUTH_TOKEN_FAILED', 'GH_OAUTH_TOKEN_FAILED', 'GH_OAUTH_TOKEN_FAILED']);
  assert.equal(upstream.requests.length, 0);
});
