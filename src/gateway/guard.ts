import type { Server } from 'node:net';
import type { Socket } from 'node:net';
import { normalizeIp } from '../core/net.js';

/**
 * Connection limits at the door: in total and per client IP. Excess connections are closed at once, before TLS
 * or any parsing, so a flood from one address cannot starve the others.
 */
export class ConnectionGuard {
  readonly #perIp = new Map<string, number>();
  readonly #sockets = new Set<Socket>();
  #refused = 0;
  constructor(private readonly maxTotal: number, private readonly maxPerIp: number) {}

  attach(server: Server): void {
    server.on('connection', (socket: Socket) => this.#admit(socket));
  }

  #admit(socket: Socket): void {
    const ip = normalizeIp(socket.remoteAddress);
    const n = this.#perIp.get(ip) ?? 0;
    if (this.#sockets.size >= this.maxTotal || n >= this.maxPerIp) {
      this.#refused++;
      socket.destroy();
      return;
    }
    this.#perIp.set(ip, n + 1);
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
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
