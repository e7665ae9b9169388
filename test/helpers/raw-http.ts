import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';

/**
 * Sends raw bytes to a loopback port and returns everything answered before the server closed (or `waitMs` passed):
 * for requests an HTTP client would normalise or refuse to send (smuggling, odd targets, duplicate headers).
 * With `afterAnswerMs`, `waitMs` only bounds the wait for the first byte of an answer (give it generously: a slow
 * machine may take long to answer), and the connection is then kept `afterAnswerMs` longer for whatever follows (on a
 * connection the server keeps open).
 */
export function rawHttp(port: number, payload: string, waitMs = 400, afterAnswerMs?: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let out = '';
    let timer = setTimeout(() => socket.destroy(), waitMs);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      if (out === '' && afterAnswerMs !== undefined) {
        clearTimeout(timer);
        timer = setTimeout(() => socket.destroy(), afterAnswerMs);
      }
      out += d;
    });
    socket.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? resolve(out) : reject(e)));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    socket.write(payload, 'latin1');
  });
}

/** The status code of the first status line in a raw response (0 when there is none). */
export const rawStatus = (response: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);

/**
 * GET over a connection of its own (agent: false), resolving with the status: under server.workers the supervisor
 * hands each new connection to the next worker, so a run of these reaches every worker.
 */
export async function statusOverNewConnection(url: string): Promise<number> {
  return (await getOverNewConnection(url)).status;
}

/** A GET over a connection of its own (no keep-alive pool), with its status and body as text. */
export function getOverNewConnection(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
