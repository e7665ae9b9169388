/**
 * Attack: get the OAuth client secret into an error message (and from there into logs and CI output). A refusal
 * names the token endpoint's RFC 6749 §5.2 `error` code, which is the endpoint's own text: an endpoint (or a
 * misconfigured proxy in front of it) that quotes the credentials it was sent puts the secret in GH_OAUTH_TOKEN_FAILED.
 * Expected: an error code quoting the secret is not repeated; the message still says what failed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ClientCredentials } from '../../src/client/index.js';

const SECRET = 'fake-client-secret-0123456789';

test('client oauth2: a token endpoint echoing the client secret in `error` does not put it in GH_OAUTH_TOKEN_FAILED', async (t) => {
  const endpoint = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const sent = Buffer.from((req.headers.authorization ?? 'Basic ').slice(6), 'base64').toString();
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `unknown_client:${decodeURIComponent(sent)}` }));
    });
  });
  t.after(() => {
    endpoint.closeAllConnections();
    endpoint.close();
  });
  await new Promise<void>((r) => endpoint.listen(0, '127.0.0.1', r));
  const oauth = new ClientCredentials({ tokenUrl: `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/token`, clientId: 'agent', clientSecret: SECRET });
  const err = await oauth.token().then(() => undefined, (e: unknown) => e as Error & { code?: string; detail?: string });
  assert.equal(err?.code, 'GH_OAUTH_TOKEN_FAILED');
  assert.match(err.message, /status 401/);
  for (const text of [err.message, String(err.detail), JSON.stringify(err)]) assert.ok(!text.includes(SECRET), `the client secret is in: ${text}`);
});
