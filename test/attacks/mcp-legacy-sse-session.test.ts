/**
 * The deprecated HTTP+SSE transport (MCP 2024-11-05) carries its session in the query of the endpoint its GET stream
 * announces (`event: endpoint`, `data: /messages?sessionId=…`). Before, the gateway passed that announcement as the
 * upstream wrote it: anyone on the route who learned a session id (a log, a shared proxy) could POST into another
 * caller's session — answer the upstream's sampling requests for it, cancel its calls — and a real SDK client behind
 * a prefixed route POSTed outside the route (`/messages` instead of `/mcp/messages`). Now the endpoint is mapped onto
 * the route and its session sealed for the caller, as Mcp-Session-Id is. Real parts: the MCP SDK's SSE server
 * transport (one transport per session, looked up by sessionId as the SDK documents) and its SSE client.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { openTokenService } from '../../src/authn/index.js';
import { querySessionParams } from '../../src/gateway/mcp-session.js';
import { SseEndpointRewriter, SseEventFilter } from '../../src/gateway/sse-events.js';
import { makeStreamListFilter, UNFILTERABLE_EVENT } from '../../src/authz/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

interface Upstream {
  url: string;
  server: Server;
  /** The sessionId of every POST, as the upstream read it. */
  posted: string[];
  ran: string[];
}

/** An SDK SSE server keeping one transport per session, as the SDK's documentation has it; POSTs for an unknown session get 404. */
async function legacyUpstream(): Promise<Upstream> {
  const transports = new Map<string, SSEServerTransport>();
  const posted: string[] = [];
  const ran: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://upstream');
    if (req.method === 'GET' && url.pathname === '/sse') {
      const mcp = new McpServer({ name: 'legacy-sse', version: '1.0.0' });
      mcp.registerTool('get_system_status', { description: 'status', inputSchema: {} }, async () => {
        ran.push('get_system_status');
        return { content: [{ type: 'text', text: 'ok' }] };
      });
      mcp.registerTool('install_package', { description: 'installs a package', inputSchema: {} }, async () => {
        ran.push('install_package');
        return { content: [] };
      });
      const transport = new SSEServerTransport('/messages', res);
      transports.set(transport.sessionId, transport);
      res.on('close', () => transports.delete(transport.sessionId));
      void mcp.connect(transport);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/messages') {
      const id = url.searchParams.get('sessionId') ?? '';
      posted.push(id);
      const transport = transports.get(id);
      if (!transport) {
        res.writeHead(404).end('unknown session');
        return;
      }
      void transport.handlePostMessage(req, res);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, posted, ran };
}

/** Opens the SSE stream through the gateway and returns the endpoint it announces (the stream stays open). */
function openStream(url: string, headers: Record<string, string>): Promise<{ endpoint: string; stream: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    request(url, { headers: { accept: 'text/event-stream', ...headers } }, (s) => {
      let buf = '';
      s.setEncoding('utf8');
      s.on('data', (chunk: string) => {
        buf += chunk;
        const m = /event: endpoint\r?\ndata: (\S+)\r?\n/.exec(buf);
        if (m) resolve({ endpoint: m[1] as string, stream: s });
      });
    })
      .on('error', reject)
      .end();
  });
}

const ping = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'ping' }));

