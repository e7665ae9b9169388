/**
 * Attack (upstream OAuth token invalidation on 401, src/secrets/inject.ts upstreamRefused): response headers are
 * scrubbed of the route's credentials through injector.secretsFor(route), which lists the OAuth token only while it
 * is the cached one (client.peek()). A client that can make the upstream answer 401 on one path drops the cached
 * token at will; a request of its own that is still in flight with that same token then gets its response headers
 * scrubbed against a list without it. An upstream that echoes the credential in a header (the case the scrub exists
 * for, docs/secrets.md) hands the client the token — which the upstream still accepts, since the 401 was about
 * something else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { withSecretsGateway } from '../helpers/secrets-gateway.js';

const TOKEN_PREFIX = 'upstream-access-token-';

test('attack: a forced upstream 401 makes a concurrent response echo the still-valid OAuth token unscrubbed', async () => {
  let issued = 0;
  const tokenServer = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      issued++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: `${TOKEN_PREFIX}${issued}-0123456789abcdef`, token_type: 'Bearer', expires_in: 3600 }));
    });
  });
  await new Promise<void>((r) => tokenServer.listen(0, '127.0.0.1', r));
  const tokenUrl = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`;
  try {
    await withSecretsGateway({
      prefix: 'gh-review-oauth-',
      files: { oauth_secret: 'client-secret-value-0123456789' },
      routes: (upstream) => [{
        name: 'api', prefix: '/api', upstream, auth_required: true,
        upstream_auth: { oauth2: { token_url: tokenUrl, client_id: 'gatehouse', client_secret: 'file:oauth_secret' } },
      }],
      respond: (req, res) => {
        // /refuse: the upstream's own 401 for this path (a per-resource check, a forwarded header it dislikes ...).
        if (req.url === '/refuse') {
          res.writeHead(401, { 'content-type': 'application/json' });
          return void res.end('{"error":"nope"}');
        }
        // /slow: a debug header echoing the credential, as the scrub anticipates; answers a little later.
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'text/plain', 'x-debug-auth': String(req.headers['authorization']) });
          res.end('ok');
        }, 400);
      },
    }, async (gw) => {
      const auth = { authorization: `Bearer ${gw.token}` };
      // Baseline: the echoed token is scrubbed.
      const base = await request(`${gw.url}/api/slow`, { headers: auth });
      await base.body.text();
      assert.equal(base.statusCode, 200);
      assert.doesNotMatch(String(base.headers['x-debug-auth']), new RegExp(TOKEN_PREFIX), 'baseline: the header was not scrubbed');

      // The attack: one slow request in flight, then a request the upstream answers 401.
      const slow = request(`${gw.url}/api/slow`, { headers: auth });
      const deadline = Date.now() + 2000;
      while (gw.upstream.requests.filter((r) => r.url === '/slow').length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const refused = await request(`${gw.url}/api/refuse`, { headers: auth });
      await refused.body.text();
      assert.equal(refused.statusCode, 401);
      const res = await slow;
      await res.body.text();
      const echoed = String(res.headers['x-debug-auth']);
      assert.doesNotMatch(echoed, new RegExp(TOKEN_PREFIX), `the upstream OAuth token reached the client: ${echoed}`);
    });
  } finally {
    await new Promise<void>((r) => {
      tokenServer.closeAllConnections();
      tokenServer.close(() => r());
    });
  }
});
