/**
 * Admission to a route's upstream: its pooled connections as slots with a bounded wait (routes[].queue_timeout), and
 * an optional cap on one principal's requests in flight (routes[].max_in_flight_per_principal). Without them one
 * caller holding every connection with long streams left everyone else's requests queued in undici's pool forever:
 * undici's headersTimeout (response_timeout) only starts once a request has a socket.
 */

/** A request waiting for a connection: `run` when one is handed over; the timer refuses it after queue_timeout. */
export interface SlotWaiter {
  readonly run: () => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * One slot per pooled connection (pipelining 1: one request per connection). A request takes a slot before it is
 * dispatched and gives it back when undici is done with it, so undici's own queue, which has no deadline, stays
 * empty but for the moment a finishing connection takes to be free again. Free slots: one compare, no allocation.
 */
export class UpstreamSlots {
  #free: number;
  /** FIFO; a Set deletes a waiter that gave up (timed out, client gone) in O(1). */
  readonly #waiters = new Set<SlotWaiter>();

  constructor(slots: number) {
    this.#free = slots;
  }

  /** Takes a free slot at once, or returns false (then `wait`). */
  take(): boolean {
    if (this.#free === 0) return false;
    this.#free--;
    return true;
  }

  /** Queues for the next slot given back: `run` then holds it; after `timeoutMs` the waiter is dropped and `expired` runs. */
  wait(run: () => void, expired: () => void, timeoutMs: number): SlotWaiter {
    const waiter: SlotWaiter = {
      run,
      timer: setTimeout(() => {
        this.#waiters.delete(waiter);
        expired();
      }, timeoutMs),
    };
    waiter.timer.unref();
    this.#waiters.add(waiter);
    return waiter;
  }

  /** A waiter that no longer wants its slot (the client left). */
  cancel(waiter: SlotWaiter): void {
    clearTimeout(waiter.timer);
    this.#waiters.delete(waiter);
  }

  /**
   * Gives a slot back: handed straight to the oldest waiter (no newcomer can take it in between), whose dispatch runs
   * on the next microtask: this is called from inside undici's onComplete/onError, before undici has marked its
   * connection free.
   */
  release(): void {
    if (this.#waiters.size === 0) {
      this.#free++;
      return;
    }
    const next = this.#waiters.values().next().value as SlotWaiter;
    this.#waiters.delete(next);
    clearTimeout(next.timer);
    queueMicrotask(next.run);
  }
}

/**
 * Requests in flight per key (a principal, or an anonymous client's address) on one route, capped. A key has an
 * entry only while it has a request in flight, so the map never holds more keys than this process has requests in
 * flight (at most server.limits.max_connections). O(1) per request.
 */
export class InFlightCap {
  readonly #max: number;
  readonly #counts = new Map<string, number>();

  constructor(max: number) {
    this.#max = max;
  }

  /** Counts one more request for `key`; false (nothing counted) when the key is at the cap. */
  enter(key: string): boolean {
    const n = this.#counts.get(key) ?? 0;
    if (n >= this.#max) return false;
    this.#counts.set(key, n + 1);
    return true;
  }

  leave(key: string): void {
    const n = this.#counts.get(key);
    if (n === undefined) return;
    if (n <= 1) this.#counts.delete(key);
    else this.#counts.set(key, n - 1);
  }

  /** Keys with a request in flight (tests, metrics). */
  get keys(): number {
    return this.#counts.size;
  }
}