function post(url: string, headers: Record<string, string>, body: Buffer = ping): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json', 'content-length': String(body.length) } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the legacy SSE transport through a bound MCP route', () => {
  let up: Upstream;
  let gw: TestGateway;
  let alice: Record<string, string>;
  let mallory: Record<string, string>;
  const streams: IncomingMessage[] = [];

  before(async () => {
    up = await legacyUpstream();
    gw = await startTestGateway({ auth: { methods: ['token'] }, routes: [{ name: 'mcp', prefix: '/mcp', upstream: up.url, kind: 'mcp', auth_required: true }] });
    const tokens = openTokenService(gw.config, { stateDir: gw.stateDir });
    alice = { authorization: `Bearer ${(await tokens.mint({ agent: 'alice', scopes: ['readonly'], ttlMs: 3_600_000 })).token}` };
    mallory = { authorization: `Bearer ${(await tokens.mint({ agent: 'mallory', scopes: ['readonly'], ttlMs: 3_600_000 })).token}` };
  });
  after(async () => {
    for (const s of streams) s.destroy();
    await gw.stop();
    up.server.closeAllConnections();
    await new Promise<void>((r) => up.server.close(() => r()));
  });

  test('a real SDK SSE client on /mcp/sse lists and calls tools: the endpoint is mapped onto the route and bound', async () => {
    const transport = new SSEClientTransport(new URL(`${gw.url}/mcp/sse`), {
      requestInit: { headers: alice },
      eventSourceInit: { fetch: (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...alice } }) },
    });
    const client = new Client({ name: 'legacy-client', version: '1.0.0' });
    await client.connect(transport);
    try {
      // The answer comes on the GET stream (the POST that asked got 202): filtered there to what alice may call —
      // install_package needs more than readonly, so she is not shown it.
      const tools = await client.listTools();
      assert.deepEqual(tools.tools.map((t) => t.name), ['get_system_status']);
      const result = await client.callTool({ name: 'get_system_status', arguments: {} });
      assert.deepEqual(result.content, [{ type: 'text', text: 'ok' }]);
      assert.deepEqual(up.ran, ['get_system_status']);
      // The upstream read its own session id (a UUID), never the bound one.
      assert.ok(up.posted.length >= 3 && up.posted.every((id) => /^[0-9a-f-]{36}$/.test(id)), JSON.stringify(up.posted));
    } finally {
      await client.close();
    }
  });

  test('the announced endpoint is on the route, its session bound: another caller, the raw id, a twin or an encoded name are refused before the upstream', async () => {
    const a = await openStream(`${gw.url}/mcp/sse`, alice);
    streams.push(a.stream);
    const m = /^\/mcp\/messages\?sessionId=([^&]+)$/.exec(a.endpoint);
    assert.ok(m, a.endpoint);
    const sealed = decodeURIComponent(m[1] as string);
    const raw = sealed.slice(0, sealed.lastIndexOf('.'));
    assert.match(raw, /^[0-9a-f-]{36}$/);
    assert.match(sealed.slice(raw.length), /^\.[A-Za-z0-9_-]{22}$/);

    const before = up.posted.length;
    assert.equal((await post(`${gw.url}${a.endpoint}`, alice)).status, 202, 'its owner posts into it');
    assert.deepEqual(up.posted.slice(before), [raw]);

    const refusals = [
      [`${gw.url}${a.endpoint}`, mallory, 404, 'another principal with the bound id'],
      [`${gw.url}/mcp/messages?sessionId=${raw}`, alice, 404, 'the raw upstream id, even by its owner'],
      [`${gw.url}/mcp/messages?session%49d=${raw}`, mallory, 404, 'a percent-encoded parameter name'],
      [`${gw.url}/mcp/messages?sessionId=${encodeURIComponent(sealed)}&sessionId=${raw}`, alice, 400, 'two session parameters'],
      [`${gw.url}/mcp/messages?sessionId=${encodeURIComponent(sealed)}&session_id=${raw}`, alice, 400, 'the SDK\'s and FastMCP\'s names together'],
      [`${gw.url}/mcp/messages?sessionId=%E0%A4%A`, alice, 400, 'malformed percent-encoding'],
      ...(['SESSIONID', 'SessionId', 'sessionId[]', 'sessionId%5B%5D', 'sessionId[0]', 'session.id'].map((name) => [`${gw.url}/mcp/messages?${name}=${raw}`, mallory, 404, `the raw id under ${name}`] as const)),
      [`${gw.url}/mcp/messages?x=1;sessionId=${raw}`, mallory, 404, 'the raw id after a ; separator'],
    ] as const;
    for (const [url, who, status, what] of refusals) {
      const r = await post(url, who);
      assert.equal(r.status, status, `${what}: ${r.body}`);
      if (status === 404) assert.match(r.body, /-32039|GH_MCP_SESSION_UNKNOWN/, what);
      assert.ok(!r.body.includes(raw), `${what}: the answer does not echo the session id`);
    }
    assert.deepEqual(up.posted.slice(before), [raw], 'none of them reached the upstream');

    // Mallory's own stream gets a session of its own, bound to her.
    const b = await openStream(`${gw.url}/mcp/sse`, mallory);
    streams.push(b.stream);
    assert.notEqual(b.endpoint, a.endpoint);
    assert.equal((await post(`${gw.url}${b.endpoint}`, mallory)).status, 202);
    assert.equal((await post(`${gw.url}${b.endpoint}`, alice)).status, 404);
  });
});

