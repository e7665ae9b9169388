/**
 * Attack: substitute the client's own key for the injected one through an underscore twin of its header name.
 *
 * The proxy drops a client's header of the injected name (`X-Api-Key`), compared case-insensitively. But CGI-style
 * upstreams (WSGI, Rack, PHP behind FastCGI, many Lua/CGI bridges) fold `-` and `_` into one variable name:
 * `X-Api-Key` and `X_Api_Key` both become HTTP_X_API_KEY, and the server then keeps one of them or joins both. A
 * client sending `X_Api_Key: its-own-key` next to the injected `x-api-key` gets its own key (or a mix) seen by the
 * upstream: the "a caller cannot substitute its own key" promise depends on the upstream's header parser. nginx
 * (underscores_in_headers off), Apache 2.4 and gunicorn 22 drop such headers for exactly this reason.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { withSecretsGateway } from '../helpers/secrets-gateway.js';

const INJECTED = 'fake-injected-upstream-key-00001';
const CLIENT_OWN = 'fake-client-chosen-key-000000002';

describe('a client header that an upstream folds into the injected header name does not travel', () => {
  test('X_Api_Key (underscores) is dropped like X-Api-Key on a route injecting X-Api-Key', async () => {
    await withSecretsGateway({ prefix: 'gh-atk-underscore-', files: { api_key: INJECTED }, routes: (url) => [{ name: 'svc', prefix: '/svc', upstream: url, upstream_auth: { headers: { 'X-Api-Key': 'file:api_key' } } }] }, async ({ url, token, upstream }) => {
      const res = await request(`${url}/svc/x`, { headers: { authorization: `Bearer ${token}`, 'X_Api_Key': CLIENT_OWN, 'x-api_key': CLIENT_OWN } });
      await res.body.text();
      assert.equal(res.statusCode, 200);
      const seen = upstream.requests[0]?.headers ?? {};
      assert.equal(seen['x-api-key'], INJECTED);
      // As a CGI-style upstream names them: every header whose name folds to HTTP_X_API_KEY.
      const folded = Object.entries(seen).filter(([name]) => name.replace(/_/g, '-') === 'x-api-key');
      assert.deepEqual(folded, [['x-api-key', INJECTED]], `a client header the upstream reads as X-Api-Key reached it: ${JSON.stringify(folded)}`);
    });
  });
});
