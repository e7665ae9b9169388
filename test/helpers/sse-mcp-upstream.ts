/**
 * A real MCP upstream on the SDK's (deprecated) SSE transport, as older MCP servers run it: GET /sse opens the stream,
 * any other GET is a 405, and every other method is handed to handlePostMessage whatever it is — the layout that
 * makes a body the gateway did not classify dangerous. Records the tools that ran and each request line it saw.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';

export interface SseMcpUpstream {
  url: string;
  /** Tool names, in the order the upstream ran them. */
  ran: string[];
  /** `METHOD /path` of every request. */
  seen: string[];
  server: Server;
}

export async function startSseMcpUpstream(tools: readonly string[] = ['get_system_status', 'install_package']): Promise<SseMcpUpstream> {
  const ran: string[] = [];
  const seen: string[] = [];
  const mcp = new McpServer({ name: 'sse-test-upstream', version: '1.0.0' });
  for (const name of tools) {
    mcp.registerTool(name, { description: name, inputSchema: {} }, async () => {
      ran.push(name);
      return { content: [] };
    });
  }
  let transport: SSEServerTransport | undefined;
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    seen.push(`${req.method} ${path}`);
    if (req.method === 'GET' && path === '/sse') {
      transport = new SSEServerTransport('/messages', res);
      void mcp.connect(transport);
    } else if (req.method === 'GET') res.writeHead(405).end();
    else void transport?.handlePostMessage(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, ran, seen, server };
}
