import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { listenDemo } from './echo.js';

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

/** Documentation addresses (RFC 5737, RFC 3849): a simulated answer that points nowhere real. */
function simulatedAnswers(type: string): string[] {
  switch (type) {
    case 'A':
      return ['192.0.2.10'];
    case 'AAAA':
      return ['2001:db8::10'];
    case 'MX':
      return ['10 mail.example.com.'];
    case 'TXT':
      return ['"v=spf1 -all"'];
    default:
      return ['ns1.example.com.'];
  }
}

/** What a file operation would have done, without doing it. */
function simulatedFileResult(operation: string, content: string | undefined): Record<string, unknown> {
  switch (operation) {
    case 'read':
      return { content: 'demo file contents\n', size: 19 };
    case 'list':
      return { entries: [{ name: 'report.txt', size: 19 }, { name: 'data', type: 'directory' }] };
    case 'write':
    case 'append':
      return { bytes_written: Buffer.byteLength(content ?? ''), result: 'ok' };
    default:
      return { result: 'deleted' };
  }
}

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
    'dns_lookup',
    {
      description: 'Resolve a host name (simulated, queries nothing). Risk: moderate.',
      inputSchema: { host: z.string().max(253), record_type: z.enum(['A', 'AAAA', 'CNAME', 'MX', 'NS', 'TXT', 'SRV', 'PTR', 'SOA']).optional() },
    },
    async ({ host, record_type }) => text({ host, record_type: record_type ?? 'A', answers: simulatedAnswers(record_type ?? 'A'), ttl: 300, simulated: true }),
  );
  server.registerTool(
    'manage_container',
    { description: 'Start, stop or restart a container (simulated). Risk: high.', inputSchema: { name: z.string().max(128), action: z.enum(['start', 'stop', 'restart']) } },
    async ({ name, action }) => text({ container: name, action, result: 'ok', simulated: true }),
  );
  server.registerTool(
    'file_operations',
    {
      description: 'Read, write, append, list or delete a file (simulated, touches no file). Risk: high.',
      inputSchema: { operation: z.enum(['read', 'write', 'append', 'list', 'delete']), path: z.string().max(4096), content: z.string().max(1_048_576).optional() },
    },
    async ({ operation, path, content }) => text({ operation, path, ...simulatedFileResult(operation, content), simulated: true }),
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
    'update_docker_container',
    { description: 'Update a container to a new image (simulated). Risk: critical, requires approval.', inputSchema: { name: z.string().max(256), image: z.string().max(512).optional() } },
    async ({ name, image }) => {
      const current = CONTAINERS.find((c) => c.name === name);
      return text({ container: name, previous_image: current?.image ?? null, image: image ?? current?.image ?? null, result: current ? 'updated' : 'not_found', simulated: true });
    },
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

/** The SDK's own bound on a request body (DEFAULT_MAX_REQUEST_BODY_SIZE), kept when the demo reads the body itself. */
const MAX_BODY = 4 * 1024 * 1024;

/** A JSON-RPC error answer with the SDK's shape and wording (what its transport answers for the same input). */
function jsonRpcError(res: ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

/**
 * Reads a POST body (up to MAX_BODY) and parses it. The SDK's transport would read it through a WHATWG Request,
 * which @hono/node-server then builds in full, with an AbortController that undici's Request registers in a
 * FinalizationRegistry: every request left weak references that only a full (mark-compact) GC clears, and at a few
 * hundred calls a second the extra full GCs stalled the server for milliseconds at a time (docs/performance.md). Handed
 * the parsed body, the transport reads only the method, URL and headers, which need no full Request.
 * Undefined when the answer was sent here (too large, not JSON).
 */
function readJsonBody(req: IncomingMessage, res: ServerResponse): Promise<{ value: unknown } | undefined> {
  const tooLarge = (): undefined => {
    // The rest of the body is read and dropped, and the connection closes after the answer: the client may still be
    // sending, and what it sends next is not a request.
    res.setHeader('connection', 'close');
    jsonRpcError(res, 413, -32000, `Payload Too Large: Request body must not exceed ${MAX_BODY} bytes`);
    req.resume();
    return undefined;
  };
  if (Number(req.headers['content-length']) > MAX_BODY) return Promise.resolve(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= MAX_BODY) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData);
      req.off('end', onEnd);
      resolve(tooLarge());
    };
    const onEnd = (): void => {
      try {
        resolve({ value: JSON.parse(Buffer.concat(chunks, size).toString('utf8')) as unknown });
      } catch {
        jsonRpcError(res, 400, -32700, 'Parse error: Invalid JSON');
        resolve(undefined);
      }
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', reject);
  });
}

async function handle(req: IncomingMessage, res: ServerResponse, pool: McpServer[]): Promise<void> {
  let parsed: { value: unknown } | undefined;
  if (req.method === 'POST') {
    parsed = await readJsonBody(req, res);
    if (!parsed) return;
  }
  const server = pool.pop() ?? buildDemoMcpServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  const connected = server.connect(transport);
  // Closed only once connected: a client gone during the connect must not return a server to the pool whose
  // transport is set after the close (the next request would find it "already connected").
  res.once('close', () => {
    connected
      .then(() => transport.close())
      .then(
        () => (pool.length < POOL_MAX ? pool.push(server) : void server.close()),
        () => void server.close(),
      );
  });
  await connected;
  await transport.handleRequest(req, res, parsed?.value);
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
  return listenDemo(server, port);
}
