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

/** Keys of one rule. Bounded: past `maxKeys` the key touched longest ago is forgotten (counted in `evicted`). */
export class RateTable {
  readonly shape: RateShape;
  readonly #interval: number;
  readonly #tolerance: number;
  readonly #maxKeys: number;
  readonly #tat = new Map<string, number>();
  /** Keys forgotten while they still owed time: each got a fresh allowance (docs/limits.md). */
  evicted = 0;

  constructor(shape: RateShape, maxKeys: number) {
    if (!(shape.limit >= 1 && shape.periodMs > 0 && shape.burst >= 1)) throw new TypeError('RateTable: limit, periodMs and burst must be positive');
    this.shape = shape;
    this.#interval = shape.periodMs / shape.limit;
    this.#tolerance = shape.burst * this.#interval;
    this.#maxKeys = maxKeys;
  }

  /** The TAT these `n` requests (a batch: all or none) would leave, or the verdict refusing them; changes nothing. */
  check(key: string, now: number, n = 1): number | RateVerdict {
    const tat = this.#tat.get(key);
    const next = (tat === undefined || tat < now ? now : tat) + n * this.#interval;
    if (next - now <= this.#tolerance + 1e-9) return next;
    return { allowed: false, remaining: 0, retryAfterMs: Math.max(1, Math.ceil(next - this.#tolerance - now)), resetMs: Math.ceil(next - now - n * this.#interval) };
  }

  /** Stores a TAT that check() returned. */
  commit(key: string, next: number, now: number): void {
    const map = this.#tat;
    // Re-inserted, the key moves to the end of the Map's order: the first key is the one touched longest ago.
    if (map.delete(key) === false && map.size >= this.#maxKeys) this.#evictOne(now);
    map.set(key, next);
  }

  /** The verdict for an admitted request whose TAT is now `next`. */
  admitted(next: number, now: number): RateVerdict {
    return { allowed: true, remaining: Math.max(0, Math.floor((this.#tolerance - (next - now)) / this.#interval + 1e-9)), retryAfterMs: 0, resetMs: Math.ceil(next - now) };
  }

  /** check + commit: one request against one key. */
  take(key: string, now: number): RateVerdict {
    const r = this.check(key, now);
    if (typeof r !== 'number') return r;
    this.commit(key, r, now);
    return this.admitted(r, now);
  }

  /**
   * Counts `n` requests admitted elsewhere (another worker) against the key. No cap: what was admitted was admitted,
   * and the key waits it off here too.
   */
  charge(key: string, n: number, now: number): void {
    if (!(n > 0)) return;
    const tat = this.#tat.get(key);
    this.commit(key, (tat === undefined || tat < now ? now : tat) + n * this.#interval, now);
  }

  get size(): number {
    return this.#tat.size;
  }

  #evictOne(now: number): void {
    const first = this.#tat.entries().next();
    if (first.done) return;
    const [key, tat] = first.value;
    this.#tat.delete(key);
    // A key whose TAT has passed owes nothing: forgetting it changes no answer.
    if (tat > now) this.evicted++;
  }
}
