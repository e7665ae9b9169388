/**
 * Attack: read the credential the gateway injects (routes[].upstream_auth) from an upstream error body that echoes
 * it, under an unusual Content-Type. Error bodies (`error_bodies: redact`, the default) went through the redactor only
 * when their type was on a list of text types, so `application/soap+xml`, `yaml`, `x-ndjson` or `octet-stream` bodies
 * quoting the key reached the client verbatim. Now the route's injected credentials are scrubbed byte for byte from
 * every error body, and every type that is not known binary is read as text. Real gateway, real upstream on loopback.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { withSecretsGateway } from '../helpers/secrets-gateway.js';

const API_KEY = 'fake-echoed-upstream-key-7c41e9';
const TYPES = ['application/soap+xml', 'application/xhtml+xml', 'application/yaml', 'application/x-ndjson', 'application/octet-stream', 'image/png', 'application/x-custom-debug'];

describe('upstream error bodies echoing the injected credential, whatever their type', () => {
  test('every Content-Type: the key is scrubbed; text types are redacted too', async () => {
    const respond = (req: IncomingMessage, res: ServerResponse) => {
      const type = decodeURIComponent(String(req.url).split('type=')[1] ?? 'text/plain');
      const body = `error: upstream refused key ${String(req.headers['x-api-key'])} (Authorization: Bearer q8Zr2LmW7xYt4KpN9vB3xx)`;
      res.writeHead(500, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    await withSecretsGateway({ prefix: 'gh-atk-errbody-', files: { api_key: API_KEY }, respond, routes: (url) => [{ name: 'svc', prefix: '/svc', upstream: url, upstream_auth: { headers: { 'X-Api-Key': 'file:api_key' } } }] }, async ({ url, token, upstream }) => {
      for (const type of TYPES) {
        const res = await request(`${url}/svc/x?type=${encodeURIComponent(type)}`, { headers: { authorization: `Bearer ${token}` } });
        const body = await res.body.text();
        assert.equal(res.statusCode, 500, type);
        assert.ok(!body.includes(API_KEY), `${type}: the client read the injected key: ${body}`);
        assert.match(body, /\[REDACTED\]/, type);
        // A credential the redactor recognises (not one the gateway injected) is removed from text types only.
        if (type !== 'image/png' && type !== 'application/octet-stream') assert.ok(!body.includes('q8Zr2LmW7xYt4KpN9vB3xx'), `${type}: ${body}`);
      }
      assert.equal(upstream.requests[0]?.headers['x-api-key'], API_KEY, 'the upstream did get the key');
    });
  });
});
