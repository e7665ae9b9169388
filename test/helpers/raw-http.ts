import { connect } from 'node:net';

/**
 * Sends raw bytes to a loopback port and returns everything answered before the server closed (or `waitMs` passed):
 * for requests an HTTP client would normalise or refuse to send (smuggling, odd targets, duplicate headers).
 */
export function rawHttp(port: number, payload: string, waitMs = 400): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let out = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (out += d));
    socket.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? resolve(out) : reject(e)));
    socket.on('close', () => resolve(out));
    socket.write(payload, 'latin1');
    setTimeout(() => socket.destroy(), waitMs);
  });
}

/** The status code of the first status line in a raw response (0 when there is none). */
export const rawStatus = (response: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
