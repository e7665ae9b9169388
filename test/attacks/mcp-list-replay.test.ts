/**
 * The tools/list filter cannot be bypassed through MCP resumption: an upstream with an event store (the SDK's
 * resumability) replays, on a GET carrying Last-Event-ID, every event after that id — the unfiltered list answer
 * included — so MCP routes do not forward Last-Event-ID. A real SDK server with InMemoryEventStore behind a real gateway.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const TOKEN = 'reader-static-token-0123456789abc';
const PROTOCOL = '2025-06-18';
/**
 * Resumability as the SDK's EventStore interface describes it, in insertion order (the SDK's example store orders by
 * a random id suffix, so whether the list answer follows a given event would be a coin toss).
 */
class OrderedEventStore implements EventStore {
  readonly #events: { id: string; stream: string; message: JSONRPCMessage }[] = [];
  async storeEvent(stream: string, message: JSONRPCMessage): Promise<string> {
    const id = `${stream}_${String(this.#events.length).padStart(6, '0')}`;
    this.#events.push({ id, stream, message });
    return id;
  }
  async replayEventsAfter(lastEventId: string, { send }: { send: (id: string, message: JSONRPCMessage) => Promise<void> }): Promise<string> {
    const at = this.#events.findIndex((e) => e.id === lastEventId);
    if (at < 0) return '';
    const stream = (this.#events[at] as { stream: string }).stream;
    for (const e of this.#events.slice(at + 1)) if (e.stream === stream) await send(e.id, e.message);
    return stream;
  }
}

const HEADERS = { accept: 'application/json, text/event-stream', 'content-type': 'application/json', 'mcp-protocol-version': PROTOCOL };

describe('MCP resumption does not replay unfiltered list answers', () => {
  let upstream: Server;
  let upstreamUrl: string;
  const seen: IncomingHttpHeaders[] = [];
  let gw: TestGateway;

  before(async () => {
    const sessions = new Map<string, StreamableHTTPServerTransport>();
    upstream = createServer((req, res) => {
      seen.push(req.headers);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          const text = Buffer.concat(chunks).toString();
          const sid = req.headers['mcp-session-id'];
          let transport = typeof sid === 'string' ? sessions.get(sid) : undefined;
          if (!transport) {
            const server = new McpServer({ name: 'resumable', version: '1.0.0' });
            server.registerTool('get_system_status', { description: 'low risk', inputSchema: {} }, async () => ({ content: [] }));
            server.registerTool('install_package', { description: 'critical', inputSchema: {} }, async () => ({ content: [] }));
            const t: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
              sessionIdGenerator: () => randomUUID(),
              eventStore: new OrderedEventStore(),
              onsessioninitialized: (id) => void sessions.set(id, t),
            });
            await server.connect(t);
            transport = t;
          }
          await transport.handleRequest(req, res, text ? JSON.parse(text) : undefined);
        })();
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    gw = await startTestGateway({
      auth: { methods: ['static'], static: { tokens: [{ token: TOKEN, principal: 'reader', scopes: ['system:read'] }] } },
      routes: [{ name: 'mcp', prefix: '/mcp', upstream: upstreamUrl, kind: 'mcp', auth_required: true }],
    });
  });
  after(async () => {
    await gw.stop();
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  /** Opens a session at `base` and asks for [ping, tools/list]; returns the session and the SSE answer. */
  async function listed(base: string, auth: Record<string, string>): Promise<{ session: string; text: string }> {
    const post = async (body: unknown, session?: string) => {
      const res = await request(`${base}/mcp`, { method: 'POST', headers: { ...HEADERS, ...auth, ...(session ? { 'mcp-session-id': session } : {}) }, body: JSON.stringify(body) });
      return { res, text: await res.body.text() };
    };
    const init = await post({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'test', version: '1' } } });
    const session = init.res.headers['mcp-session-id'];
    assert.equal(typeof session, 'string', init.text);
    await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, session as string);
    const list = await post([{ jsonrpc: '2.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', id: 2, method: 'tools/list' }], session as string);
    assert.equal(list.res.statusCode, 200, list.text);
    return { session: session as string, text: list.text };
  }

  /** A GET resuming after `eventId`: what the stream carries within `ms` (it stays open: cut at the deadline). */
  async function resume(base: string, auth: Record<string, string>, session: string, eventId: string, ms = 500): Promise<string> {
    let text = '';
    try {
      const res = await request(`${base}/mcp`, {
        method: 'GET',
        signal: AbortSignal.timeout(ms),
        headers: { ...auth, accept: 'text/event-stream', 'mcp-protocol-version': PROTOCOL, 'mcp-session-id': session, 'last-event-id': eventId, last_event_id: eventId },
      });
      for await (const chunk of res.body) text += (chunk as Buffer).toString();
    } catch (e) {
      if ((e as Error).name !== 'TimeoutError' && (e as Error).name !== 'AbortError') throw e;
    }
    return text;
  }

  const eventIds = (sse: string): string[] => [...sse.matchAll(/^id: ?(\S+)$/gm)].map((m) => m[1] as string);

  test('the control: straight to the upstream, a GET resuming after the ping answer replays the list answer', async () => {
    const { session, text } = await listed(upstreamUrl, {});
    assert.match(text, /install_package/);
    const ids = eventIds(text);
    assert.ok(ids.length >= 1, text);
    assert.match(await resume(upstreamUrl, {}, session, ids[0] as string), /install_package/, 'replayed after the ping answer');
  });

  test('through the gateway the list is filtered, and a resumed GET neither reaches the upstream with Last-Event-ID nor replays it', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const { session, text } = await listed(gw.url, auth);
    assert.match(text, /get_system_status/);
    assert.doesNotMatch(text, /install_package/);
    const ids = eventIds(text);
    assert.ok(ids.length >= 1, 'the upstream numbered its events: the replay is possible');
    const before = seen.length;
    for (const id of ids) assert.doesNotMatch(await resume(gw.url, auth, session, id), /install_package/, `resumed after ${id}`);
    const gets = seen.slice(before);
    assert.ok(gets.length >= 1, 'the GETs reached the upstream');
    for (const h of gets) {
      assert.equal(h['last-event-id'], undefined);
      assert.equal(h['last_event_id'], undefined);
    }
  });
});
