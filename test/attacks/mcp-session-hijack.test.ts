/**
 * MCP session hijacking (MCP security best practices, "Session Hijacking"): a principal who learns another client's
 * Mcp-Session-Id — from a log, a shared proxy, a leaked header — uses that session at the upstream. The gateway binds
 * session ids to the principal and route that opened them (src/gateway/mcp-session.ts). A real stateful SDK server
 * (sessionIdGenerator: randomUUID) behind a real gateway, driven by the real SDK client.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { until } from '../helpers/until.js';

const ALICE = 'alice-static-token-0123456789abcdef';
const MALLORY = 'mallory-static-token-0123456789abcd';
const ALICE_GLOBEX = 'alice-globex-token-0123456789abcdef';
const PROTOCOL = '2025-06-18';
const POST_HEADERS = { accept: 'application/json, text/event-stream', 'content-type': 'application/json', 'mcp-protocol-version': PROTOCOL };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const CALL = { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'get_system_status', arguments: {} } };

describe('MCP session ids are bound to the principal that opened them', () => {
  let upstream: Server;
  let upstreamUrl: string;
  /** Every request the upstream saw: method and the session id it carried. */
  const seen: { method: string; session: string | undefined; twin: unknown }[] = [];
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  let gw: TestGateway;
  /** Every session id a client was handed, and the raw ids behind them: none may reach the audit log or the logs. */
  const issued: string[] = [];

  before(async () => {
    upstream = createServer((req, res) => {
      const sid = req.headers['mcp-session-id'];
      seen.push({ method: req.method ?? '', session: typeof sid === 'string' ? sid : undefined, twin: req.headers['mcp_session_id'] });
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          const text = Buffer.concat(chunks).toString();
          const body: unknown = text ? JSON.parse(text) : undefined;
          let transport = typeof sid === 'string' ? sessions.get(sid) : undefined;
          // The SDK's documented stateful server: a new transport for an initialize without a session, else the session's.
          if (!transport && sid === undefined && isInitializeRequest(body)) {
            const server = new McpServer({ name: 'stateful', version: '1.0.0' });
            server.registerTool('get_system_status', { description: 'low risk', inputSchema: {} }, async (_args, extra) => ({ content: [{ type: 'text', text: `ran in ${extra.sessionId ?? '-'}` }] }));
            const t: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
              sessionIdGenerator: () => randomUUID(),
              onsessioninitialized: (id) => void sessions.set(id, t),
              onsessionclosed: (id) => void sessions.delete(id),
            });
            await server.connect(t);
            transport = t;
          }
          if (!transport) {
            res.writeHead(sid === undefined ? 400 : 404, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"},"id":null}');
            return;
          }
          await transport.handleRequest(req, res, body);
        })();
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    gw = await startTestGateway({
      auth: {
        methods: ['static'],
        static: {
          tokens: [
            { token: ALICE, principal: 'alice', scopes: ['system:read'], tenant: 'acme' },
            { token: MALLORY, principal: 'mallory', scopes: ['system:read'], tenant: 'acme' },
            { token: ALICE_GLOBEX, principal: 'alice', scopes: ['system:read'], tenant: 'globex' },
          ],
        },
      },
      authz: { tenants: ['acme', 'globex'] },
      routes: [
        { name: 'mcp', prefix: '/mcp', upstream: upstreamUrl, kind: 'mcp', auth_required: true },
        { name: 'mcp2', prefix: '/mcp2', upstream: upstreamUrl, kind: 'mcp', auth_required: true },
      ],
    });
  });
  after(async () => {
    await gw.stop();
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  /** Opens a session at `base` with raw requests; returns the id the client was handed. */
  async function openSession(base: string, auth: Record<string, string>): Promise<string> {
    const init = await request(`${base}/mcp`, {
      method: 'POST',
      headers: { ...POST_HEADERS, ...auth },
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'test', version: '1' } } }),
    });
    const text = await init.body.text();
    const session = init.headers['mcp-session-id'];
    assert.equal(typeof session, 'string', text);
    const done = await request(`${base}/mcp`, { method: 'POST', headers: { ...POST_HEADERS, ...auth, 'mcp-session-id': session as string }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
    assert.equal(done.statusCode, 202, await done.body.text());
    if (base === gw.url) issued.push(session as string);
    return session as string;
  }

  /** One request carrying `session` to `path`; its status and body. */
  async function send(method: 'POST' | 'GET' | 'DELETE', url: string, auth: Record<string, string>, session: string): Promise<{ status: number; text: string }> {
    const headers = method === 'POST' ? { ...POST_HEADERS, ...auth, 'mcp-session-id': session } : { ...auth, accept: 'text/event-stream', 'mcp-protocol-version': PROTOCOL, 'mcp-session-id': session };
    const res = await request(url, { method, headers, ...(method === 'POST' ? { body: JSON.stringify(CALL) } : {}), signal: AbortSignal.timeout(10_000) });
    if (method === 'GET' && res.statusCode === 200) {
      await res.body.destroy();
      return { status: 200, text: '' };
    }
    return { status: res.statusCode, text: await res.body.text() };
  }

  /** The refusal every hijack gets: HTTP 404 with a JSON-RPC error naming GH_MCP_SESSION_UNKNOWN. */
  function assertUnknownSession(r: { status: number; text: string }, what: string): void {
    assert.equal(r.status, 404, `${what}: ${r.text}`);
    const body = JSON.parse(r.text) as { jsonrpc: string; error: { data: { gatehouse_code: string } } };
    assert.equal(body.jsonrpc, '2.0', what);
    assert.equal(body.error.data.gatehouse_code, 'GH_MCP_SESSION_UNKNOWN', what);
  }

  const rawOf = (bound: string): string => bound.slice(0, bound.lastIndexOf('.'));

  test("the control: straight to the upstream, another client's session id is all it takes to use that session", async () => {
    const victim = await openSession(upstreamUrl, {});
    assert.ok(sessions.has(victim));
    const hijack = await send('POST', `${upstreamUrl}/mcp`, {}, victim);
    assert.equal(hijack.status, 200, hijack.text);
    assert.match(hijack.text, new RegExp(`ran in ${victim}`), 'the tool ran in the victim session');
  });

  test("through the gateway the owner's session works with the real SDK client: initialize, tools/call, the GET stream, DELETE", async () => {
    const client = new Client({ name: 'alice', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { requestInit: { headers: bearer(ALICE) } });
    await client.connect(transport);
    try {
      const bound = transport.sessionId as string;
      assert.match(bound, /^[0-9a-f-]{36}\.[A-Za-z0-9_-]{22}$/, 'the client holds a bound id');
      const raw = rawOf(bound);
      issued.push(bound);
      assert.ok(sessions.has(raw), 'the upstream knows the id without its tag');
      const result = (await client.callTool({ name: 'get_system_status', arguments: {} })) as { content: { text: string }[] };
      assert.equal(result.content[0]?.text, `ran in ${raw}`);
      // The SDK client opens the GET (SSE) stream on its own after notifications/initialized.
      await until('the GET stream to reach the upstream', () => seen.some((s) => s.method === 'GET' && s.session === raw));
      await transport.terminateSession();
      assert.ok(seen.some((s) => s.method === 'DELETE' && s.session === raw), 'the DELETE reached the upstream with the raw id');
      assert.equal(sessions.has(raw), false, 'the session is ended at the upstream');
      for (const s of seen) assert.ok(s.session === undefined || !s.session.includes(bound.slice(-22)), 'no tag ever reaches the upstream');
    } finally {
      await client.close();
    }
  });

  test("another principal presenting the owner's bound id is refused with 404 on POST, GET and DELETE, and nothing reaches the upstream", async () => {
    const bound = await openSession(gw.url, bearer(ALICE));
    const before = seen.length;
    for (const method of ['POST', 'GET', 'DELETE'] as const) assertUnknownSession(await send(method, `${gw.url}/mcp`, bearer(MALLORY), bound), `mallory ${method}`);
    // The real SDK client resuming the stolen session (sessionId option: no initialize) gets the 404 too.
    const client = new Client({ name: 'mallory', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { sessionId: bound, requestInit: { headers: bearer(MALLORY) } });
    await client.connect(transport);
    try {
      await assert.rejects(client.callTool({ name: 'get_system_status', arguments: {} }), (e: { code?: number }) => e.code === 404);
    } finally {
      await client.close();
    }
    assert.equal(seen.length, before, 'no hijack attempt reached the upstream');
    // Mallory's DELETE ended nothing: the owner carries on.
    const own = await send('POST', `${gw.url}/mcp`, bearer(ALICE), bound);
    assert.equal(own.status, 200, own.text);
    assert.match(own.text, new RegExp(`ran in ${rawOf(bound)}`));
  });

  test('the same principal id in another tenant, or the owner on another route, is refused', async () => {
    const bound = await openSession(gw.url, bearer(ALICE));
    const before = seen.length;
    assertUnknownSession(await send('POST', `${gw.url}/mcp`, bearer(ALICE_GLOBEX), bound), 'alice@globex');
    for (const method of ['POST', 'GET', 'DELETE'] as const) assertUnknownSession(await send(method, `${gw.url}/mcp2`, bearer(ALICE), bound), `other route ${method}`);
    assert.equal(seen.length, before);
  });

  test('the raw upstream id (no tag), a tampered tag, or a tag moved onto another id is refused, for the owner too', async () => {
    const bound = await openSession(gw.url, bearer(ALICE));
    const other = await openSession(gw.url, bearer(MALLORY));
    const tag = bound.slice(-22);
    const before = seen.length;
    const forged = [rawOf(bound), `${rawOf(bound)}.${tag.startsWith('A') ? 'B' : 'A'}${tag.slice(1)}`, `${rawOf(other)}.${tag}`, `${bound}.${tag}`, `${rawOf(bound)}.`];
    for (const presented of forged) {
      assertUnknownSession(await send('POST', `${gw.url}/mcp`, bearer(ALICE), presented), `alice with ${presented.length} chars`);
      assertUnknownSession(await send('POST', `${gw.url}/mcp`, bearer(MALLORY), presented), `mallory with ${presented.length} chars`);
    }
    assert.equal(seen.length, before);
  });

  test('two Mcp-Session-Id headers are refused (400): the gateway never picks one', async () => {
    const bound = await openSession(gw.url, bearer(ALICE));
    const before = seen.length;
    for (const pair of [[bound, bound], [bound, rawOf(bound)]]) {
      const res = await request(`${gw.url}/mcp`, { method: 'POST', headers: { ...POST_HEADERS, ...bearer(ALICE), 'mcp-session-id': pair }, body: JSON.stringify(CALL) });
      const text = await res.body.text();
      assert.equal(res.statusCode, 400, text);
      assert.match(text, /GH_HEADER_INVALID/);
    }
    // The underscore twin (read as Mcp-Session-Id by WSGI, Rack, PHP) never travels.
    const twin = await request(`${gw.url}/mcp`, { method: 'POST', headers: { ...POST_HEADERS, ...bearer(MALLORY), mcp_session_id: rawOf(bound) }, body: JSON.stringify(CALL) });
    await twin.body.dump();
    assert.ok(seen.length > before, 'the request without a session id was forwarded');
    assert.ok(seen.slice(before).every((s) => s.session === undefined && s.twin === undefined), 'no session id reached the upstream');
  });

  test('refusals are audited with a stable reason; no session id appears in the audit log or the logs', async () => {
    const bound = await openSession(gw.url, bearer(ALICE));
    const refused = await request(`${gw.url}/mcp`, { method: 'POST', headers: { ...POST_HEADERS, ...bearer(MALLORY), 'mcp-session-id': bound }, body: JSON.stringify(CALL) });
    await refused.body.dump();
    assert.equal(refused.statusCode, 404);
    const id = refused.headers['x-request-id'];
    await gw.close(2000); // flushes the audit log
    const dir = join(gw.stateDir, 'audit');
    const text = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).map((f) => readFileSync(join(dir, f), 'utf8')).join('');
    const record = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r['request_id'] === id);
    assert.equal(record?.['error_code'], 'GH_MCP_SESSION_UNKNOWN');
    assert.equal(record?.['subject'], 'mallory');
    assert.equal((record?.['metadata'] as Record<string, unknown>)['mcp_session_refused'], 'mcp_session_mismatch');
    const logs = gw.log.lines.join('\n');
    assert.ok(issued.length >= 5);
    for (const s of issued) {
      assert.ok(!text.includes(rawOf(s)), 'no session id in the audit log');
      assert.ok(!logs.includes(rawOf(s)), 'no session id in the logs');
    }
  });
});
