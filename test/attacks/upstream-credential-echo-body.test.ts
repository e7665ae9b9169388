/**
 * Attack: read the injected upstream credential (routes[].upstream_auth) from a successful answer. Error bodies were
 * redacted, but a 200 streamed through untouched, and upstreams that reflect their request are common: a debug or
 * "whoami" endpoint printing the headers it got, an echo service, a webhook tester. The client got the key the gateway
 * injects precisely so that clients never hold it. Now every form of it is masked in streamed bodies (same length,
 * so Content-Length holds), even split across chunks, and these routes ask their upstream for an uncompressed body
 * (Accept-Encoding: identity) and refuse a compressed one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { EchoMask } from '../../src/gateway/echo-mask.js';
import { withSecretsGateway } from '../helpers/secrets-gateway.js';

const KEY = 'wJalr/FAKEupstreamKey+bPxRfiCY=EXAMPLEKEY';
const forms = (v: string) => [v, JSON.stringify(v).slice(1, -1).replace(/\//g, '\\/'), encodeURIComponent(v), encodeURIComponent(v).replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase())];

function respond(req: IncomingMessage, res: ServerResponse): void {
  const auth = String(req.headers['authorization'] ?? '');
  const path = (req.url ?? '').replace(/^\/svc/, '');
  if (path === '/whoami') {
    const body = JSON.stringify({ headers: req.headers });
    // Honours a byte range, as static servers and many frameworks do: slices of the echo, each too short to mask.
    const range = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers['range'] ?? ''));
    if (range) {
      const slice = Buffer.from(body).subarray(Number(range[1]), Number(range[2]) + 1);
      res.writeHead(206, { 'content-type': 'application/json', 'content-length': slice.length, 'content-range': `bytes ${range[1]}-${range[2]}/${Buffer.byteLength(body)}` });
      return void res.end(slice);
    }
    // Validators over the echo: with the rest of the body known, each would test a guess of the key offline.
    const md5 = createHash('md5').update(body).digest('base64');
    // A conditional request would test a guess online: the right ETag gets 304.
    if (req.headers['if-none-match'] === `"${md5}"`) return void res.writeHead(304).end();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), etag: `"${md5}"`, 'content-md5': md5, 'repr-digest': `md5=:${md5}:`, 'x-amz-checksum-crc32': 'AAAAAA==' });
    return void res.end(body);
  }
  if (path === '/stream') {
    // The credential split across chunks, in two forms, with pauses between the writes.
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const key = auth.replace(/^Bearer /, '');
    const parts = [`data: {"token":"${key.slice(0, 9)}`, `${key.slice(9, 20)}`, `${key.slice(20)}"}\n\n`, `data: ${encodeURIComponent(key).slice(0, 30)}`, `${encodeURIComponent(key).slice(30)}\n\n`, 'data: done\n\n'];
    let i = 0;
    const next = () => {
      if (i < parts.length) {
        res.write(parts[i++]);
        setTimeout(next, 20);
      } else res.end();
    };
    return next();
  }
  if (path === '/gzip-anyway') {
    // An upstream that compresses whatever it was asked: the mask reads bytes as sent and would miss the key.
    const body = gzipSync(JSON.stringify({ headers: req.headers }));
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': body.length });
    return void res.end(body);
  }
  res.writeHead(404).end();
}

test('a 200 that echoes the injected credential reaches the client masked, whole or streamed across chunks; the upstream is asked for identity encoding', async () => {
  await withSecretsGateway({
    prefix: 'gh-atk-echo-body-',
    files: { key: KEY },
    respond,
    routes: (url) => [{ name: 'svc', prefix: '/svc', upstream: url, upstream_auth: { bearer: 'file:key' } }],
  }, async ({ url, token, upstream }) => {
    // Conditional headers carrying a guess: forwarded, the right one would come back 304 (or 412 for If-Match).
    const whoami = await request(`${url}/svc/whoami`, { headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip, br', 'if-none-match': '"any-guess"', 'if-match': '*' } });
    const body = await whoami.body.text();
    assert.equal(whoami.statusCode, 200);
    assert.deepEqual(forms(KEY).filter((f) => body.includes(f)), [], body);
    const parsed = JSON.parse(body) as { headers: Record<string, string> };
    assert.equal(parsed.headers['authorization'], `Bearer ${'*'.repeat(KEY.length)}`, 'masked in place, same length');
    assert.equal(Number(whoami.headers['content-length']), Buffer.byteLength(body), 'Content-Length still true');
    assert.deepEqual([whoami.headers['etag'], whoami.headers['content-md5'], whoami.headers['repr-digest'], whoami.headers['x-amz-checksum-crc32']], [undefined, undefined, undefined, undefined], 'no digest of the unmasked echo');
    assert.ok(upstream.requests.every((r) => r.headers['if-none-match'] === undefined && r.headers['if-match'] === undefined), 'no conditional header reached the upstream');
    assert.equal(parsed.headers['accept-encoding'], 'identity', 'the upstream was asked for an uncompressed body (no Accept-Encoding would allow any coding)');
    assert.equal(upstream.requests[0]?.headers['authorization'], `Bearer ${KEY}`, 'the upstream got the key');

    const stream = await request(`${url}/svc/stream`, { headers: { authorization: `Bearer ${token}` } });
    const text = await stream.body.text();
    assert.deepEqual(forms(KEY).filter((f) => text.includes(f)), [], text);
    // Not even a prefix of the key split at a chunk boundary got through.
    assert.ok(!text.includes(KEY.slice(0, 9)), text);
    assert.match(text, /data: done\n\n$/, 'the rest of the stream passes');

    // In slices: each range would hold a piece of the key no mask recognises. The gateway sends no Range upstream on
    // these routes, so every answer is whole (and masked).
    const at = body.indexOf('"authorization"');
    for (let from = at; from < at + 80; from += 12) {
      const slice = await request(`${url}/svc/whoami`, { headers: { authorization: `Bearer ${token}`, range: `bytes=${from}-${from + 11}`, 'if-range': 'x' } });
      const got = await slice.body.text();
      assert.equal(slice.statusCode, 200, 'the range was not forwarded: the whole body came back');
      assert.ok(!got.includes(KEY.slice(0, 12)) && !got.includes(KEY.slice(12, 24)), got);
    }
    assert.ok(upstream.requests.every((r) => r.headers['range'] === undefined && r.headers['if-range'] === undefined), 'no Range reached the upstream');

    // Compressed although identity was asked for: refused before anything is sent, never passed unread.
    const gz = await request(`${url}/svc/gzip-anyway`, { headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip' } });
    const refused = await gz.body.text();
    assert.equal(gz.statusCode, 502);
    assert.equal((JSON.parse(refused) as { error: { code: string } }).error.code, 'GH_UPSTREAM_PROTOCOL');
  });
});

test('an MCP list answer (buffered and filtered, which the stream mask never sees) that echoes the injected credential is scrubbed', async () => {
  const respondMcp = (req: IncomingMessage, res: ServerResponse): void => {
    const key = String(req.headers['authorization'] ?? '').replace(/^Bearer /, '');
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'get_system_status', description: `called with ${key}`, inputSchema: { type: 'object' } }] } });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  await withSecretsGateway({
    prefix: 'gh-atk-echo-mcp-',
    files: { key: KEY },
    respond: respondMcp,
    routes: (url) => [{ name: 'mcp', prefix: '/mcp', upstream: url, kind: 'mcp', upstream_auth: { bearer: 'file:key' } }],
  }, async ({ url, token, upstream }) => {
    const list = await request(`${url}/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    const text = await list.body.text();
    assert.equal(list.statusCode, 200, text);
    assert.match(text, /get_system_status/, 'the allowed tool is listed');
    assert.deepEqual(forms(KEY).filter((f) => text.includes(f)), [], text);
    assert.equal(upstream.requests[0]?.headers['authorization'], `Bearer ${KEY}`, 'the upstream got the key');
  });
});

test('EchoMask holds only a possible start of a form at a chunk\'s end, and passes everything else at once', () => {
  const m = new EchoMask([KEY]);
  assert.equal(m.push(Buffer.from('nothing to see here\n')).toString(), 'nothing to see here\n');
  assert.equal(m.push(Buffer.from(`x ${KEY.slice(0, 5)}`)).toString(), 'x ', 'the start of the key is held');
  assert.equal(m.push(Buffer.from(`${KEY.slice(5)} y`)).toString(), `${'*'.repeat(KEY.length)} y`);
  assert.equal(m.push(Buffer.from('wJa')).toString(), '');
  assert.equal(m.flush()?.toString(), 'wJa', 'a start that never completed is given back at the end');
  assert.equal(m.masked, 1);
  assert.equal(new EchoMask(['short']).active, false, 'values under 8 characters are not masked (too many false hits)');
});
