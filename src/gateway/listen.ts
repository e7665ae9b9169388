import type { Server } from 'node:http';
import { GatehouseError } from '../core/errors.js';

/** HOST:PORT or [v6]:PORT; an empty host is 127.0.0.1. */
export function parseListen(listen: string, field = 'server.listen'): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(listen);
  if (!m) throw new GatehouseError('GH_CONFIG_INVALID', `${field}: expected HOST:PORT, got "${listen.slice(0, 64)}"`);
  return { host: m[1] || '127.0.0.1', port: Number(m[2]) };
}

const LISTEN_REASONS = new Map([
  ['EADDRINUSE', 'the address is in use'],
  ['EACCES', 'permission denied (ports below 1024 need privileges)'],
  ['EADDRNOTAVAIL', 'no interface has this address'],
]);

/** A listen failure names the address and the reason (stable code GH_LISTEN_FAILED), not an internal error. */
function listenError(e: NodeJS.ErrnoException, host: string, port: number): Error {
  const reason = LISTEN_REASONS.get(e.code ?? '') ?? 'the listener could not be opened';
  const shown = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new GatehouseError('GH_LISTEN_FAILED', `cannot listen on ${shown}: ${reason}${e.code ? ` (${e.code})` : ''}`, { cause: e });
}

/**
 * Listens; a failure rejects with GH_LISTEN_FAILED naming the address and the reason. `exclusive`: in a worker process
 * the socket is this process's own, not one shared through the cluster supervisor (the demo upstreams).
 */
export function listenOn(server: Server, host: string, port: number, exclusive = false): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // Only the listen attempt's error: once listening, this handler is removed, so a later server error is not
    // swallowed by a promise that has already settled.
    const onListenError = (e: NodeJS.ErrnoException): void => reject(listenError(e, host, port));
    server.once('error', onListenError);
    server.listen({ port, host, exclusive }, () => {
      server.off('error', onListenError);
      resolve();
    });
  });
}
