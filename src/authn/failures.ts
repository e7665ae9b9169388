import { clientKey, normalizeIp } from '../core/net.js';

/**
 * Authentication failures counted per client (an IPv4 address, an IPv6 /64: core/net clientKey, so cycling through
 * the addresses of one prefix gains nothing) and per claimed principal, in memory, over a fixed window
 * (issue 3: "every failure is counted per source and principal"; the limits capability locks out on these counts).
 * Bounded: past `maxKeys` the oldest key is forgotten.
 */
export interface FailureSnapshot {
  by_ip: Record<string, number>;
  by_principal: Record<string, number>;
}

export interface FailureEvent {
  ip: string;
  principal: string | undefined;
  method: string;
  reason: string;
  ipCount: number;
  principalCount: number | undefined;
  /** Counted by another worker (server.workers) and reported here, with that worker's own counts after it. */
  peer?: PeerCounts;
}

/** A failure's counts in the worker that counted it. */
export interface PeerCounts {
  ipCount: number;
  principalCount: number | undefined;
}

interface Window {
  count: number;
  /** Of count, the failures this process counted itself (the rest other workers reported). */
  own: number;
  since: number;
}

class WindowedCounts {
  readonly #map = new Map<string, Window>();
  constructor(readonly windowMs: number, readonly maxKeys: number) {}

  add(key: string, now: number, own: boolean): number {
    let w = this.#map.get(key);
    if (w === undefined || now - w.since >= this.windowMs) {
      if (w === undefined && this.#map.size >= this.maxKeys) {
        const oldest = this.#map.keys().next();
        if (!oldest.done) this.#map.delete(oldest.value);
      }
      w = { count: 0, own: 0, since: now };
      this.#map.delete(key);
      this.#map.set(key, w);
    }
    if (own) w.own++;
    return ++w.count;
  }

  get(key: string, now: number): number {
    const w = this.#map.get(key);
    return w === undefined || now - w.since >= this.windowMs ? 0 : w.count;
  }

  /** Takes over another process's count for the key (as a peer's: none of it own) when it is the larger. */
  restore(key: string, count: number, now: number): void {
    if (this.get(key, now) >= count) return;
    const w = this.#map.get(key);
    if (w !== undefined && now - w.since < this.windowMs) {
      w.count = count;
      return;
    }
    if (w === undefined && this.#map.size >= this.maxKeys) return;
    this.#map.delete(key);
    this.#map.set(key, { count, own: 0, since: now });
  }

  getOwn(key: string, now: number): number {
    const w = this.#map.get(key);
    return w === undefined || now - w.since >= this.windowMs ? 0 : w.own;
  }

  reset(key: string): void {
    this.#map.delete(key);
  }

  snapshot(now: number): Record<string, number> {
    const out = Object.create(null) as Record<string, number>;
    for (const [k, w] of this.#map) if (now - w.since < this.windowMs) out[k] = w.count;
    return out;
  }
}

export class FailureCounter {
  readonly #ips: WindowedCounts;
  readonly #principals: WindowedCounts;
  readonly #listeners: ((e: FailureEvent) => void)[] = [];
  readonly #now: () => number;

  readonly #exempt: (ip: string) => boolean;

  /**
   * `exempt`: addresses never locked out (limits.lockout.exempt). Their failures are not charged to their client key
   * (an IPv6 /64), so an exempt host failing by mistake does not lock its neighbours out; they still count against
   * the principal they claim.
   */
  constructor(opts: { windowMs?: number; maxKeys?: number; now?: () => number; exempt?: (ip: string) => boolean } = {}) {
    this.#ips = new WindowedCounts(opts.windowMs ?? 15 * 60_000, opts.maxKeys ?? 50_000);
    this.#principals = new WindowedCounts(opts.windowMs ?? 15 * 60_000, opts.maxKeys ?? 50_000);
    this.#now = opts.now ?? Date.now;
    this.#exempt = opts.exempt ?? (() => false);
  }

  record(ip: string, principal: string | undefined, method: string, reason: string): FailureEvent {
    return this.#count({ ip, principal, method, reason, ipCount: 0, principalCount: undefined });
  }

  /**
   * A failure another worker counted (server.workers): charged to the same client and principal here, so that the
   * workers' failures draw on one allowance. Listeners see it with `peer`: the counts in the worker that counted it.
   */
  recordPeer(ip: string, principal: string | undefined, peer: PeerCounts): FailureEvent {
    return this.#count({ ip, principal, method: 'peer', reason: 'peer', ipCount: 0, principalCount: undefined, peer });
  }

  #count(event: FailureEvent): FailureEvent {
    const now = this.#now();
    const own = event.peer === undefined;
    const ip = normalizeIp(event.ip);
    event.ipCount = this.#exempt(ip) ? 0 : this.#ips.add(clientKey(ip), now, own);
    if (event.principal !== undefined) event.principalCount = this.#principals.add(event.principal, now, own);
    for (const fn of this.#listeners) fn(event);
    return event;
  }

  /** Failures from this IP (its /64 for IPv6) within the window. */
  forIp(ip: string): number {
    return this.#ips.get(clientKey(normalizeIp(ip)), this.#now());
  }

  /** Failures claiming this principal within the window. */
  forPrincipal(principal: string): number {
    return this.#principals.get(principal, this.#now());
  }

  /** Of forIp, the failures this process counted itself (not reported by other workers). */
  ownForIp(ip: string): number {
    return this.#ips.getOwn(clientKey(normalizeIp(ip)), this.#now());
  }

  /** Of forPrincipal, the failures this process counted itself. */
  ownForPrincipal(principal: string): number {
    return this.#principals.getOwn(principal, this.#now());
  }

  /** Forgets a client's failures (`client` as counted: an IPv4 address, an IPv6 /64): its lockout began or was lifted. */
  resetClient(client: string): void {
    this.#ips.reset(client);
  }

  /** Forgets the failures claiming this principal: its lockout began or was lifted. */
  resetPrincipal(principal: string): void {
    this.#principals.reset(principal);
  }

  /** Called synchronously on every failure (the limits capability's lockout hook). */
  onFailure(fn: (e: FailureEvent) => void): void {
    this.#listeners.push(fn);
  }

  /**
   * Takes over another worker's counts (its snapshot()), for a worker started in place of a dead one: each key keeps
   * the larger count, its window starting now (a later end than the original's: the stricter reading). Read as
   * untrusted input: entries that are not a short key and a whole count are skipped.
   */
  restore(snapshot: unknown): void {
    const now = this.#now();
    const take = (from: unknown, into: WindowedCounts): void => {
      if (typeof from !== 'object' || from === null) return;
      for (const [key, count] of Object.entries(from)) {
        if (key.length > 1024 || typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1) continue;
        into.restore(key, Math.min(count, 1_000_000), now);
      }
    };
    take((snapshot as { by_ip?: unknown } | null)?.by_ip, this.#ips);
    take((snapshot as { by_principal?: unknown } | null)?.by_principal, this.#principals);
  }

  snapshot(): FailureSnapshot {
    const now = this.#now();
    return { by_ip: this.#ips.snapshot(now), by_principal: this.#principals.snapshot(now) };
  }
}
