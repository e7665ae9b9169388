/**
 * Batching and retry shared by the stream sinks (stdout, syslog): a bounded in-memory queue, flushed every
 * `intervalMs` or at `batchMax` lines, retried with exponential backoff while the destination is down. When the
 * queue is full the oldest lines are dropped and counted — the audit file stays the complete record.
 *
 * Nothing here waits without a bound: a send outstanding for `stallMs` makes health() say so (and is logged once),
 * and close() gives up at its deadline, asks the sink to abort the send in flight and reports what it did not deliver.
 */
import type { Logger } from '../../core/types.js';

export interface BatcherOptions {
  name: string;
  batchMax: number;
  intervalMs: number;
  maxQueue: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  /** A send outstanding this long makes the sink unhealthy ("delivery stalled"); default 10 s. */
  stallMs?: number;
  logger: Logger;
  send: (lines: string[]) => Promise<void>;
  /** Ends a send still in flight when close() gives up on it (the syslog sink destroys its socket). */
  abort?: () => void;
}

/** A failure soon after a recovery continues the previous backoff instead of starting again at retryMinMs. */
const FLAP_MS = 60_000;
/** health() reports dropped records for this long after the last drop. */
const DROP_REPORT_MS = 60_000;

export class Batcher {
  readonly #o: BatcherOptions;
  readonly #stallMs: number;
  #queue: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #sending: Promise<void> | undefined;
  #backoff = 0;
  #lastBackoff = 0;
  #recoveredAt = -Infinity;
  #dropped = 0;
  /** Dropped since the last delivery (reported when delivery resumes). */
  #droppedUnreported = 0;
  #droppedAt = -Infinity;
  #lastError: string | undefined;
  /** When the send in flight started (undefined: none). */
  #sendStarted: number | undefined;
  #stallTimer: NodeJS.Timeout | undefined;
  #stallLogged = false;
  #closing = false;
  #closed = false;

  constructor(opts: BatcherOptions) {
    this.#o = opts;
    this.#stallMs = opts.stallMs ?? 10_000;
  }

  push(lines: readonly string[]): void {
    if (this.#closed) return;
    for (const l of lines) this.#queue.push(l);
    const over = this.#queue.length - this.#o.maxQueue;
    if (over > 0) {
      this.#queue.splice(0, over);
      // Once per episode (until something is delivered again), not once per process.
      if (this.#droppedUnreported === 0) {
        this.#o.logger.warn({ sink: this.#o.name, alert: 'audit_sink_overflow' }, `audit sink ${this.#o.name}: queue full, dropping the oldest records`);
      }
      this.#dropped += over;
      this.#droppedUnreported += over;
      this.#droppedAt = Date.now();
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
    if (this.#lastError) return { ok: false, reason: this.#lastError };
    if (this.#sendStarted !== undefined && Date.now() - this.#sendStarted >= this.#stallMs) {
      return { ok: false, reason: `delivery stalled (a batch has waited ${Math.round((Date.now() - this.#sendStarted) / 1000)} s)` };
    }
    if (Date.now() - this.#droppedAt < DROP_REPORT_MS) return { ok: false, reason: `queue full (${this.#dropped} records dropped)` };
    return { ok: true };
  }

  #flushSoon(ms: number): void {
    if (this.#timer || this.#sending || this.#closing) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#startFlush();
    }, ms);
    this.#timer.unref();
  }

  #startFlush(): Promise<void> {
    this.#sending ??= this.#flush().finally(() => {
      this.#sending = undefined;
      if (this.#queue.length > 0 && !this.#closing) this.#flushSoon(this.#backoff || (this.#queue.length >= this.#o.batchMax ? 0 : this.#o.intervalMs));
    });
    return this.#sending;
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0 && !this.#closed) {
      const batch = this.#queue.slice(0, this.#o.batchMax);
      try {
        await this.#timedSend(batch);
      } catch (e) {
        // A send close() aborted: already reported as undelivered.
        if (!this.#closed) this.#failed(e);
        return;
      }
      // Sent: drop what went out. Lines are unique (each carries its own hash); push() may have trimmed some of
      // them from the front meanwhile, when the queue overflowed.
      const i = this.#queue.indexOf(batch[batch.length - 1] as string);
      if (i >= 0) this.#queue.splice(0, i + 1);
      this.#delivered();
    }
  }

