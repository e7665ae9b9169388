import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startMcpServer } from '../../src/gateway/demo/mcp.js';

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

function post(url: string, body: string | Buffer, headers: Record<string, string> = HEADERS): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('the demo MCP server answers a real SDK client (list, call) and the SDK wire format to curl-style posts', async (t) => {
  const { server, url } = await startMcpServer(0);
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const client = new Client({ name: 'demo-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/`)));
  try {
    const tools = (await client.listTools()).tools.map((x) => x.name).sort();
    assert.deepEqual(tools, ['dns_lookup', 'file_operations', 'get_system_status', 'http_request_test', 'install_package', 'list_containers', 'manage_container', 'ping_host', 'pull_docker_image', 'update_docker_container']);
    const res = (await client.callTool({ name: 'ping_host', arguments: { host: 'db.internal', count: 2 } })) as { content: Array<{ text: string }> };
    assert.deepEqual(JSON.parse(res.content[0]!.text), { host: 'db.internal', transmitted: 2, received: 2, rtt_ms: { min: 0.4, avg: 0.6, max: 0.9 }, simulated: true });
  } finally {
    await client.close();
  }
  // The body the demo reads itself reaches the SDK intact: arguments are validated by the tool's schema.
  const bad = await post(`${url}/`, JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'manage_container', arguments: { name: 'web', action: 'explode' } } }));
  assert.equal(bad.status, 200);
  assert.match(bad.body, /"id":7/);
  assert.match(bad.body, /isError|Invalid/);
});

test('the demo MCP server refuses what the SDK transport refuses: invalid JSON (-32700), an oversized body (413), a wrong Accept (406)', async (t) => {
  const { server, url } = await startMcpServer(0);
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const notJson = await post(`${url}/`, '{"jsonrpc":"2.0",');
  assert.equal(notJson.status, 400);
  assert.deepEqual(JSON.parse(notJson.body), { jsonrpc: '2.0', error: { code: -32700, message: 'Parse error: Invalid JSON' }, id: null });

  const huge = await post(`${url}/`, Buffer.alloc(4 * 1024 * 1024 + 1, 0x20));
  assert.equal(huge.status, 413);
  assert.equal(JSON.parse(huge.body).error.code, -32000);

  const declared = await post(`${url}/`, '{}', { ...HEADERS, 'content-length': String(5 * 1024 * 1024) }).catch((e: NodeJS.ErrnoException) => ({ status: -1, body: e.code ?? '' }));
  // Refused from its Content-Length alone, before the (absent) body: 413, or the socket closed under the client.
  assert.ok(declared.status === 413 || declared.status === -1, `declared oversize: ${declared.status}`);

  const wrongAccept = await post(`${url}/`, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), { 'content-type': 'application/json', accept: 'text/html' });
  assert.equal(wrongAccept.status, 406);

  // Still serving after all of that.
  const ok = await post(`${url}/`, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }));
  assert.equal(ok.status, 200);
  assert.match(ok.body, /get_system_status/);
});
