import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An SSE upstream sending an event every 50 ms, forever (or, with `holdHeaders`, answering nothing); counts the requests still open. */
export async function sseUpstream(opts: { holdHeaders?: boolean } = {}): Promise<{ url: string; server: Server; open: () => number; close(): Promise<void> }> {
  let open = 0;
  const server = createServer((req, res) => {
    open++;
    res.on('close', () => open--);
    req.resume();
    if (opts.holdHeaders) return; // a long poll: the answer has not come yet
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    let i = 0;
    const t = setInterval(() => res.write(`data: event ${i++}\n\n`), 50);
    res.on('close', () => clearInterval(t));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    open: () => open,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface Stream {
  /** How it ended: 'end' (a complete chunked response, what an SSE client reconnects on), 'truncated', or an error. */
  ended: Promise<string>;
  isEnded: () => boolean;
  events: () => number;
  status: () => number;
  requestId: () => string | undefined;
  endedAt: () => number;
  body: () => string;
}

/**
 * Opens a request (an SSE stream, a long poll) through the gateway and follows it; after `guardMs` the guard turns the
 * bug under test (a request nothing ends) into a failure instead of a stalled file.
 */
export function openStream(url: string, headers: Record<string, string>, guardMs = 20_000): Stream {
  let events = 0;
  let status = 0;
  let requestId: string | undefined;
  let endedAt = 0;
  let body = '';
  const ended = new Promise<string>((resolve, reject) => {
    const done = (how: string) => {
      endedAt = Date.now();
      resolve(how);
    };
    const req = httpRequest(url, { agent: false, headers }, (res: IncomingMessage) => {
      status = res.statusCode ?? 0;
      requestId = res.headers['x-request-id'] as string;
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
        events += d.split('data: ').length - 1;
      });
      res.on('end', () => done(res.complete ? 'end' : 'truncated'));
      res.on('error', (e) => done(`error ${e.message}`));
    });
    req.on('error', (e) => done(`error ${e.message}`));
    req.end();
    setTimeout(() => {
      req.destroy();
      reject(new Error('the request still runs: nothing ended it'));
    }, guardMs).unref();
  });
  return { ended, isEnded: () => endedAt !== 0, events: () => events, status: () => status, requestId: () => requestId, endedAt: () => endedAt, body: () => body };
}

/** The status of one request (its body dropped). */
export const statusOf = (url: string, headers: Record<string, string>): Promise<number> =>
  new Promise<number>((resolve, reject) => {
    const req = httpRequest(url, { agent: false, headers }, (res) => {
      res.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
