/**
 * Attack: read the injected credential from the response headers of an upstream that echoes it.
 *
 * The gateway redacts known secrets from upstream error bodies, but response headers pass as they are. An upstream
 * redirect that carries the credential it was called with (a legacy API moving `X-Api-Key` into `?api_key=` for the
 * next hop, a "continue" link, a debug header) hands the client the key the gateway injected: the client just reads
 * `Location`. Known secrets should be redacted from response header values as from error bodies.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { withSecretsGateway } from '../helpers/secrets-gateway.js';

const API_KEY = 'fake-redirected-upstream-key-001';

describe('response headers echoing the injected credential', () => {
  test('a 302 Location and a debug header quoting the injected key do not reach the client with it', async () => {
    const respond = (req: IncomingMessage, res: ServerResponse) => {
      const k = String(req.headers['x-api-key']);
      res.writeHead(302, { location: `https://files.example.test/download?api_key=${k}`, 'x-debug-auth': `key=${k}` });
      res.end();
    };
    await withSecretsGateway({ prefix: 'gh-atk-location-', files: { api_key: API_KEY }, respond, routes: (url) => [{ name: 'svc', prefix: '/svc', upstream: url, upstream_auth: { headers: { 'X-Api-Key': 'file:api_key' } } }] }, async ({ url, token, upstream }) => {
      const res = await request(`${url}/svc/export`, { headers: { authorization: `Bearer ${token}` } });
      await res.body.text();
      assert.equal(res.statusCode, 302);
      assert.equal(upstream.requests[0]?.headers['x-api-key'], API_KEY);
      assert.ok(!JSON.stringify(res.headers).includes(API_KEY), `the client read the injected key from the response headers: ${JSON.stringify(res.headers)}`);
    });
  });
});
