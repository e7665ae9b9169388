/**
 * What `/readyz` says beyond the store and the audit log (issue 2: "upstreams and stores reachable"): whether each
 * route's upstream accepts a TCP connection, and which audit sinks are not delivering.
 *
 * The probe is a TCP connect to the upstream's host and port, nothing sent (no TLS handshake on https, no HTTP
 * request): it tells a load balancer whether this gateway can reach its services, without sending them traffic.
 * Clients do not drive it: a result is kept for `intervalMs` (2 s) and a probe runs at most once per interval per
 * distinct origin (routes sharing host:port share it), on demand — the first /readyz after expiry starts it and waits
 * for it (bounded by its timeout), concurrent ones wait for the same probe. No timer outlives a probe.
 *
 * The /readyz body is public: problems name the route only, never the upstream's URL, host, port or the OS error.
 * Those go to the log (warn), once per change of state.
 */
import { connect, type Socket } from 'node:net';
import { systemClock, type Clock } from '../core/clock.js';
import type { Logger } from '../core/types.js';

/** How long a probe's result stands. */
export const PROBE_INTERVAL_MS = 2000;
/** A probe's timeout: the route's connect_timeout, at most this (a readiness check answers within the orchestrator's). */
export const PROBE_TIMEOUT_MAX_MS = 2000;

/** A route whose upstream /readyz requires: its resolved base URL (demo:… already mapped to its loopback URL). */
export interface ProbedRoute {
  name: string;
  url: string;
  connectTimeoutMs: number;
}

/** One audit sink's state as the audit log's sinks report it (AuditSink.health). */
export interface SinkHealth {
  name: string;
  ok: boolean;
  reason?: string;
}

export interface UpstreamProberOptions {
  logger: Logger;
  clock?: Clock;
  intervalMs?: number;
}

interface Origin {
  host: string;
  port: number;
  /** host:port, for the log only. */
  where: string;
  routes: string[];
  timeoutMs: number;
  /** undefined until the first probe ends. */
  up: boolean | undefined;
  checkedAt: number;
  probing: Promise<void> | undefined;
}

/** An http(s) URL's host and port (brackets off an IPv6 literal); undefined for anything else. */
function hostPort(url: string): { host: string; port: number } | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port) };
}

export class UpstreamProber {
  readonly #origins: Origin[] = [];
  /** Route name → its origin, in configuration order (the order problems are listed in). */
  readonly #routes: Array<[string, Origin]> = [];
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  /** Probes in flight: close() ends them. */
  readonly #aborts = new Set<() => void>();
  #closed = false;
  /** Connections opened, for tests. */
  probes = 0;

  /** Routes whose URL is not http(s) are not probed: the proxy refuses them at start. */
  constructor(routes: readonly ProbedRoute[], opts: UpstreamProberOptions) {
    this.#logger = opts.logger;
    this.#clock = opts.clock ?? systemClock;
    this.#intervalMs = opts.intervalMs ?? PROBE_INTERVAL_MS;
    const byWhere = new Map<string, Origin>();
    for (const r of routes) {
      const hp = hostPort(r.url);
      if (!hp) continue;
      const where = `${hp.host.includes(':') ? `[${hp.host}]` : hp.host}:${hp.port}`;
      const timeoutMs = Math.max(1, Math.min(r.connectTimeoutMs, PROBE_TIMEOUT_MAX_MS));
      let o = byWhere.get(where);
      if (!o) {
        o = { ...hp, where, routes: [], timeoutMs, up: undefined, checkedAt: -Infinity, probing: undefined };
        byWhere.set(where, o);
        this.#origins.push(o);
      }
      o.timeoutMs = Math.min(o.timeoutMs, timeoutMs);
      o.routes.push(r.name);
      this.#routes.push([r.name, o]);
    }
  }

  /** Distinct origins probed. */
  get origins(): number {
    return this.#origins.length;
  }

