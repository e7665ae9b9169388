/**
 * A `_method` parameter turns an authorized POST into a DELETE behind the gateway's back: Rails (Rack::MethodOverride),
 * Laravel, Symfony and Express's method-override run a POST as the method its query, form field or (Laravel) JSON key
 * names. The gateway removed the header forms only, so a principal allowed to POST an item deleted it. The upstream
 * here reads `_method` as those frameworks do; with the parameter refused it never receives a whole request carrying
 * one (the chunk that completes the name is withheld and the upstream request is aborted).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { openTokenService } from '../../src/authn/index.js';
import { auditRecords, startRecordingUpstream, startTestGateway, type TestGateway } from '../helpers/gateway.js';

type Upstream = Awaited<ReturnType<typeof startRecordingUpstream>>;

/** The method a Rack/Laravel upstream runs: `_method` from the query, a form body or a top-level JSON key, on POST. */
function effectiveMethod(method: string, url: string, contentType: string | undefined, body: string): string {
  if (method !== 'POST') return method;
  const fromQuery = new URL(url, 'http://x').searchParams.get('_method');
  let fromBody: unknown;
  if (contentType?.includes('json')) {
    try {
      fromBody = (JSON.parse(body) as Record<string, unknown>)['_method'];
    } catch {
      fromBody = undefined;
    }
  } else if (contentType === undefined || contentType.startsWith('application/x-www-form-urlencoded')) fromBody = new URLSearchParams(body).get('_method');
  const m = typeof fromBody === 'string' ? fromBody : fromQuery;
  return m ? m.toUpperCase() : method;
}

interface Sent {
  status: number;
  code: string | undefined;
}

function send(url: string, method: string, headers: Record<string, string>, chunks: Buffer[]): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (data += c));
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(data) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        resolve({ status: res.statusCode ?? 0, code });
      });
    });
    req.on('error', reject);
    // Chunks go out one by one, 30 ms apart, so the gateway sees the name split across them.
    let i = 0;
    const next = (): void => {
      if (i === chunks.length) {
        req.end();
        return;
      }
      req.write(chunks[i++]);
      setTimeout(next, 30);
    };
    next();
  });
}

