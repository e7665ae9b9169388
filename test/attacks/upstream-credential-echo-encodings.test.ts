/**
 * Attack: read the injected upstream credential (routes[].upstream_auth) from an echo the gateway does not
 * recognise because the upstream encoded it.
 *
 * The gateway scrubs the route's credential from error bodies and response headers. A credential holding "/", "+"
 * or "=" (AWS-style secret keys, base64) comes back from real upstreams escaped: PHP's json_encode and many Java
 * libraries write "/" as "\/" in an error body; a redirect carries it percent-encoded in its Location (upper- or
 * lowercase hex, partly encoded as Python's quote() leaves "/", or form-encoded with "+" for a space). Each of those
 * must reach the client as [REDACTED], and headers the client needs (a cookie) must pass as they are.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { withSecretsGateway } from '../helpers/secrets-gateway.js';

const KEY = 'wJalr/FAKEupstreamKey+bPxRfiCY=EXAMPLEKEY';
const PHRASE = 'fake upstream pass phrase/2025+x';

const lowerHex = (s: string) => s.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase());
const jsonSlashes = (v: unknown) => JSON.stringify(v).replace(/\//g, '\\/');

/** What the upstream sends back for each path, quoting the credential it was called with. */
function respond(req: IncomingMessage, res: ServerResponse): void {
  const key = String(req.headers['authorization'] ?? '').replace(/^Bearer /, '');
  const phrase = String(req.headers['x-api-key'] ?? '');
  const path = (req.url ?? '').replace(/^\/svc|^\/phr/, '');
  const redirect = (location: string) => {
    res.writeHead(302, { location, 'set-cookie': 'session=s3ss10nValueTheClientNeeds; Path=/' });
    res.end();
  };
  switch (path) {
    case '/err-json-slash':
      res.writeHead(500, { 'content-type': 'application/json' });
      return void res.end(jsonSlashes({ error: 'bad key', got: key }));
    case '/err-php':
      // json_encode's defaults: "\/" and \uXXXX for anything beyond ASCII.
      res.writeHead(401, { 'content-type': 'application/json' });
      return void res.end(jsonSlashes({ message: `Schlüssel ${key} abgelehnt` }).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
    case '/err-form':
      res.writeHead(400, { 'content-type': 'application/x-www-form-urlencoded' });
      return void res.end(new URLSearchParams({ error: 'invalid_client', key, phrase }).toString());
    case '/redir-upper':
      return redirect(`/login?retry_with=${encodeURIComponent(key)}`);
    case '/redir-lower':
      return redirect(`/login?retry_with=${lowerHex(encodeURIComponent(key))}`);
    case '/redir-partial':
      // Python's urllib.parse.quote(key): "/" stays, "+" and "=" are escaped.
      return redirect(`/login?retry_with=${encodeURIComponent(key).replace(/%2F/g, '/')}`);
    case '/redir-form':
      return redirect(`/login?${new URLSearchParams({ retry_with: phrase }).toString()}`);
    case '/debug-header':
      res.writeHead(200, { 'x-debug-auth': jsonSlashes({ sent: key }), 'content-type': 'text/plain' });
      return void res.end('ok');
    default:
      res.writeHead(404);
      res.end();
  }
}

/** A gateway with both routes in front of `respond`; `get` returns what the client reads, `leaked` the forms found. */
async function withEchoingGateway(fn: (get: (path: string) => Promise<{ status: number; headers: string; body: string }>, leaked: (text: string) => string[], sentAuthorization: () => unknown) => Promise<void>): Promise<void> {
  await withSecretsGateway({
    prefix: 'gh-atk-echo-enc-',
    files: { key: KEY, phrase: PHRASE },
    respond,
    routes: (url) => [
      { name: 'svc', prefix: '/svc', upstream: url, upstream_auth: { bearer: 'file:key' } },
      { name: 'phr', prefix: '/phr', upstream: url, upstream_auth: { headers: { 'X-Api-Key': 'file:phrase' } } },
    ],
  }, async ({ url, token, upstream }) => {
    const get = async (path: string) => {
      const res = await request(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: res.statusCode, headers: JSON.stringify(res.headers), body: await res.body.text() };
    };
    // Every encoding the upstream uses, of both credentials: none may reach the client.
    const forms = (v: string) => [v, JSON.stringify(v).slice(1, -1).replace(/\//g, '\\/'), encodeURIComponent(v), lowerHex(encodeURIComponent(v)), encodeURIComponent(v).replace(/%2F/g, '/'), new URLSearchParams({ v }).toString().slice(2)];
    const leaked = (text: string) => [...forms(KEY), ...forms(PHRASE)].filter((f) => text.includes(f));
    await fn(get, leaked, () => upstream.requests[0]?.headers['authorization']);
  });
}

describe('the injected upstream credential echoed in an encoded form', () => {
  test('error bodies: "\\/"-escaped JSON (PHP, Java), \\u-escaped JSON and form encoding show [REDACTED]', async () => {
    await withEchoingGateway(async (get, leaked, sentAuthorization) => {
      for (const path of ['/svc/err-json-slash', '/svc/err-php', '/phr/err-form']) {
        const r = await get(path);
        assert.ok(r.status >= 400, `${path}: status ${r.status}`);
        assert.deepEqual(leaked(r.body), [], `${path}: the client read the credential from the error body: ${r.body}`);
        assert.match(r.body, /\[REDACTED\]/, path);
      }
      assert.equal(sentAuthorization(), `Bearer ${KEY}`, 'the upstream got the injected key');
    });
  });

  test('response headers: a Location with the credential percent-encoded (any hex case, partly, form-encoded) and a JSON debug header', async () => {
    await withEchoingGateway(async (get, leaked) => {
      for (const path of ['/svc/redir-upper', '/svc/redir-lower', '/svc/redir-partial', '/phr/redir-form']) {
        const r = await get(path);
        assert.equal(r.status, 302, path);
        assert.deepEqual(leaked(r.headers), [], `${path}: the client read the credential from a response header: ${r.headers}`);
        assert.match(r.headers, /retry_with=\[REDACTED\]/, path);
        assert.match(r.headers, /session=s3ss10nValueTheClientNeeds; Path=\//, `${path}: a header without the credential passes as it is`);
      }
      const r = await get('/svc/debug-header');
      assert.deepEqual(leaked(r.headers), [], `a JSON-escaped debug header: ${r.headers}`);
      assert.equal((JSON.parse(r.headers) as Record<string, string>)['x-debug-auth'], '{"sent":"[REDACTED]"}');
    });
  });
});
