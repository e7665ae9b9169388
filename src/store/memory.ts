import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import type { PutOptions, StateStore, StoreChange, StoreEntry } from './types.js';

interface Row {
  value: unknown;
  updatedAt: number;
  expiresAt: number | undefined;
  seq: number;
}

/** In-process store for tests and single-process use. Values are deep-copied through JSON like the SQLite store. */
export class MemoryStore implements StateStore {
  readonly kind = 'memory' as const;
  #data = new Map<string, Map<string, Row>>();
  #log = new Map<string, StoreChange[]>();
  #seq = 0;
  #clock: Clock;

  constructor(opts: { clock?: Clock } = {}) {
    this.#clock = opts.clock ?? systemClock;
  }

  #ns(ns: string): Map<string, Row> {
    let m = this.#data.get(ns);
    if (!m) this.#data.set(ns, (m = new Map()));
    return m;
  }

  #live(ns: string, key: string): Row | undefined {
    const row = this.#data.get(ns)?.get(key);
    if (!row) return undefined;
    if (row.expiresAt !== undefined && row.expiresAt <= this.#clock.now()) {
      this.#data.get(ns)?.delete(key);
      return undefined;
    }
    return row;
  }

  #write(ns: string, key: string, value: unknown, opts?: PutOptions): void {
    const now = this.#clock.now();
    const copy = value === undefined ? undefined : (JSON.parse(JSON.stringify(value)) as unknown);
    const seq = ++this.#seq;
    if (copy === undefined) this.#ns(ns).delete(key);
    else this.#ns(ns).set(key, { value: copy, updatedAt: now, expiresAt: opts?.ttlMs === undefined ? undefined : now + opts.ttlMs, seq });
    let log = this.#log.get(ns);
    if (!log) this.#log.set(ns, (log = []));
    log.push({ key, value: copy, seq });
    if (log.length > 10_000) log.splice(0, log.length - 10_000);
  }

  async get<T>(ns: string, key: string): Promise<T | undefined> {
    const row = this.#live(ns, key);
    return row === undefined ? undefined : (structuredClone(row.value) as T);
  }
  async put(ns: string, key: string, value: unknown, opts?: PutOptions): Promise<void> {
    this.#write(ns, key, value, opts);
  }
  async putMany(ns: string, entries: ReadonlyArray<{ key: string; value: unknown; ttlMs?: number }>): Promise<void> {
    for (const e of entries) this.#write(ns, e.key, e.value, e.ttlMs === undefined ? undefined : { ttlMs: e.ttlMs });
  }
  async putIfAbsent(ns: string, key: string, value: unknown, opts?: PutOptions): Promise<boolean> {
    if (this.#live(ns, key)) return false;
    this.#write(ns, key, value, opts);
    return true;
  }
  async update<T>(ns: string, key: string, fn: (current: T | undefined) => T | undefined, opts?: PutOptions): Promise<T | undefined> {
    const row = this.#live(ns, key);
    const next = fn(row === undefined ? undefined : (structuredClone(row.value) as T));
    // Like SQLite: options without a ttlMs (usage.ts passes {}) keep the current expiry instead of dropping it.
    const keepTtl = row?.expiresAt !== undefined ? row.expiresAt - this.#clock.now() : undefined;
    const ttlMs = opts?.ttlMs ?? keepTtl;
    this.#write(ns, key, next, ttlMs === undefined ? undefined : { ttlMs });
    return next;
  }
  async delete(ns: string, key: string): Promise<boolean> {
    if (!this.#live(ns, key)) return false;
    this.#write(ns, key, undefined);
    return true;
  }
  async list<T>(ns: string, opts: { prefix?: string; limit?: number } = {}): Promise<StoreEntry<T>[]> {
    const out: StoreEntry<T>[] = [];
    for (const key of [...(this.#data.get(ns)?.keys() ?? [])].sort()) {
      if (opts.prefix !== undefined && !key.startsWith(opts.prefix)) continue;
      const row = this.#live(ns, key);
      if (!row) continue;
      out.push({ key, value: structuredClone(row.value) as T, updatedAt: row.updatedAt, expiresAt: row.expiresAt });
      if (opts.limit !== undefined && out.length >= opts.limit) break;
    }
    return out;
  }
  async changes<T>(ns: string, sinceSeq: number, limit = 1000): Promise<StoreChange<T>[]> {
    return (this.#log.get(ns) ?? []).filter((c) => c.seq > sinceSeq).slice(0, limit) as StoreChange<T>[];
  }
  async headSeq(ns: string): Promise<number> {
    const log = this.#log.get(ns);
    return log && log.length > 0 ? (log[log.length - 1] as StoreChange).seq : 0;
  }
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}