describe('a _method parameter cannot run a POST as a DELETE', () => {
  let up: Upstream;
  let gw: TestGateway;
  let passGw: TestGateway;
  let auth: Record<string, string>;
  /** What the upstream ran: the method it read, for each request it received whole. */
  const ran: string[] = [];

  const config = (override: 'refuse' | 'pass') => ({
    auth: { methods: ['token'] },
    authz: {
      routes: [
        { name: 'item-write', path: '/api/items/:id', methods: ['POST'], scopes: ['container:write'] },
        { name: 'item-delete', path: '/api/items/:id', methods: ['DELETE'], scopes: ['container:admin'] },
      ],
    },
    routes: [{ name: 'api', prefix: '/api', upstream: up.url, auth_required: true, ...(override === 'pass' ? { method_override: 'pass' } : {}) }],
  });

  before(async () => {
    up = await startRecordingUpstream((req, res, body) => {
      ran.push(effectiveMethod(req.method ?? '', req.url ?? '', req.headers['content-type'], body));
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('done');
    });
    gw = await startTestGateway(config('refuse'));
    passGw = await startTestGateway(config('pass'));
    // Both gateways accept the same token only if they share a secret: mint one per gateway instead.
    const { token } = await openTokenService(gw.config, { stateDir: gw.stateDir }).mint({ agent: 'writer', scopes: ['container:write'], ttlMs: 3_600_000 });
    auth = { authorization: `Bearer ${token}` };
  });
  after(async () => {
    await gw?.stop();
    await passGw?.stop();
    await up?.close();
  });

  const cases: Array<{ name: string; url: string; headers: Record<string, string>; chunks: Buffer[] }> = [
    { name: 'in the query', url: '/api/items/7?_method=DELETE', headers: { 'content-type': 'application/x-www-form-urlencoded' }, chunks: [Buffer.from('title=x')] },
    { name: 'in the query, percent-encoded', url: '/api/items/7?%5Fmethod=DELETE', headers: {}, chunks: [] },
    { name: 'as a form field', url: '/api/items/7', headers: { 'content-type': 'application/x-www-form-urlencoded' }, chunks: [Buffer.from('title=x&_method=DELETE')] },
    { name: 'as a form field split across chunks', url: '/api/items/7', headers: { 'content-type': 'application/x-www-form-urlencoded' }, chunks: [Buffer.from('title=x&_met'), Buffer.from('hod=DELETE&b=1')] },
    { name: 'in a body without Content-Type (Rack reads it as a form)', url: '/api/items/7', headers: {}, chunks: [Buffer.from('_method=delete')] },
    { name: 'as a top-level JSON key', url: '/api/items/7', headers: { 'content-type': 'application/json' }, chunks: [Buffer.from('{"title":"x",'), Buffer.from('"_method":"DELETE"}')] },
    { name: 'as a JSON key spelled with an escape', url: '/api/items/7', headers: { 'content-type': 'application/json' }, chunks: [Buffer.from('{"\\u005fmethod":"DELETE"}')] },
    { name: 'as a multipart field', url: '/api/items/7', headers: { 'content-type': 'multipart/form-data; boundary=b' }, chunks: [Buffer.from('--b\r\nContent-Disposition: form-data; name="_method"\r\n\r\nDELETE\r\n--b--\r\n')] },
    { name: 'in a gzip-compressed form body', url: '/api/items/7', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': 'gzip' }, chunks: [gzipSync('_method=DELETE')] },
    // Content-Types read as leniently as Rack, PHP and Laravel read them (review of the first version, all forwarded whole)
    { name: 'in a form whose Content-Type lists another type after a comma (Rack)', url: '/api/items/7', headers: { 'content-type': 'application/x-www-form-urlencoded, text/plain' }, chunks: [Buffer.from('_method=DELETE')] },
    { name: 'in JSON sent as text/plain; v=/json (Laravel isJson)', url: '/api/items/7', headers: { 'content-type': 'text/plain; v=/json' }, chunks: [Buffer.from('{"_method":"DELETE"}')] },
    { name: "in a multipart field named with single quotes (PHP)", url: '/api/items/7', headers: { 'content-type': 'multipart/form-data; boundary=b' }, chunks: [Buffer.from("--b\r\nContent-Disposition: form-data; name='_method'\r\n\r\nDELETE\r\n--b--\r\n")] },
    { name: 'as a form field in brackets, [_method] (Rack 2)', url: '/api/items/7', headers: { 'content-type': 'application/x-www-form-urlencoded' }, chunks: [Buffer.from('[_method]=DELETE')] },
    { name: 'as a multipart part named by its Content-ID (Rack)', url: '/api/items/7', headers: { 'content-type': 'multipart/form-data; boundary=b' }, chunks: [Buffer.from('--b\r\nContent-ID: _method\r\n\r\nDELETE\r\n--b--\r\n')] },
    { name: 'in UTF-16 JSON (Express decodes by the charset)', url: '/api/items/7', headers: { 'content-type': 'application/json; charset=utf-16le' }, chunks: [Buffer.from('{"_method":"DELETE"}', 'utf16le')] },
  ];

  for (const c of cases) {
    test(`${c.name}: refused with GH_METHOD_OVERRIDE, the upstream runs nothing`, async () => {
      const before = ran.length;
      const got = await send(`${gw.url}${c.url}`, 'POST', { ...auth, ...c.headers }, c.chunks);
      assert.deepEqual(got, { status: 400, code: 'GH_METHOD_OVERRIDE' });
      // The upstream's view: no request arrived whole (a streamed one was cut before the name was complete).
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(ran.slice(before), []);
    });
  }

  test('the threat is real: with method_override: pass the same POST deletes (the route then relies on the upstream ignoring _method)', async () => {
    const { token } = await openTokenService(passGw.config, { stateDir: passGw.stateDir }).mint({ agent: 'writer', scopes: ['container:write'], ttlMs: 3_600_000 });
    const before = ran.length;
    const got = await send(`${passGw.url}/api/items/7`, 'POST', { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' }, [Buffer.from('title=x&_method=DELETE')]);
    assert.equal(got.status, 200);
    assert.deepEqual(ran.slice(before), ['DELETE']);
    // …while the DELETE itself is refused to this principal.
    assert.equal((await send(`${passGw.url}/api/items/7`, 'DELETE', { authorization: `Bearer ${token}` }, [])).code, 'GH_SCOPE_MISSING');
  });

  test('ordinary bodies pass: look-alike names, values, opaque types', async () => {
    const before = ran.length;
    const ok: Array<{ headers: Record<string, string>; body: string | Buffer }> = [
      { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'payment_method=card&note=_method%3DDELETE' },
      { headers: { 'content-type': 'application/json' }, body: '{"payment_method":"card","meta":{"_method":"x"}}' },
      { headers: { 'content-type': 'application/octet-stream' }, body: '_method=DELETE' },
      // binary without a Content-Type, as fetch and undici send a Buffer: read as a form, NULs and all, and passed
      { headers: {}, body: Buffer.from([0, 95, 0, 109, 61, 0, 38, 91, 93, 0, 255, 61, 1]) },
    ];
    for (const o of ok) assert.equal((await send(`${gw.url}/api/items/7`, 'POST', { ...auth, ...o.headers }, [Buffer.from(o.body)])).status, 200, String(o.body));
    assert.deepEqual(ran.slice(before), ['POST', 'POST', 'POST', 'POST']);
  });

  test('each refusal is audited with where the override was and who sent it', async () => {
    await send(`${gw.url}/api/items/9?_method=DELETE`, 'POST', auth, []);
    await gw.close(2000);
    const refused = auditRecords(gw.stateDir).filter((r) => r['error_code'] === 'GH_METHOD_OVERRIDE');
    assert.equal(refused.length, cases.length + 1);
    const where = refused.map((r) => (r['metadata'] as Record<string, unknown>)['method_override']);
    assert.deepEqual(where, ['query', 'query', 'body', 'body', 'body', 'body', 'body', 'body', 'compressed_body', 'body', 'body', 'body', 'body', 'body', 'encoded_body', 'query']);
    // Checked after identify: every refusal names who sent it.
    assert.ok(refused.every((r) => r['principal'] === 'writer'), JSON.stringify(refused.map((r) => r['principal'])));
  });
});