  /** The routes whose upstream did not accept a connection, as public problem strings; probes stale origins first. */
  async problems(): Promise<string[]> {
    if (this.#closed) return [];
    const now = this.#clock.now();
    const waits: Promise<void>[] = [];
    for (const o of this.#origins) {
      if (o.probing === undefined && now - o.checkedAt >= this.#intervalMs) {
        o.probing = this.#probe(o).finally(() => {
          o.probing = undefined;
        });
      }
      if (o.probing !== undefined) waits.push(o.probing);
    }
    await Promise.all(waits);
    return this.#routes.filter(([, o]) => o.up === false).map(([name]) => `upstream of route "${name}" unreachable`);
  }

  /** Ends the probes in flight; later calls probe nothing. */
  close(): void {
    this.#closed = true;
    for (const abort of [...this.#aborts]) abort();
  }

  async #probe(o: Origin): Promise<void> {
    const code = await this.#connect(o);
    if (this.#closed) return;
    o.checkedAt = this.#clock.now();
    const up = code === undefined;
    // Once per change of state, not per probe: a load balancer polling /readyz must not fill the log.
    if (!up && o.up !== false) this.#logger.warn({ upstream: o.where, code, routes: o.routes }, 'readiness: upstream unreachable; /readyz reports its routes not ready');
    else if (up && o.up === false) this.#logger.warn({ upstream: o.where, routes: o.routes }, 'readiness: upstream reachable again');
    o.up = up;
  }

  /** A TCP connect, then the socket destroyed: undefined when it connected, else the error code. */
  #connect(o: Origin): Promise<string | undefined> {
    this.probes++;
    let socket: Socket;
    try {
      socket = connect({ host: o.host, port: o.port });
    } catch (e) {
      // A port net refuses outright (http://host:0): unreachable, like any.
      return Promise.resolve(typeof (e as NodeJS.ErrnoException).code === 'string' ? (e as NodeJS.ErrnoException).code : 'error');
    }
    return new Promise((resolve) => {
      const settle = (code: string | undefined): void => {
        if (!this.#aborts.delete(abort)) return;
        clearTimeout(timer);
        socket.destroy();
        resolve(code);
      };
      const abort = (): void => settle('closed');
      this.#aborts.add(abort);
      const timer = setTimeout(() => settle('ETIMEDOUT'), o.timeoutMs);
      timer.unref();
      // Kept after the probe ends: an error a destroyed socket still emits must not be unhandled.
      socket.on('error', (e: NodeJS.ErrnoException) => settle(typeof e.code === 'string' ? e.code : 'error'));
      socket.once('connect', () => settle(undefined));
    });
  }
}

/**
 * The fixed phrases the sinks put in health().reason (audit/sinks/batcher.ts, http.ts): counts, HTTP statuses and
 * error codes only. Anything else — a reason a future sink words with its URL or address — is shown as a fixed phrase.
 */
const SAFE_SINK_REASONS: readonly RegExp[] = [
  /^delivery failed \([A-Za-z][A-Za-z0-9_]{0,63}\)$/,
  /^delivery stalled \(a batch has waited \d{1,9} s\)$/,
  /^queue full \(\d{1,15} records dropped\)$/,
  /^endpoint unreachable \([A-Za-z][A-Za-z0-9_]{0,63}\)$/,
  /^endpoint refused \d{1,4} batches in a row \(last answer \d{3}\)$/,
  /^endpoint answered \d{3}$/,
];

/** A sink's reason as /readyz may show it. */
export function publicSinkReason(reason: string | undefined): string {
  return reason !== undefined && SAFE_SINK_REASONS.some((re) => re.test(reason)) ? reason : 'not delivering';
}

/** `audit sink <name>: <reason>` for each sink not delivering: /readyz's `degraded` (the gateway stays ready). */
export function degradedSinks(sinks: readonly SinkHealth[]): string[] {
  return sinks.filter((s) => !s.ok).map((s) => `audit sink ${s.name}: ${publicSinkReason(s.reason)}`);
}
