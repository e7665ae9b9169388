import { InsertionQueue } from '../core/fifo.js';

/**
 * A bounded cache of verified credentials, keyed by the credential string (tokens) or a keyed hash of it
 * (API keys, passwords). Every entry carries its own deadline, checked on every hit; when full, the oldest entry is
 * evicted (insertion order). Only successful verifications are cached, so an attacker cannot fill it with junk.
 */
export class VerifiedCache<V> {
  readonly #map = new Map<string, { value: V; until: number }>();
  readonly #max: number;
  /** Eviction order (core/fifo.ts): the oldest key in O(1), not by walking a churned Map. */
  readonly #order: InsertionQueue<string>;

  constructor(maxEntries: number) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new TypeError('maxEntries must be a positive integer');
    this.#max = maxEntries;
    this.#order = new InsertionQueue(maxEntries);
  }

  /** The value while `nowMs` is before its deadline; an expired entry is dropped. */
  get(key: string, nowMs: number): V | undefined {
    const e = this.#map.get(key);
    if (e === undefined) return undefined;
    if (nowMs >= e.until) {
      this.#map.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V, untilMs: number): void {
    const entry = this.#map.get(key);
    if (entry !== undefined) {
      entry.value = value;
      entry.until = untilMs;
      return;
    }
    if (this.#map.size >= this.#max) {
      const oldest = this.#order.takeOldest((k) => this.#map.has(k));
      if (oldest !== undefined) this.#map.delete(oldest);
    }
    this.#map.set(key, { value, until: untilMs });
    this.#order.push(key, () => this.#map.keys());
  }

  delete(key: string): void {
    this.#map.delete(key);
  }

  /** Drops every entry whose value matches (e.g. all entries of a revoked key id). */
  deleteWhere(pred: (value: V) => boolean): void {
    for (const [k, e] of this.#map) if (pred(e.value)) this.#map.delete(k);
  }

  clear(): void {
    this.#map.clear();
    this.#order.clear();
  }

  get size(): number {
    return this.#map.size;
  }
}
