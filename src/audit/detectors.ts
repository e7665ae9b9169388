/**
 * The alert engine's intrusion detectors (seed 000's roadmap "Intrusion detection features"; docs/audit.md § Alerts):
 * what they read from a record, and the bounded sliding windows they count in. Keys and values come from requests,
 * so every table is a Map, capped in keys and in entries, oldest key evicted first. Nothing here keeps or returns a
 * path, a query, a header, an argument or a token: sources are addresses or tailscale nodes, targets are route,
 * tool, MCP method and action names.
 */
import type { ErrorCode } from '../core/errors.js';

type Rec = Readonly<Record<string, unknown>>;

/** Keys a detector tracks at most (oldest evicted), and entries (values or times) over all its keys. */
export const MAX_KEYS = 10_000;
export const MAX_ENTRIES = 100_000;
/** Sources or targets an alert lists at most (its `distinct` says how many there were). */
export const MAX_LISTED = 20;

/**
 * Codes the gateway audits when it refuses a request as malformed or hostile before forwarding it: path confusion
 * (GH_PATH_INVALID), a bad Host (GH_HEADER_INVALID), TRACE (GH_METHOD_NOT_ALLOWED), oversized headers or bodies,
 * a body where none belongs (GH_BAD_REQUEST) and invalid JSON-RPC.
 */
export const MALFORMED_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'GH_BAD_REQUEST', 'GH_PATH_INVALID', 'GH_HEADER_INVALID', 'GH_METHOD_NOT_ALLOWED', 'GH_HEADERS_TOO_LARGE', 'GH_BODY_TOO_LARGE', 'GH_JSONRPC_INVALID',
]);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** The error code of a request refused as malformed, else undefined. */
export function malformedCode(r: Rec): string | undefined {
  const code = r['error_code'];
  // A client that hung up (a closed SSE stream, a cancelled upload) is GH_CLIENT_CLOSED, never counted here.
  return typeof code === 'string' && MALFORMED_CODES.has(code) ? code : undefined;
}

/** Where a request came from: its tailscale node when present, else its source address. */
export function sourceOf(r: Rec): string | undefined {
  const ts = r['tailscale'];
  const node = ts !== null && typeof ts === 'object' ? str((ts as Rec)['tailscale_node']) : undefined;
  return node ?? str(r['source_ip']);
}

/** One principal: its id with its authentication method, length-prefixed so that no two pairs spell the same key. */
export function principalKeyOf(r: Rec): string | undefined {
  const subject = str(r['subject']);
  if (subject === undefined) return undefined;
  const method = str(r['auth_method']);
  return method === undefined ? `-${subject}` : `${method.length}:${method}:${subject}`;
}

/**
 * What a denial was about, from names the configuration or the MCP protocol define: the route, then the tool, the
 * MCP method or the action. Never the path, the query, an MCP resource URI or an argument (any may hold a secret).
 */
export function targetOf(r: Rec): string | undefined {
  const meta = r['metadata'];
  const m = meta !== null && typeof meta === 'object' ? (meta as Rec) : undefined;
  const route = str(m?.['route']);
  const what = str(r['tool']) ?? str(m?.['mcp_method']) ?? str(r['action']);
  if (route === undefined && what === undefined) return undefined;
  return `${route ?? '-'}:${what ?? '*'}`.slice(0, 300);
}

interface DistinctSlot {
  /** Value → when last seen, in order of last sight (so the expired are first). */
  seen: Map<string, number>;
  /** Alerted: the key is ignored until then (one alert per key per window). */
  muted: number;
}

/**
 * Distinct values per key within a sliding window (credential_spread: sources per principal; scope_probing: targets
 * per principal). O(1) per observation; a value seen again within `refreshMs` changes nothing (no write), which
 * makes the window up to `refreshMs` shorter for it and spares the hot path.
 */
export class DistinctWindow {
  readonly #slots = new Map<string, DistinctSlot>();
  readonly #window: number;
  readonly #threshold: number;
  readonly #refresh: number;
  readonly #maxKeys: number;
  readonly #maxEntries: number;
  #entries = 0;

  constructor(opts: { window: number; threshold: number; refreshMs?: number; maxKeys?: number; maxEntries?: number }) {
    this.#window = opts.window;
    this.#threshold = opts.threshold;
    this.#refresh = opts.refreshMs ?? 0;
    this.#maxKeys = opts.maxKeys ?? MAX_KEYS;
    this.#maxEntries = opts.maxEntries ?? MAX_ENTRIES;
  }

