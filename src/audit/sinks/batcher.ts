/**
 * Batching and retry shared by the stream sinks (stdout, syslog): a bounded in-memory queue, flushed every
 * `intervalMs` or at `batchMax` lines, retried with exponential backoff while the destination is down. When the
 * queue is full the oldest lines are dropped and counted — the audit file stays the complete record.
 */
import type { Logger } from '../../core/types.js';

export interface BatcherOptions {
  name: string;
  batchMax: number;
  intervalMs: number;
  maxQueue: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  logger: Logger;
  send: (lines: string[]) => Promise<void>;
}

export class Batcher {
  readonly #o: BatcherOptions;
  #queue: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #sending: Promise<void> | undefined;
  #backoff = 0;
  #dropped = 0;
  #lastError: string | undefined;
  #closed = false;

  constructor(opts: BatcherOptions) {
    this.#o = opts;
  }

  push(lines: readonly string[]): void {
    if (this.#closed) return;
    for (const l of lines) this.#queue.push(l);
    const over = this.#queue.length - this.#o.maxQueue;
    if (over > 0) {
      this.#queue.splice(0, over);
      if (this.#dropped === 0) this.#o.logger.warn({ sink: this.#o.name, alert: 'audit_sink_overflow' }, `audit sink ${this.#o.name}: queue full, dropping the oldest records`);
      this.#dropped += over;
    }
    if (this.#queue.length >= this.#o.batchMax && this.#backoff === 0) this.#flushSoon(0);
    else this.#flushSoon(this.#o.intervalMs);
  }

  get dropped(): number {
    return this.#dropped;
  }

  get pending(): number {
    return this.#queue.length;
  }

  health(): { ok: boolean; reason?: string } {
    return this.#lastError ? { ok: false, reason: this.#lastError } : { ok: true };
  }

  #flushSoon(ms: number): void {
    if (this.#timer || this.#sending) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#sending = this.#flush().finally(() => {
        this.#sending = undefined;
        if (this.#queue.length > 0 && !this.#closed) this.#flushSoon(this.#backoff || (this.#queue.length >= this.#o.batchMax ? 0 : this.#o.intervalMs));
      });
    }, ms);
    this.#timer.unref();
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.slice(0, this.#o.batchMax);
      try {
        await this.#o.send(batch);
      } catch (e) {
        const min = this.#o.retryMinMs ?? 250;
        this.#backoff = Math.min(this.#backoff ? this.#backoff * 2 : min, this.#o.retryMaxMs ?? 30_000);
        const code = (e as NodeJS.ErrnoException).code ?? (e as Error).name;
        if (!this.#lastError) this.#o.logger.warn({ sink: this.#o.name, code }, `audit sink ${this.#o.name}: delivery failed, retrying`);
        this.#lastError = `delivery failed (${code})`;
        return;
      }
      // Sent: drop what went out. Lines are unique (each carries its own hash); push() may have trimmed some of
      // them from the front meanwhile, when the queue overflowed.
      const i = this.#queue.indexOf(batch[batch.length - 1] as string);
      if (i >= 0) this.#queue.splice(0, i + 1);
      if (this.#lastError) this.#o.logger.warn({ sink: this.#o.name }, `audit sink ${this.#o.name}: delivering again`);
      this.#lastError = undefined;
      this.#backoff = 0;
    }
  }

  /** Sends what is queued, giving up after `deadlineMs`. */
  async close(deadlineMs = 2000): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const end = Date.now() + deadlineMs;
    while (this.#queue.length > 0 && Date.now() < end) {
      await (this.#sending ?? (this.#sending = this.#flush().finally(() => (this.#sending = undefined))));
      if (this.#queue.length > 0) await new Promise((r) => setTimeout(r, Math.min(this.#backoff || 50, Math.max(0, end - Date.now()))));
    }
    await this.#sending;
    this.#closed = true;
  }
}
