import type { StateStore } from '../core/store.js';
import type { Logger } from '../core/types.js';
import { NS_USAGE, type Usage } from './token-store.js';

/**
 * Token and key usage analytics (seed 001's roadmap "Token usage analytics"): last use and count per credential id,
 * gathered in memory on the hot path and written to the store in batches, never per request.
 */
export class UsageRecorder {
  readonly #store: StateStore;
  readonly #logger: Logger | undefined;
  #pending = new Map<string, { last: number; count: number; ttlMs: number | undefined }>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  /** Bounds memory between flushes; past it, new ids wait for the next flush. */
  static readonly MAX_PENDING = 100_000;

  constructor(store: StateStore, opts: { flushMs: number; logger?: Logger }) {
    this.#store = store;
    this.#logger = opts.logger;
    this.#timer = setInterval(() => void this.flush(), opts.flushMs);
    this.#timer.unref();
  }

  /** Hot path: one Map update. `expMs` bounds how long the usage record is kept. */
  record(id: string, nowMs: number, expMs?: number): void {
    const e = this.#pending.get(id);
    if (e !== undefined) {
      e.count++;
      if (nowMs > e.last) e.last = nowMs;
      return;
    }
    if (this.#pending.size >= UsageRecorder.MAX_PENDING) return;
    this.#pending.set(id, { last: nowMs, count: 1, ttlMs: expMs === undefined ? undefined : Math.max(1, expMs - nowMs) + 86_400_000 });
  }

  flush(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    if (this.#pending.size === 0) return Promise.resolve();
    const batch = this.#pending;
    this.#pending = new Map();
    this.#flushing = (async () => {
      for (const [id, e] of batch) {
        try {
          await this.#store.update<Usage>(
            NS_USAGE,
            id,
            (cur) => ({ last_used: Math.max(cur?.last_used ?? 0, e.last), count: (cur?.count ?? 0) + e.count }),
            e.ttlMs === undefined ? {} : { ttlMs: e.ttlMs },
          );
        } catch {
          this.#logger?.warn({ event: 'authn.usage_flush_failed' }, 'token usage could not be written to the state store');
          return;
        }
      }
    })().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#flushing;
    await this.flush();
  }
}
