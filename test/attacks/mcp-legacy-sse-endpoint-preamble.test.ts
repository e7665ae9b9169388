/**
 * A legacy SSE stream (MCP 2024-11-05) whose endpoint event is not its first block — a `retry:` or `id:` block, or a
 * leading byte order mark, both of which a client skips (HTML's SSE parsing) — had its endpoint passed as the upstream
 * wrote it: the raw session id reached the client and anyone on the route who learned it could POST into the session.
 * The gateway now reads the stream as a client does and seals that endpoint like any other.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openTokenService } from '../../src/authn/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const ID = '5f1e0c9a-7d0b-4b43-9a55-1c2d3e4f5a6b';
let opening = '';
const posted: string[] = [];
let upstream: Server;
let gw: TestGateway;
let alice: string;
let mallory: string;

before(async () => {
  upstream = createServer((req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // Byte by byte for the BOM (split across chunks, as a slow upstream may send it), the rest at once.
      const bytes = Buffer.from(opening);
      for (let i = 0; i < 3; i++) res.write(bytes.subarray(i, i + 1));
      res.write(bytes.subarray(3));
      return;
    }
    posted.push(new URL(req.url ?? '/', 'http://upstream').searchParams.get('sessionId') ?? '');
    res.writeHead(202).end('Accepted');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  gw = await startTestGateway({ auth: { methods: ['token'] }, routes: [{ name: 'mcp', prefix: '/mcp', upstream: `http://127.0.0.1:${port}`, kind: 'mcp', auth_required: true }] });
  const tokens = openTokenService(gw.config, { stateDir: gw.stateDir });
  alice = `Bearer ${(await tokens.mint({ agent: 'alice', scopes: ['readonly'], ttlMs: 3_600_000 })).token}`;
  mallory = `Bearer ${(await tokens.mint({ agent: 'mallory', scopes: ['readonly'], ttlMs: 3_600_000 })).token}`;
});
after(async () => {
  await gw.stop();
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
});

/** The endpoint the gateway announces to alice (the stream is then closed). */
function announced(): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${gw.url}/mcp/sse`, { headers: { accept: 'text/event-stream', authorization: alice } }, (s) => {
      let buf = '';
      s.setEncoding('utf8');
      s.on('data', (c: string) => {
        buf += c;
        const m = /event: endpoint\r?\ndata: (\S+)\r?\n/.exec(buf);
        if (m) {
          req.destroy();
          resolve(m[1] as string);
        }
      });
      s.on('end', () => reject(new Error(`stream ended without an endpoint: ${JSON.stringify(buf)}`)));
    });
    req.on('error', reject);
    req.end();
  });
}

test('an endpoint after a BOM, a retry or an id block is mapped onto the route and sealed: only its owner posts into it', async () => {
  for (const [what, first] of [
    ['a leading BOM', `\uFEFFevent: endpoint\ndata: /messages?sessionId=${ID}\n\n`],
    ['a retry block', `retry: 1000\n\nevent: endpoint\ndata: /messages?sessionId=${ID}\n\n`],
    ['an id block', `id: 1\n\nevent: endpoint\ndata: /messages?sessionId=${ID}\n\n`],
    ['a BOM, then retry with CRLF', `\uFEFFretry: 3000\r\n\r\nevent: endpoint\r\ndata: /messages?sessionId=${ID}\r\n\r\n`],
  ] as const) {
    opening = first;
    const endpoint = await announced();
    assert.match(endpoint, new RegExp(`^/mcp/messages\\?sessionId=${ID}\\.[A-Za-z0-9_-]{22}$`), `${what}: ${endpoint}`);
    posted.length = 0;
    const post = (who: string) =>
      fetch(`${gw.url}${endpoint}`, { method: 'POST', headers: { authorization: who, 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
    assert.equal((await post(mallory)).status, 404, `${what}: another caller is refused`);
    assert.deepEqual(posted, [], `${what}: before the upstream`);
    assert.equal((await post(alice)).status, 202, `${what}: its owner posts`);
    assert.deepEqual(posted, [ID], `${what}: the upstream reads its own id`);
  }
});
