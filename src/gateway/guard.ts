import type { IncomingMessage } from 'node:http';
import type { Server } from 'node:net';
import type { Socket } from 'node:net';
import { clientKey, normalizeIp } from '../core/net.js';
import type { RateTable } from '../limits/index.js';

/** limits.connection_rate_limit: new connections per client; `exempt` are trusted proxies (they carry many clients). */
export interface ConnectionRate {
  table: RateTable;
  exempt: (ip: string) => boolean;
  now: () => number;
}

/**
 * Connection limits at the door: in total and per client (an IPv4 address, an IPv6 /64: clientKey), and optionally a
 * rate of new connections per client (seed 002's connection_rate_limit). Excess connections are closed at once,
 * before TLS or any parsing, so a flood from one client cannot starve the others.
 */
export class ConnectionGuard {
  readonly #perIp = new Map<string, number>();
  readonly #sockets = new Set<Socket>();
  /** Connections whose first request has not arrived yet, by peer address and port (the raw and the TLS socket share them). */
  readonly #awaitingRequest = new Map<string, NodeJS.Timeout>();
  #refused = 0;
  constructor(private readonly maxTotal: number, private readonly maxPerIp: number, private readonly rate?: ConnectionRate) {}

  /**
   * Node's headersTimeout starts with a request's first byte: a connection that sends nothing (or completes the TLS
   * handshake and then nothing) would hold its slot forever. Such a connection gets the server's headersTimeout,
   * from accept to its first complete request head; later requests on it are Node's (keepAliveTimeout, headersTimeout).
   */
  attach(server: Server & { headersTimeout?: number }): void {
    server.on('connection', (socket: Socket) => this.#admit(socket, server.headersTimeout ?? 0));
    server.on('request', (req: IncomingMessage) => {
      if (this.#awaitingRequest.size === 0) return;
      const key = peerKey(req.socket);
      const timer = this.#awaitingRequest.get(key);
      if (timer === undefined) return;
      clearTimeout(timer);
      this.#awaitingRequest.delete(key);
    });
  }

  #admit(socket: Socket, firstRequestTimeoutMs: number): void {
    const peer = normalizeIp(socket.remoteAddress);
    const ip = clientKey(peer);
    const n = this.#perIp.get(ip) ?? 0;
    const rate = this.rate;
    if (this.#sockets.size >= this.maxTotal || n >= this.maxPerIp || (rate !== undefined && !rate.exempt(peer) && !rate.table.take(ip, rate.now()).allowed)) {
      this.#refused++;
      socket.destroy();
      return;
    }
    this.#perIp.set(ip, n + 1);
    this.#sockets.add(socket);
    const key = peerKey(socket);
    if (firstRequestTimeoutMs > 0) {
      const timer = setTimeout(() => socket.destroy(), firstRequestTimeoutMs);
      timer.unref();
      this.#awaitingRequest.set(key, timer);
    }
    socket.once('close', () => {
      this.#sockets.delete(socket);
      const timer = this.#awaitingRequest.get(key);
      if (timer !== undefined) {
        clearTimeout(timer);
        this.#awaitingRequest.delete(key);
      }
      const left = (this.#perIp.get(ip) ?? 1) - 1;
      if (left <= 0) this.#perIp.delete(ip);
      else this.#perIp.set(ip, left);
    });
  }

  get open(): number {
    return this.#sockets.size;
  }
  get refused(): number {
    return this.#refused;
  }
  destroyAll(): void {
    for (const s of this.#sockets) s.destroy();
  }
}

const peerKey = (socket: Socket): string => `${socket.remoteAddress ?? ''}|${socket.remotePort ?? ''}`;
