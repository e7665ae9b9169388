import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Principal } from '../../src/core/types.js';

export function principal(id: string, tenant?: string, scopes: string[] = []): Principal {
  return {
    id, type: 'service', method: 'token', scopes, ...(tenant !== undefined ? { tenant } : {}),
    network: { source_ip: '127.0.0.1', peer_ip: '127.0.0.1', tls: false }, attributes: {},
  };
}

/** A loopback server on port 0; returns its base URL and a close function the test must call. */
export async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export async function readBody(req: IncomingMessage, max = 4 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) throw new Error('too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}
