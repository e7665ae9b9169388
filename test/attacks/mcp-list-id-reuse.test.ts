/**
 * The tools/list filter cannot be bypassed by reusing a JSON-RPC id across two concurrent POSTs. The MCP SDK routes an
 * answer to the stream of the latest POST that used its id (_requestToStreamMapping is overwritten), so a slow
 * tools/list (POST A, id 1) followed by an allowed tools/call reusing id 1 (POST B) delivers the whole list on B's
 * stream. Every MCP POST's answer is therefore filtered by shape, in the SDK's SSE mode and its JSON mode alike, while a
 * tool result that merely holds a `tools` array passes whole. A real SDK server (400 ms list handler) behind a real
 * gateway; the control shows the race straight to the upstream.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const TOKEN = 'readonly-static-token-0123456789abcdef';
const PROTOCOL = '2025-06-18';
const HEADERS = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TOOLS = ['get_system_status', 'list_containers', 'install_package', 'pull_docker_image'].map((name) => ({
  name,
  description: `secret description of ${name}`,
  inputSchema: { type: 'object' as const },
}));
/** What get_system_status answers: a tool result holding a top-level `tools` array (a list answer's shape, and `content`). */
const LOOKALIKE = { content: [{ type: 'text', text: 'status ok' }], tools: [{ name: 'install_package' }, { name: 'pull_docker_image' }] };

/** An SDK upstream: an aggregating server whose tools/list takes 400 ms; `json` selects the transport's JSON mode. */
async function sdkUpstream(json: boolean): Promise<{ server: HttpServer; url: string }> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const text = Buffer.concat(chunks).toString();
        const sid = req.headers['mcp-session-id'];
        let transport = typeof sid === 'string' ? sessions.get(sid) : undefined;
        if (!transport) {
          const s = new Server({ name: 'up', version: '1' }, { capabilities: { tools: {} } });
          s.setRequestHandler(ListToolsRequestSchema, async () => {
            await sleep(400);
            return { tools: TOOLS };
          });
          // Slower than the list: the list answer reaches the call's stream first.
          s.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
            // A progress notification first, when asked for: on an event stream it must reach the client at once.
            const progressToken = request.params._meta?.progressToken;
            if (progressToken !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress: 1 } });
            await sleep(1000);
            return LOOKALIKE;
          });
          const t: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
            sessionIdGenerator: () => randomUUID(),
            enableJsonResponse: json,
            onsessioninitialized: (id) => void sessions.set(id, t),
          });
          await s.connect(t);
          transport = t;
        }
        await transport.handleRequest(req, res, text ? JSON.parse(text) : undefined);
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

for (const json of [false, true]) {
  describe(`a tools/list id reused by a concurrent POST (${json ? 'JSON response mode' : 'SSE mode'})`, () => {
    let up: { server: HttpServer; url: string };
    let gw: TestGateway;

    before(async () => {
      up = await sdkUpstream(json);
      gw = await startTestGateway({
        auth: { methods: ['static'], static: { tokens: [{ token: TOKEN, principal: 'low-agent', scopes: ['readonly'] }] } },
        routes: [{ name: 'mcp', prefix: '/mcp', upstream: up.url, kind: 'mcp', auth_required: true }],
      });
    });
    after(async () => {
      await gw.stop();
      up.server.closeAllConnections();
      await new Promise<void>((r) => up.server.close(() => r()));
    });

    async function session(base: string, auth: Record<string, string>) {
      const post = (body: unknown, sid?: string, signal?: AbortSignal) =>
        fetch(`${base}/mcp`, {
          method: 'POST',
          headers: { ...HEADERS, ...auth, ...(sid ? { 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL } : {}) },
          body: JSON.stringify(body),
          ...(signal ? { signal } : {}),
        });
      const init = await post({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 't', version: '1' } } });
      const sid = init.headers.get('mcp-session-id');
      const initText = await init.text();
      assert.equal(typeof sid, 'string', initText);
      await (await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, sid as string)).text();
      return { sid: sid as string, post };
    }

    /** POST A asks tools/list with id 1; 100 ms later POST B, an allowed tools/call, reuses id 1. B's answer text. */
    async function race(base: string, auth: Record<string, string>): Promise<string> {
      const { sid, post } = await session(base, auth);
      const abortA = new AbortController();
      const a = post({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, sid, abortA.signal)
        .then((r) => r.text())
        .catch(() => '');
      await sleep(100);
      const b = await post({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_system_status', arguments: {} } }, sid, AbortSignal.timeout(5000));
      const text = await b.text();
      abortA.abort(); // its answer went to B: A waits for nothing
      await a;
      return text;
    }

    test('the control: straight to the upstream, the list answer arrives on the tools/call POST, unfiltered', async () => {
      const text = await race(up.url, {});
      assert.match(text, /secret description of install_package/);
    });

    test('through the gateway the list answer on the tools/call POST is filtered to what a readonly token may call', async () => {
      const text = await race(gw.url, { authorization: `Bearer ${TOKEN}` });
      assert.match(text, /get_system_status/, text);
      assert.doesNotMatch(text, /install_package|pull_docker_image/, text);
    });

    test('an allowed tools/call whose result holds a `tools` array (a list answer, plus content) passes whole', async () => {
      const { sid, post } = await session(gw.url, { authorization: `Bearer ${TOKEN}` });
      const text = await (await post({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'get_system_status', arguments: {} } }, sid)).text();
      const data = json ? text : (/^data: (.*)$/m.exec(text)?.[1] ?? '');
      assert.deepEqual(JSON.parse(data).result, LOOKALIKE, text);
    });

    if (!json) {
      test('a tools/call event stream flows as it comes: the progress notification arrives before the result, not buffered with it', async () => {
        const { sid, post } = await session(gw.url, { authorization: `Bearer ${TOKEN}` });
        const res = await post({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'get_system_status', arguments: {}, _meta: { progressToken: 'p8' } } }, sid);
        assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
        const reader = (res.body as ReadableStream<Uint8Array>).getReader();
        const first = new TextDecoder().decode((await reader.read()).value);
        assert.match(first, /notifications\/progress/, first);
        assert.doesNotMatch(first, /"result"/, 'the result (1 s later) came in a later read: the stream was not held back');
        let rest = '';
        for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
        assert.match(rest, /"result"/);
      });
    }
  });
}
