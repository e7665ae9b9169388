/**
 * MCP GET streams an unusual upstream sends (review of the session diff): the list filter was installed only on a 200
 * without Content-Length, so a 203 or a Content-Length showed a readonly caller a tool it may not call; a compressed
 * stream could not be read at all; and a legacy endpoint carrying its session where the gateway cannot bind it (in the
 * path) went out unbound. A raw upstream on loopback answers each shape.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { openTokenService } from '../../src/authn/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const LIST = `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'get_system_status', inputSchema: {} }, { name: 'install_package', inputSchema: {} }] } })}\n\n`;

let upstream: Server;
let gw: TestGateway;
let auth: Record<string, string>;

before(async () => {
  upstream = createServer((req, res) => {
    const path = (req.url ?? '').replace(/\?.*$/, '');
    if (path === '/203') res.writeHead(203, { 'content-type': 'text/event-stream' }).end(LIST);
    else if (path === '/cl') res.writeHead(200, { 'content-type': 'text/event-stream', 'content-length': Buffer.byteLength(LIST) }).end(LIST);
    else if (path === '/gzip') res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' }).end(gzipSync(LIST));
    else if (path === '/path-session') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: endpoint\ndata: /messages/3f2a9c1e-session-in-path\n\n');
    } else if (path === '/other-origin') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: endpoint\ndata: http://elsewhere.example/messages?sessionId=3f2a9c1e-other-origin\n\n');
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  gw = await startTestGateway({ auth: { methods: ['token'] }, routes: [{ name: 'mcp', prefix: '/mcp', upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, kind: 'mcp', auth_required: true }] });
  auth = { authorization: `Bearer ${(await openTokenService(gw.config, { stateDir: gw.stateDir }).mint({ agent: 'reader', scopes: ['readonly'], ttlMs: 3_600_000 })).token}` };
});
after(async () => {
  await gw.stop();
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
});

function get(path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string; how: string }> {
  return new Promise((resolve) => {
    const req = request(`${gw.url}/mcp${path}`, { headers: { ...auth, accept: 'text/event-stream' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, how: res.complete ? 'end' : 'truncated' }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, how: 'error' }));
    });
    req.on('error', (e) => resolve({ status: 0, headers: {}, body: '', how: `error ${e.message}` }));
    req.end();
  });
}

test('a list answer on a 203 or a Content-Length stream is filtered too; the stale Content-Length is dropped', async () => {
  for (const path of ['/203', '/cl']) {
    const r = await get(path);
    assert.ok(r.status === 200 || r.status === 203, `${path}: ${r.status}`);
    assert.ok(!r.body.includes('install_package'), `${path}: the readonly caller was shown install_package: ${r.body}`);
    assert.ok(r.body.includes('get_system_status'), path);
    assert.equal(r.headers['content-length'], undefined, path);
  }
});

test('a compressed event stream on an MCP route is refused (it cannot be filtered), not passed', async () => {
  const r = await get('/gzip');
  assert.equal(r.status, 502);
  assert.match(r.body, /GH_UPSTREAM_PROTOCOL/);
});

test('a legacy endpoint the gateway cannot bind (session in the path, another origin) cuts the stream instead of going out unbound', async () => {
  for (const path of ['/path-session', '/other-origin']) {
    const r = await get(path);
    assert.ok(r.status === 200 || r.status === 0, `${path}: ${r.status}`);
    assert.ok(!r.body.includes('3f2a9c1e'), `${path}: the unbound endpoint reached the client: ${r.body}`);
    assert.notEqual(r.how, 'end', `${path}: the stream is cut`);
  }
  const r = await get('/path-session');
  // Cut on the first event: the headers may not have left yet (then the client sees the connection reset).
  assert.ok(r.status === 200 || r.status === 0, String(r.status));
  assert.ok(!r.body.includes('3f2a9c1e'), `the unbound endpoint reached the client: ${r.body}`);
  assert.notEqual(r.how, 'end', 'the stream is cut, so the client sees it broke');
});
