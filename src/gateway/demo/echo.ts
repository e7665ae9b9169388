import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listenOn } from '../server.js';

/**
 * The built-in demo HTTP upstream: echoes what it received (method, path, query, headers, body) so an operator can
 * see exactly what Gatehouse forwards. Extra paths for trying the proxy: /status/:code answers that status (with
 * the request body inside an error message, like a careless upstream), /sse?n=N streams N events, /delay/:ms waits.
 * Simulated: it touches nothing on the host.
 */
const MAX_ECHO_BODY = 64 * 1024;

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let len = 0;
    req.on('data', (c: Buffer) => {
      len += c.length;
      if (len <= limit) chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const buf = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': buf.length });
  res.end(buf);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://echo.local');
  const path = url.pathname;
  if (path.startsWith('/sse')) {
    const n = Math.min(Number(url.searchParams.get('n') ?? 3) || 3, 1000);
    const interval = Math.min(Number(url.searchParams.get('interval') ?? 50) || 0, 10_000);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for (let i = 1; i <= n; i++) {
      if (res.destroyed) return;
      res.write(`id: ${i}\nevent: tick\ndata: {"n":${i},"at":${Date.now()}}\n\n`);
      if (i < n) await new Promise((r) => setTimeout(r, interval));
    }
    res.end();
    return;
  }
  const delay = /^\/delay\/(\d{1,6})$/.exec(path);
  if (delay) await new Promise((r) => setTimeout(r, Number(delay[1])));
  const body = await readBody(req, MAX_ECHO_BODY);
  const status = /^\/status\/([1-5]\d\d)$/.exec(path);
  if (status) {
    json(res, Number(status[1]), { error: `upstream failed while handling: ${body.toString('utf8')}` });
    return;
  }
  if (req.method === 'HEAD') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end();
    return;
  }
  json(res, 200, {
    service: 'gatehouse-demo-echo',
    method: req.method,
    path,
    query: Object.fromEntries(url.searchParams),
    headers: req.headers,
    body: body.toString('utf8'),
  });
}

export async function startEchoServer(port = 0): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) json(res, 500, { error: 'echo failed' });
      else res.destroy();
    });
  });
  return listenDemo(server, port);
}

/** Listens on loopback; a failed listen (the port taken, say) is GH_LISTEN_FAILED, not a start left waiting. */
export async function listenDemo(server: Server, port: number): Promise<{ server: Server; url: string }> {
  server.keepAliveTimeout = 60_000;
  // exclusive: in a worker process (server.workers) each worker listens itself, not through the supervisor.
  await listenOn(server, '127.0.0.1', port, true);
  const { port: bound } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${bound}` };
}