  /** One send, watched: past `stallMs` the sink is reported stalled (health, one warn line per episode). */
  async #timedSend(batch: string[]): Promise<void> {
    this.#sendStarted = Date.now();
    this.#stallTimer = setTimeout(() => {
      if (this.#stallLogged) return;
      this.#stallLogged = true;
      this.#o.logger.warn({ sink: this.#o.name, alert: 'audit_sink_stalled', pending: this.#queue.length }, `audit sink ${this.#o.name}: delivery stalled, the destination is not taking records`);
    }, this.#stallMs);
    this.#stallTimer.unref();
    try {
      await this.#o.send(batch);
    } finally {
      clearTimeout(this.#stallTimer);
      this.#stallTimer = undefined;
      this.#sendStarted = undefined;
    }
  }

  #failed(e: unknown): void {
    const min = this.#o.retryMinMs ?? 250;
    // A destination that takes a batch and stalls again right after (a receiver that never reads) keeps backing off.
    const base = this.#backoff || (Date.now() - this.#recoveredAt < FLAP_MS ? this.#lastBackoff : 0);
    this.#backoff = Math.min(base ? base * 2 : min, this.#o.retryMaxMs ?? 30_000);
    const code = (e as NodeJS.ErrnoException | undefined)?.code ?? (e as Error | undefined)?.name ?? 'Error';
    if (!this.#lastError) this.#o.logger.warn({ sink: this.#o.name, code }, `audit sink ${this.#o.name}: delivery failed, retrying`);
    this.#lastError = `delivery failed (${code})`;
  }

  #delivered(): void {
    if (this.#lastError || this.#stallLogged || this.#droppedUnreported > 0) {
      this.#o.logger.warn({ sink: this.#o.name, dropped: this.#droppedUnreported }, `audit sink ${this.#o.name}: delivering again`);
    }
    if (this.#backoff) {
      this.#lastBackoff = this.#backoff;
      this.#recoveredAt = Date.now();
    }
    this.#lastError = undefined;
    this.#stallLogged = false;
    this.#droppedUnreported = 0;
    this.#backoff = 0;
  }

  /**
   * Sends what is queued, giving up after `deadlineMs`: a send still in flight then is aborted (options.abort).
   * Returns how many queued records were not delivered (logged, with those dropped earlier, when any).
   */
  async close(deadlineMs = 2000): Promise<number> {
    if (this.#closing) return 0;
    this.#closing = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const end = Date.now() + deadlineMs;
    while (this.#queue.length > 0 && Date.now() < end) {
      if (!(await within(this.#startFlush(), end - Date.now()))) break;
      if (this.#queue.length > 0) await sleep(Math.min(this.#backoff || 50, Math.max(0, end - Date.now())));
    }
    this.#closed = true;
    const undelivered = this.#queue.length;
    this.#queue = [];
    // Not awaited: the aborted send settles when its socket is gone, and #flush never rejects.
    if (this.#sending) this.#o.abort?.();
    if (undelivered > 0 || this.#dropped > 0) {
      this.#o.logger.warn(
        { sink: this.#o.name, alert: 'audit_sink_undelivered', undelivered, dropped: this.#dropped },
        `audit sink ${this.#o.name}: closed; records queued or dropped were not delivered (the audit file has them)`,
      );
    }
    return undelivered;
  }
}

// Both timers keep the process alive: close() is awaited, and its deadline bounds them.
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether `p` settled within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  try {
    return await Promise.race([p.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
