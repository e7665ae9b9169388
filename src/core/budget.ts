/**
 * A token bucket that counts what it turns away: for work an attacker can trigger per request (an audit record of a
 * refusal, a warning line), so a flood costs a bounded amount and the next admitted entry says how much was skipped.
 */
export class Budget {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #at = -Infinity;
  #skipped = 0;

  /** `rate` admissions a second on average, `burst` at once. */
  constructor(rate: number, burst: number) {
    if (!(rate > 0) || !(burst >= 1)) throw new RangeError('Budget: rate must be > 0 and burst ≥ 1');
    this.#rate = rate;
    this.#burst = burst;
    this.#tokens = burst;
  }

  /** Undefined: over budget (counted). Otherwise how many were turned away since the last admission. */
  take(nowMs: number): number | undefined {
    if (nowMs > this.#at) {
      this.#tokens = this.#at === -Infinity ? this.#burst : Math.min(this.#burst, this.#tokens + ((nowMs - this.#at) * this.#rate) / 1000);
      this.#at = nowMs;
    }
    if (this.#tokens < 1) {
      this.#skipped++;
      return undefined;
    }
    this.#tokens -= 1;
    const skipped = this.#skipped;
    this.#skipped = 0;
    return skipped;
  }
}
