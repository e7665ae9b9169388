/**
 * Insertion order for a bounded map or set that evicts its oldest entry. Taking the oldest from a Map itself
 * (`map.keys().next()`) walks past every entry deleted since V8 last compacted the table: microseconds per eviction
 * once a busy cache has churned. This queue hands out the oldest key in O(1) amortised; keys deleted from the owner
 * meanwhile are skipped when they come up (the owner says which keys are still present).
 *
 * A key deleted and added again is queued twice, so the order is approximate (it may leave a little early); the
 * queue is rebuilt from the owner's own insertion order when it grows past twice the owner's bound.
 */
export class InsertionQueue<K> {
  #items: K[] = [];
  #head = 0;
  readonly #limit: number;

  /** `bound`: the owner's maximum size. */
  constructor(bound: number) {
    this.#limit = 2 * bound + 1024;
  }

  /** Records a newly added key; `current` lists the owner's keys oldest first (for the occasional rebuild). */
  push(key: K, current: () => Iterable<K>): void {
    this.#items.push(key);
    if (this.#items.length - this.#head > this.#limit) {
      this.#items = [...current()];
      this.#head = 0;
    }
  }

  /** Removes and returns the oldest key still present (`present(key)`), or undefined when there is none. */
  takeOldest(present: (key: K) => boolean): K | undefined {
    let out: K | undefined;
    while (this.#head < this.#items.length) {
      const k = this.#items[this.#head++] as K;
      if (present(k)) {
        out = k;
        break;
      }
    }
    if (this.#head > 4096 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return out;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}
