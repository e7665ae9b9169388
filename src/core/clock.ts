/** A clock that tests can freeze. Everything time-dependent takes a Clock instead of calling Date.now(). */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock for tests: frozen at `start`, moved only by `advance` or `set`. */
export class ManualClock implements Clock {
  #t: number;
  constructor(start: number | Date = Date.UTC(2026, 0, 1)) {
    this.#t = typeof start === 'number' ? start : start.getTime();
  }
  now(): number {
    return this.#t;
  }
  advance(ms: number): void {
    this.#t += ms;
  }
  set(t: number | Date): void {
    this.#t = typeof t === 'number' ? t : t.getTime();
  }
}

export const nowSeconds = (clock: Clock = systemClock): number => Math.floor(clock.now() / 1000);