describe('SseEndpointRewriter', () => {
  const rewrite = (uri: string) => `/gw${uri}`;
  const run = (chunks: Buffer[], fn: (uri: string) => string | undefined = rewrite): string => {
    const r = new SseEndpointRewriter(fn);
    const out = chunks.map((c) => r.push(c));
    const held = r.flush();
    return Buffer.concat([...out, ...(held ? [held] : [])]).toString('utf8');
  };

  test('rewrites the first event when it is an endpoint, byte by byte as well as whole, with LF, CRLF or CR', () => {
    for (const br of ['\n', '\r\n', '\r']) {
      const text = `: comment${br}${br}event: endpoint${br}data: /messages?sessionId=abc${br}${br}event: message${br}data: {"x":1}${br}${br}`;
      const want = `: comment${br}${br}event: endpoint${br}data: /gw/messages?sessionId=abc${br}${br}event: message${br}data: {"x":1}${br}${br}`;
      assert.equal(run([Buffer.from(text)]), want, JSON.stringify(br));
      assert.equal(run([...Buffer.from(text)].map((b) => Buffer.from([b]))), want, `${JSON.stringify(br)} byte by byte`);
    }
  });

  test('passes unchanged a stream whose first event is another, an endpoint with two data lines, one the rewrite leaves alone, or an event too large to hold', () => {
    for (const text of [
      'event: message\ndata: {"jsonrpc":"2.0"}\n\nevent: endpoint\ndata: /m?sessionId=x\n\n',
      'data: /messages\n\n',
      'event: endpoint\ndata: /a\ndata: /b\n\n',
      `event: endpoint\ndata: /${'x'.repeat(20_000)}`,
    ]) assert.equal(run([Buffer.from(text)]), text);
    assert.equal(run([Buffer.from('event: endpoint\ndata: /m\n\n')], () => undefined), 'event: endpoint\ndata: /m\n\n');
  });

  test('finds the endpoint past a leading byte order mark and blocks that dispatch no event (retry, id or event alone), byte by byte as well as whole', () => {
    // HTML's SSE parsing: a leading BOM is ignored, and a block without a data line dispatches nothing.
    for (const br of ['\n', '\r\n', '\r']) {
      for (const before of ['\uFEFF', `retry: 3000${br}${br}`, `id: x${br}${br}`, `event: endpoint${br}${br}`, `\uFEFF: hi${br}${br}retry: 1${br}id: 2${br}${br}${br}`]) {
        const text = `${before}event: endpoint${br}data: /messages?sessionId=abc${br}${br}data: {"x":1}${br}${br}`;
        const want = text.replace('data: /messages', 'data: /gw/messages');
        const what = JSON.stringify(before);
        assert.equal(run([Buffer.from(text)]), want, what);
        assert.equal(run([...Buffer.from(text)].map((b) => Buffer.from([b]))), want, `${what} byte by byte`);
      }
    }
    // The first event is still the only one looked at, and a BOM counts only at the very start.
    for (const text of ['retry: 1\n\ndata: {}\n\nevent: endpoint\ndata: /m\n\n', ': c\n\n\uFEFFevent: endpoint\ndata: /m\n\n', '\uFEFF\uFEFFevent: endpoint\ndata: /m\n\n']) {
      assert.equal(run([Buffer.from(text)]), text, JSON.stringify(text));
    }
  });

  test('holds an incomplete first event and gives it back when the stream ends', () => {
    const r = new SseEndpointRewriter(rewrite);
    assert.equal(r.push(Buffer.from('event: endpoint\ndata: /m')).length, 0);
    assert.equal(r.flush()?.toString(), 'event: endpoint\ndata: /m');
  });

  test('querySessionParams decodes names as servers do and finds every session parameter', () => {
    const q = querySessionParams('a=1&session%49d=x%2By&session_id=z&sessionId&b=session');
    assert.deepEqual(q.parts.map((p) => p.start), [4, 22, 35]);
    assert.deepEqual(q.values, ['x+y', 'z', '']);
    // Every spelling some server reads as the session (review of the session diff): case (ASP.NET, the C# SDK), a []
    // suffix (Express's qs), . or space for _ (PHP), the long s and Kelvin-sign folds, ; as a separator (Rack 2).
    for (const query of ['SESSIONID=r', 'SessionId=r', 'sessionid=r', 'sessionId[]=r', 'sessionId%5B%5D=r', 'sessionId[0]=r', 'x=1;sessionId=r', 'session.id=r', 'session+id=r', '\u017fessionId=r', 'Session_Id[x]=r']) {
      assert.equal(querySessionParams(query).parts.length, 1, query);
    }
    for (const query of ['session=r', 'sessionIdx=r', 'xsessionId=r', 'id=r']) assert.equal(querySessionParams(query).parts.length, 0, query);
    assert.throws(() => querySessionParams('sessionId=%E0%A4%A'), URIError);
  });
});

