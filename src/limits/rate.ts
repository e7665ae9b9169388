/**
 * A rate limit as GCRA, the generic cell rate algorithm (ATM Forum TM 4.0, the "virtual scheduling" form): per key
 * one number, the theoretical arrival time (TAT) of the next request. A request at `now` is admitted when
 * max(TAT, now) + T − now ≤ τ, where T = period / limit is the emission interval and τ = burst × T the tolerance;
 * it then moves TAT by T. The same as a token bucket of `burst` tokens refilled at `limit` per period, in O(1) time
 * and one Map entry per key, with no timer.
 */
export interface RateShape {
  /** Requests per period. */
  limit: number;
  periodMs: number;
  /** Requests admitted at once from a full allowance. */
  burst: number;
}

export interface RateVerdict {
  allowed: boolean;
  /** Requests still admissible right now after this one (0 when refused). */
  remaining: number;
  /** When refused: ms until this request would be admitted. */
  retryAfterMs: number;
  /** ms until the allowance is full again. */
  resetMs: number;
}

/** The most a restored key may owe (about 35 years): read from another process, bounded all the same. */
const MAX_RESTORED_OWED_MS = 2 ** 40;

/** Keys of one rule. Bounded: past `maxKeys` the key touched longest ago is forgotten (counted in `evicted`). */
export class RateTable {
  readonly shape: RateShape;
  readonly #interval: number;
  readonly #tolerance: number;
  readonly #maxKeys: number;
  /** A millionth of an interval: room for the rounding of sums of intervals, far below one request. */
  readonly #slack: number;
  /**
   * Per key, its TAT as `at` (the `now` it was stored at) and `owed` (TAT − at). Not the TAT itself: at the magnitude
   * of Date.now() (~1.8e12) a double steps by 2^-12 ms, and `burst` intervals that are not whole ms (1000/7) summed
   * there overshoot τ: the burst came out one short. Relative, the sums stay small and `now − at` is exact.
   */
  readonly #owed = new Map<string, { owed: number; at: number }>();
  /** Keys forgotten while they still owed time: each got a fresh allowance (docs/limits.md). */
  evicted = 0;

  constructor(shape: RateShape, maxKeys: number) {
    if (!(shape.limit >= 1 && shape.periodMs > 0 && shape.burst >= 1)) throw new TypeError('RateTable: limit, periodMs and burst must be positive');
    this.shape = shape;
    this.#interval = shape.periodMs / shape.limit;
    this.#tolerance = shape.burst * this.#interval;
    this.#slack = this.#interval * 1e-6;
    this.#maxKeys = maxKeys;
  }

  /** What the key owes at `now` (TAT − now, never below 0). */
  #owedAt(key: string, now: number): number {
    const e = this.#owed.get(key);
    return e === undefined ? 0 : Math.max(0, e.owed - (now - e.at));
  }

  /**
   * What the key would owe after these `n` requests (a batch: all or none), or the verdict refusing them; changes
   * nothing. The number is TAT − now, for commit() and admitted() with the same `now`.
   */
  check(key: string, now: number, n = 1): number | RateVerdict {
    const next = this.#owedAt(key, now) + n * this.#interval;
    if (next <= this.#tolerance + this.#slack) return next;
    return { allowed: false, remaining: 0, retryAfterMs: Math.max(1, Math.ceil(next - this.#tolerance)), resetMs: Math.ceil(next - n * this.#interval) };
  }

  /** Stores what check() returned (for the same `now`). */
  commit(key: string, next: number, now: number): void {
    const map = this.#owed;
    const e = map.get(key);
    // Re-inserted, the key moves to the end of the Map's order: the first key is the one touched longest ago.
    if (e !== undefined) {
      map.delete(key);
      e.owed = next;
      e.at = now;
      map.set(key, e);
      return;
    }
    if (map.size >= this.#maxKeys) this.#evictOne(now);
    map.set(key, { owed: next, at: now });
  }

  /** The verdict for an admitted request that check() answered with `next`. */
  admitted(next: number): RateVerdict {
    return { allowed: true, remaining: Math.max(0, Math.floor((this.#tolerance - next) / this.#interval + 1e-9)), retryAfterMs: 0, resetMs: Math.ceil(next) };
  }

  /** check + commit: one request against one key. */
  take(key: string, now: number): RateVerdict {
    const r = this.check(key, now);
    if (typeof r !== 'number') return r;
    this.commit(key, r, now);
    return this.admitted(r);
  }

  /**
   * Counts `n` requests admitted elsewhere (another worker) against the key. No cap: what was admitted was admitted,
   * and the key waits it off here too.
   */
  charge(key: string, n: number, now: number): void {
    if (!(n > 0)) return;
    this.commit(key, this.#owedAt(key, now) + n * this.#interval, now);
  }

  /** Keys that owe time at `now`, with what each owes (ms): a worker started in place of a dead one takes them over. */
  owing(now: number): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (const [key, e] of this.#owed) {
      const owed = e.owed - (now - e.at);
      if (owed > 0) out.push([key, owed]);
    }
    return out;
  }

  /** Takes over what a key owes in another worker's table (see owing): the larger of the two stands. */
  restore(key: string, owedMs: number, now: number): void {
    if (!(owedMs > 0) || !Number.isFinite(owedMs) || owedMs <= this.#owedAt(key, now)) return;
    this.commit(key, Math.min(owedMs, MAX_RESTORED_OWED_MS), now);
  }

  get size(): number {
    return this.#owed.size;
  }

  #evictOne(now: number): void {
    const first = this.#owed.entries().next();
    if (first.done) return;
    const [key, e] = first.value;
    this.#owed.delete(key);
    // A key whose TAT has passed owes nothing: forgetting it changes no answer.
    if (e.owed - (now - e.at) > 0) this.evicted++;
  }
}
