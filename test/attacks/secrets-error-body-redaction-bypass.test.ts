/**
 * Attack: read the injected credential from an upstream error body that escapes redaction.
 *
 * docs/secrets.md: "An upstream that echoes its key in an error body … shows [REDACTED]". The proxy redacts error
 * bodies only when they are uncompressed text; a compressed one "passes unchanged". But whether the upstream
 * compresses is the client's choice: it sends `Accept-Encoding: gzip`, the gateway forwards it on HTTP routes, the
 * upstream's compression middleware gzips the error page quoting the credential, and the client gunzips it.
 * Likewise an error body sent without a Content-Type (Node's bare `res.end(text)`) is not treated as text.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync, gzipSync } from 'node:zlib';
import { request } from 'undici';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { withSecretsGateway } from '../helpers/secrets-gateway.js';

const API_KEY = 'fake-echoed-upstream-key-000001';

async function leakThrough(respond: (req: IncomingMessage, res: ServerResponse) => void, clientHeaders: Record<string, string>): Promise<string> {
  let text = '';
  await withSecretsGateway({ prefix: 'gh-atk-errbody-', files: { api_key: API_KEY }, respond, routes: (url) => [{ name: 'svc', prefix: '/svc', upstream: url, upstream_auth: { headers: { 'X-Api-Key': 'file:api_key' } } }] }, async ({ url, token, upstream }) => {
    const res = await request(`${url}/svc/x`, { headers: { authorization: `Bearer ${token}`, ...clientHeaders } });
    const raw = Buffer.from(await res.body.arrayBuffer());
    assert.ok(res.statusCode >= 400, `status ${res.statusCode}`);
    assert.equal(upstream.requests[0]?.headers['x-api-key'], API_KEY, 'the upstream got the injected key');
    // What the client can read: the body as sent, or gunzipped when it says gzip.
    text = res.headers['content-encoding'] === 'gzip' ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  });
  return text;
}

describe('error bodies echoing the injected credential are redacted whatever their encoding', () => {
  test('the client asks for gzip: the compressed error page quoting the key is not handed over unredacted', async () => {
    const body = await leakThrough((req, res) => {
      const text = `internal error while calling backend with x-api-key=${String(req.headers['x-api-key'])}`;
      // What compression middleware does: gzip whenever the request accepts it.
      if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
        res.writeHead(500, { 'content-type': 'text/plain', 'content-encoding': 'gzip', vary: 'accept-encoding' });
        res.end(gzipSync(text));
      } else {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(text);
      }
    }, { 'accept-encoding': 'gzip' });
    assert.ok(!body.includes(API_KEY), `the client gunzipped the upstream key out of the error body: ${body}`);
  });

  test('an error body without a Content-Type quoting the key is not handed over unredacted', async () => {
    const body = await leakThrough((req, res) => {
      res.statusCode = 502;
      res.end(`backend refused x-api-key=${String(req.headers['x-api-key'])}`);
    }, {});
    assert.ok(!body.includes(API_KEY), `the client read the upstream key from an untyped error body: ${body}`);
  });
});