describe('the stream list filter (list answers on a GET stream)', () => {
  const keep = (kind: string, key: string) => kind === 'tools' && key === 'ok_tool';
  const filter = makeStreamListFilter(keep);
  const list = (id: number, names: string[]) => JSON.stringify({ jsonrpc: '2.0', id, result: { tools: names.map((name) => ({ name, inputSchema: {} })) } });

  test('filters list answers by shape, whatever their id, batches and escaped keys included; other messages pass as they are', () => {
    assert.deepEqual((JSON.parse(filter(list(9, ['ok_tool', 'secret_tool']))) as { result: { tools: { name: string }[] } }).result.tools.map((t) => t.name), ['ok_tool']);
    const escaped = '{"jsonrpc":"2.0","id":1,"result":{"\\u0074ools":[{"name":"secret_tool"}]}}';
    assert.deepEqual(JSON.parse(filter(escaped)), { jsonrpc: '2.0', id: 1, result: { tools: [] } });
    const batch = `[${list(1, ['secret_tool'])},{"jsonrpc":"2.0","method":"notifications/progress","params":{}}]`;
    assert.deepEqual((JSON.parse(filter(batch)) as unknown[])[0], { jsonrpc: '2.0', id: 1, result: { tools: [] } });
    for (const same of ['{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"x"}}', list(2, ['ok_tool']), 'not json at all']) assert.equal(filter(same), same);
    assert.throws(() => filter('{"tools": broken'), SyntaxError);
  });

  test('an answer holding a key twice is sent as the filter read it: a client keeping the first never sees the copy left unchecked', () => {
    const mayCall = makeStreamListFilter((kind, key) => kind === 'tools' && key === 'get_system_status');
    const dupTools = '{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"install_package"}],"tools":[{"name":"get_system_status"}]}}';
    const dupResult = '{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"install_package"}]},"result":{"content":[]}}';
    assert.equal(mayCall(dupTools), '{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"get_system_status"}]}}');
    assert.equal(mayCall(dupResult), '{"jsonrpc":"2.0","id":3,"result":{"content":[]}}');
    assert.equal(mayCall(`[${dupTools}]`), '[{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"get_system_status"}]}}]');
    // Parsed data is sent serialized again, written canonically or not; canonical text passes as it is.
    assert.equal(mayCall('{ "jsonrpc": "2.0", "id": 4, "result": { "tools": [] } }'), '{"jsonrpc":"2.0","id":4,"result":{"tools":[]}}');
    const f = new SseEventFilter(mayCall, 4096);
    const out = f.push(Buffer.from(`event: message\ndata: ${dupTools}\n\nevent: message\ndata: ${dupResult}\n\n`)).toString('utf8');
    assert.ok(!out.includes('install_package'), out);
  });

  test('SseEventFilter rewrites filtered events, withholds what cannot be filtered, holds incomplete events and refuses one past its bound', () => {
    const f = new SseEventFilter(filter, 4096);
    const events = `: keepalive\n\nevent: message\ndata: ${list(3, ['ok_tool', 'secret_tool'])}\n\nevent: message\ndata: {"tools": broken\n\nevent: message\ndata: {"jsonrpc":"2.0","method":"ping"}\n\n`;
    const bytes = Buffer.from(events);
    const out = Buffer.concat([...bytes].map((b) => f.push(Buffer.from([b])))).toString('utf8');
    assert.ok(!out.includes('secret_tool'), out);
    assert.ok(out.includes('"ok_tool"'));
    assert.ok(out.includes(`data: ${UNFILTERABLE_EVENT}`), 'the event that could not be filtered is withheld');
    assert.ok(out.startsWith(': keepalive\n\n') && out.endsWith('data: {"jsonrpc":"2.0","method":"ping"}\n\n'), out);
    assert.equal(f.push(Buffer.from('data: {"tools"')).length, 0, 'an incomplete event is held');
    assert.throws(() => f.push(Buffer.alloc(5000, 0x61)), RangeError);
  });
});