  /** Keys tracked, and values held over all of them (for tests and bounds). */
  get size(): { keys: number; entries: number } {
    return { keys: this.#slots.size, entries: this.#entries };
  }

  /** Notes `value` under `key`; returns the distinct values of the window when they reach the threshold (then mutes the key for a window). */
  add(key: string, value: string, now: number): { distinct: number; values: string[] } | undefined {
    let slot = this.#slots.get(key);
    if (slot !== undefined && now < slot.muted) return undefined;
    const last = slot?.seen.get(value);
    if (last !== undefined && now - last < this.#refresh && now >= last) return undefined;
    if (slot === undefined) {
      slot = { seen: new Map(), muted: 0 };
      this.#slots.set(key, slot);
    } else {
      // The key is in use: it moves to the young end of the eviction order.
      this.#slots.delete(key);
      this.#slots.set(key, slot);
    }
    const seen = slot.seen;
    if (last !== undefined) seen.delete(value);
    else this.#entries++;
    seen.set(value, now);
    for (const [v, t] of seen) {
      if (now - t < this.#window) break;
      seen.delete(v);
      this.#entries--;
    }
    if (seen.size >= this.#threshold) {
      const values: string[] = [];
      for (const v of seen.keys()) if (values.length < MAX_LISTED) values.push(v);
      const distinct = seen.size;
      this.#entries -= distinct;
      seen.clear();
      slot.muted = now + this.#window;
      return { distinct, values };
    }
    this.#evict();
    return undefined;
  }

  #evict(): void {
    while (this.#slots.size > this.#maxKeys || (this.#entries > this.#maxEntries && this.#slots.size > 1)) {
      const oldest = this.#slots.keys().next().value as string;
      this.#entries -= (this.#slots.get(oldest) as DistinctSlot).seen.size;
      this.#slots.delete(oldest);
    }
  }
}

interface CountSlot {
  times: number[];
  /** A tag per time (malformed_requests: the error code), when tagged. */
  tags: string[];
  muted: number;
  /** Events ignored while muted since the key last alerted: reported with its next alert. */
  whileMuted: number;
}

/**
 * Events per key within a sliding window (auth_failures, malformed_requests). With `mute`, a key that alerted is
 * ignored for a window (one alert per key per window) and its events meanwhile are only counted (`whileMuted` of its
 * next alert); without, it starts counting afresh.
 */
export class CountWindow {
  readonly #slots = new Map<string, CountSlot>();
  readonly #window: number;
  readonly #threshold: number;
  readonly #mute: boolean;
  readonly #maxKeys: number;
  readonly #maxEntries: number;
  #entries = 0;

  constructor(opts: { window: number; threshold: number; mute: boolean; maxKeys?: number; maxEntries?: number }) {
    this.#window = opts.window;
    this.#threshold = opts.threshold;
    this.#mute = opts.mute;
    this.#maxKeys = opts.maxKeys ?? MAX_KEYS;
    this.#maxEntries = opts.maxEntries ?? MAX_ENTRIES;
  }

  get size(): { keys: number; entries: number } {
    return { keys: this.#slots.size, entries: this.#entries };
  }

  /**
   * Counts one event under `key`; returns the count and the distinct tags of the window when it reaches the threshold,
   * with the events ignored while the key was muted after its previous alert.
   */
  add(key: string, now: number, tag?: string): { count: number; tags: string[]; whileMuted: number } | undefined {
    let slot = this.#slots.get(key);
    if (slot !== undefined && now < slot.muted) {
      slot.whileMuted++;
      return undefined;
    }
    if (slot === undefined) slot = { times: [], tags: [], muted: 0, whileMuted: 0 };
    else this.#slots.delete(key);
    this.#slots.set(key, slot);
    let expired = 0;
    while (expired < slot.times.length && now - (slot.times[expired] as number) >= this.#window) expired++;
    if (expired > 0) {
      slot.times.splice(0, expired);
      if (slot.tags.length > 0) slot.tags.splice(0, expired);
      this.#entries -= expired;
    }
    slot.times.push(now);
    if (tag !== undefined) slot.tags.push(tag);
    this.#entries++;
    if (slot.times.length >= this.#threshold) {
      const count = slot.times.length;
      const tags = [...new Set(slot.tags)].slice(0, MAX_LISTED);
      const whileMuted = slot.whileMuted;
      slot.whileMuted = 0;
      this.#entries -= count;
      if (this.#mute) {
        slot.times = [];
        slot.tags = [];
        slot.muted = now + this.#window;
      } else {
        this.#slots.delete(key);
      }
      return { count, tags, whileMuted };
    }
    while (this.#slots.size > this.#maxKeys || (this.#entries > this.#maxEntries && this.#slots.size > 1)) {
      const oldest = this.#slots.keys().next().value as string;
      this.#entries -= (this.#slots.get(oldest) as CountSlot).times.length;
      this.#slots.delete(oldest);
    }
    return undefined;
  }
}
