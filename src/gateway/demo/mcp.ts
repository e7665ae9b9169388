import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

/**
 * The built-in demo MCP upstream (streamable HTTP, stateless) with seed 001's tools. Every tool is simulated:
 * it returns a plausible result and changes nothing on the host.
 */
const text = (value: unknown) => ({ content: [{ type: 'text' as const, text: JSON.stringify(value) }] });

const CONTAINERS = [
  { name: 'web', image: 'nginx:1.27', state: 'running' },
  { name: 'db', image: 'postgres:16', state: 'running' },
  { name: 'worker', image: 'acme/worker:2.3', state: 'exited' },
];

export function buildDemoMcpServer(): McpServer {
  const server = new McpServer({ name: 'gatehouse-demo-mcp', version: '1.0.0' });
  server.registerTool('get_system_status', { description: 'View system metrics (simulated). Risk: low.', inputSchema: {} }, async () =>
    text({ hostname: 'demo-host', uptime_seconds: 86_400, load: [0.12, 0.2, 0.18], memory: { total_mb: 16_384, used_mb: 5_120 }, simulated: true }),
  );
  server.registerTool(
    'list_containers',
    { description: 'List containers (simulated). Risk: low.', inputSchema: { all: z.boolean().optional() } },
    async ({ all }) => text({ containers: all ? CONTAINERS : CONTAINERS.filter((c) => c.state === 'running'), simulated: true }),
  );
  server.registerTool(
    'ping_host',
    { description: 'Ping a host (simulated, sends nothing). Risk: moderate.', inputSchema: { host: z.string().max(253), count: z.number().int().min(1).max(10).optional() } },
    async ({ host, count }) => text({ host, transmitted: count ?? 3, received: count ?? 3, rtt_ms: { min: 0.4, avg: 0.6, max: 0.9 }, simulated: true }),
  );
  server.registerTool(
    'manage_container',
    { description: 'Start, stop or restart a container (simulated). Risk: high.', inputSchema: { name: z.string().max(128), action: z.enum(['start', 'stop', 'restart']) } },
    async ({ name, action }) => text({ container: name, action, result: 'ok', simulated: true }),
  );
  server.registerTool(
    'install_package',
    { description: 'Install a system package (simulated). Risk: critical, requires approval.', inputSchema: { package_name: z.string().max(128), auto_approve: z.boolean().optional() } },
    async ({ package_name }) => text({ package: package_name, result: 'installed', version: '1.0.0-demo', simulated: true }),
  );
  server.registerTool(
    'pull_docker_image',
    { description: 'Pull a Docker image (simulated). Risk: critical, requires approval.', inputSchema: { image: z.string().max(256) } },
    async ({ image }) => text({ image, result: 'pulled', digest: 'sha256:' + '0'.repeat(64), simulated: true }),
  );
  server.registerTool(
    'http_request_test',
    { description: 'Test an HTTP request to a URL (simulated, fetches nothing). Seed 001 threat 4: needs network:diag and approval.', inputSchema: { url: z.string().max(2048) } },
    async ({ url }) => text({ url, status: 200, simulated: true }),
  );
  return server;
}

// Stateless mode: a fresh transport per request (the SDK's stateless pattern). Building the server and its tool
// schemas is most of the per-request cost, so idle servers are kept in a small pool and reconnected: a server is
// reused only after its previous transport has closed, so no two requests ever share one.
const POOL_MAX = 64;

async function handle(req: IncomingMessage, res: ServerResponse, pool: McpServer[]): Promise<void> {
  const server = pool.pop() ?? buildDemoMcpServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on('close', () => {
    transport.close().then(
      () => (pool.length < POOL_MAX ? pool.push(server) : void server.close()),
      () => void server.close(),
    );
  });
  await server.connect(transport);
  await transport.handleRequest(req, res);
}

export async function startMcpServer(port = 0): Promise<{ server: Server; url: string }> {
  const pool: McpServer[] = [];
  const server = createServer((req, res) => {
    if (!(req.url ?? '/').startsWith('/')) {
      res.writeHead(400).end();
      return;
    }
    handle(req, res, pool).catch(() => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message: 'Internal error' } }));
      } else res.destroy();
    });
  });
  server.keepAliveTimeout = 60_000;
  // exclusive: in a worker process (server.workers) each worker listens itself, not through the supervisor.
  await new Promise<void>((resolve) => server.listen({ port, host: '127.0.0.1', exclusive: true }, resolve));
  const { port: bound } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${bound}` };
}
