/**
 * The HTTP (SIEM) sink: batched JSON POSTs through a bounded on-disk spool.
 *
 * Every batch is first written to the spool directory (temporary name, then rename), then sent oldest first; a
 * batch leaves the spool only after a 2xx. So nothing is lost while the endpoint is down, batches replay in order
 * when it returns, and batches spooled before a restart are sent after it. Each batch has a stable id,
 * `<first seq>-<last seq>-<16 hex of the last hash>`, sent as `Idempotency-Key` and in the body: a receiver that
 * ignores ids it has seen gets every record exactly once, even when a response was lost and the batch re-sent.
 *
 *   POST <url>   {"batch_id":"…","records":[<record>,…]}
 *
 * A 4xx other than 408/429 is permanent (the endpoint will never accept that batch): it moves to spool/rejected/
 * with an alert, so one bad batch cannot block the rest. When the spool is full, new batches are not spooled and
 * an alert is logged; the records are still in the audit file.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, statSync } from 'node:fs';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import type { Logger } from '../../core/types.js';
import type { UpstreamTlsOptions } from '../../tls/index.js';
import { readTrailerOf } from '../chain.js';
import type { AuditSink } from './types.js';
import { connectionErrorCode, urlHost } from '../../core/net.js';

export interface HttpSinkOptions {
  url: string;
  headers: Record<string, string>;
  batchMax: number;
  intervalMs: number;
  timeoutMs: number;
  spoolDir: string;
  spoolMaxBytes: number;
  /**
   * Lists the spools whose writers no longer run: gateway workers above the current count (server.workers lowered
   * since they wrote them) and CLI commands that exited with batches unsent. Their batches move into this spool at
   * start and every `adoptEveryMs` after, and are sent from here, so nothing is stranded.
   */
  adopt?: () => readonly string[];
  /** How often `adopt` is asked again while the sink runs (default 60 s). */
  adoptEveryMs?: number;
  /** The spool is this process's alone (a CLI command's): removed at close when nothing is left in it. */
  removeWhenEmpty?: boolean;
  retryMinMs: number;
  retryMaxMs: number;
  logger: Logger;
  /** undici connect options from createUpstreamTls (audit.sinks[].tls): a private CA, a client certificate, pins. */
  connect?: UpstreamTlsOptions;
  /** Its place in audit.sinks: log lines name it ("audit sink 0"). */
  index?: number;
}

class RetryLater extends Error {}

const SPOOL_RE = /^\d{16}-\d{16}-[0-9a-f]{16}\.json$/;
const pad = (n: number): string => String(n).padStart(16, '0');


export function batchId(lines: readonly string[]): string {
  const first = readTrailerOf(lines[0] as string);
  const last = readTrailerOf(lines[lines.length - 1] as string);
  return `${first?.seq ?? 0}-${last?.seq ?? 0}-${(last?.hash ?? '0'.repeat(16)).slice(0, 16)}`;
}

export class HttpSink implements AuditSink {
  readonly name = 'http';
  readonly #o: HttpSinkOptions;
  #batch: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #spooling: Promise<void> = Promise.resolve();
  #sending: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #backoff = 0;
  #spoolBytes = 0;
  #lastError: string | undefined;
  #closed = false;
  #adoptTimer: NodeJS.Timeout | undefined;
  /** This sink's own connections, so its TLS settings apply to it alone; closed with the sink. */
  readonly #agent: Agent;
  /** host[:port] of the endpoint for log lines (the path or query may carry a token). */
  readonly #host: string;
  readonly #client: string;
  /** Counters for health and tests. */
  readonly stats = { sent: 0, spooled: 0, rejected: 0, droppedFull: 0 };

  constructor(o: HttpSinkOptions) {
    this.#o = o;
    this.#agent = new Agent(o.connect ? { connect: o.connect } : {});
    // The schema checked the URL; a library caller's bad one fails each POST as unreachable.
    this.#host = urlHost(o.url) ?? '';
    this.#client = o.index !== undefined ? `audit sink ${o.index}` : 'audit sink';
    mkdirSync(o.spoolDir, { recursive: true, mode: 0o700 });
    for (const f of this.#spooled()) this.#spoolBytes += statSync(join(o.spoolDir, f)).size;
    for (const dir of o.adopt?.() ?? []) this.#adopt(dir);
    // Batches left by an earlier run go first.
    if (this.#spoolBytes > 0) this.#kick(0);
    if (o.adopt) {
      const adopt = o.adopt;
      this.#adoptTimer = setInterval(() => {
        let moved = 0;
        for (const dir of adopt()) moved += this.#adopt(dir);
        if (moved > 0) this.#kick(0);
      }, o.adoptEveryMs ?? 60_000);
      this.#adoptTimer.unref();
    }
  }

  deliver(lines: readonly string[]): void {
    if (this.#closed) return;
    for (const l of lines) {
      this.#batch.push(l);
      if (this.#batch.length >= this.#o.batchMax) this.#cut();
    }
    if (this.#batch.length > 0 && !this.#timer) {
      this.#timer = setTimeout(() => this.#cut(), this.#o.intervalMs);
      this.#timer.unref();
    }
  }

  health(): { ok: boolean; reason?: string } {
    return this.#lastError ? { ok: false, reason: this.#lastError } : { ok: true };
  }

  /**
   * Moves another spool's batches into this one (names are chain positions: the same name is the same batch) and
   * removes that spool when it is left empty (one holding rejected/ batches stays, for an operator to look at).
   * Returns how many batches moved; their bytes count against this spool's bound from then on.
   */
  #adopt(dir: string): number {
    let names: string[];
    try {
      names = readdirSync(dir).filter((f) => SPOOL_RE.test(f));
    } catch {
      return 0;
    }
    let moved = 0;
    for (const name of names) {
      const from = join(dir, name);
      try {
        const size = statSync(from).size;
        renameSync(from, join(this.#o.spoolDir, name));
        this.#spoolBytes += size;
        moved++;
      } catch (e) {
        this.#o.logger.warn({ sink: 'http', code: (e as NodeJS.ErrnoException).code }, 'audit sink http: cannot move a batch from a former worker or CLI spool');
      }
    }
    try {
      rmdirSync(dir);
    } catch {
      // Not empty (rejected/ batches, or a batch that could not move) or already gone.
    }
    if (moved > 0) this.#o.logger.info({ sink: 'http', batches: moved }, 'audit sink http: took over batches a worker or CLI command left unsent');
    return moved;
  }

  #spooled(): string[] {
    return existsSync(this.#o.spoolDir) ? readdirSync(this.#o.spoolDir).filter((f) => SPOOL_RE.test(f)).sort() : [];
  }

  /** Closes the current batch and queues it for the spool (spool writes stay in order). */
  #cut(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#batch.length === 0) return;
    const lines = this.#batch;
    this.#batch = [];
    this.#spooling = this.#spooling.then(() => this.#spool(lines)).catch((e: unknown) => {
      this.#o.logger.error({ sink: 'http', code: (e as NodeJS.ErrnoException).code, alert: 'audit_spool_failed' }, 'audit sink http: cannot write the spool');
    });
  }

  async #spool(lines: string[]): Promise<void> {
    const id = batchId(lines);
    const body = `{"batch_id":"${id}","records":[${lines.join(',')}]}`;
    const size = Buffer.byteLength(body);
    if (this.#spoolBytes + size > this.#o.spoolMaxBytes) {
      this.stats.droppedFull += lines.length;
      this.#o.logger.error({ sink: 'http', alert: 'audit_spool_full', batch_id: id }, 'audit sink http: spool full; records of this batch stay only in the audit file');
      return;
    }
    const [first, last, h] = id.split('-') as [string, string, string];
    const name = `${pad(Number(first))}-${pad(Number(last))}-${h}.json`;
    const path = join(this.#o.spoolDir, name);
    await writeFile(`${path}.tmp`, body, { mode: 0o600 });
    await rename(`${path}.tmp`, path);
    this.#spoolBytes += size;
    this.stats.spooled += lines.length;
    this.#kick(0);
  }

  #kick(ms: number): void {
    if (this.#sending || this.#retryTimer || this.#closed) return;
    if (ms === 0) {
      this.#sending = this.#drain()
        .catch((e: unknown) => {
          if (!(e instanceof RetryLater)) this.#o.logger.error({ sink: 'http', code: (e as NodeJS.ErrnoException).code }, 'audit sink http: cannot read the spool');
          if (this.#backoff === 0) this.#backoff = this.#o.retryMinMs;
        })
        .finally(() => {
          this.#sending = undefined;
          if (this.#backoff > 0) this.#kick(this.#backoff);
        });
      return;
    }
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#kick(0);
    }, ms);
    this.#retryTimer.unref();
  }

  /** Sends spooled batches oldest first until the spool is empty or a send fails (then retries later). */
  async #drain(): Promise<void> {
    // Batches spooled while this runs are picked up by the next pass.
    for (let names = this.#spooled(); names.length > 0; names = this.#spooled()) await this.#drainOnce(names);
  }

  async #drainOnce(names: string[]): Promise<void> {
    for (const name of names) {
      const path = join(this.#o.spoolDir, name);
      const body = await readFile(path);
      const outcome = await this.#post(body, name.slice(0, -'.json'.length));
      if (outcome === 'retry') {
        this.#backoff = Math.min(this.#backoff ? this.#backoff * 2 : this.#o.retryMinMs, this.#o.retryMaxMs);
        throw new RetryLater();
      }
      if (outcome === 'rejected') {
        mkdirSync(join(this.#o.spoolDir, 'rejected'), { recursive: true, mode: 0o700 });
        await rename(path, join(this.#o.spoolDir, 'rejected', name));
      } else await unlink(path);
      this.#spoolBytes = Math.max(0, this.#spoolBytes - body.length);
      this.#backoff = 0;
    }
  }

  async #post(body: Buffer, name: string): Promise<'sent' | 'retry' | 'rejected'> {
    const id = (/"batch_id":"([^"]{1,80})"/.exec(body.subarray(0, 120).toString()) ?? [])[1] ?? name;
    let status: number;
    try {
      const res = await request(this.#o.url, {
        method: 'POST',
        headers: { ...this.#headers(), 'content-type': 'application/json', 'idempotency-key': id },
        body,
        dispatcher: this.#agent,
        signal: AbortSignal.timeout(this.#o.timeoutMs),
        headersTimeout: this.#o.timeoutMs,
        bodyTimeout: this.#o.timeoutMs,
      });
      status = res.statusCode;
      // The answer is not read: up to 64 KiB is drained (keeping the connection), anything longer closes it.
      await res.body.dump({ limit: 65_536 }).catch(() => undefined);
    } catch (e) {
      // A refused TLS handshake (unknown CA, pin mismatch, client certificate refused) is an outage like any other:
      // the batch stays spooled and is retried; health names the code.
      const code = connectionErrorCode(e);
      if (!this.#lastError) {
        this.#o.logger.warn({ sink: 'http', client: this.#client, host: this.#host, code }, 'audit sink http: endpoint unreachable (connection or TLS handshake failed); spooling and retrying');
      }
      this.#lastError = `endpoint unreachable (${code})`;
      return 'retry';
    }
    if (status >= 200 && status < 300) {
      if (this.#lastError) this.#o.logger.warn({ sink: 'http' }, 'audit sink http: endpoint reachable again; replaying the spool');
      this.#lastError = undefined;
      // A batch holds consecutive records: its size follows from the seq range in its name.
      const [first, last] = name.split('-').map(Number) as [number, number];
      this.stats.sent += last - first + 1;
      return 'sent';
    }
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      this.stats.rejected++;
      this.#o.logger.error({ sink: 'http', status, batch_id: id, alert: 'audit_batch_rejected' }, 'audit sink http: the endpoint rejected a batch; moved to spool/rejected');
      return 'rejected';
    }
    this.#lastError = `endpoint answered ${status}`;
    return 'retry';
  }

  /** The configured headers, lower-cased: the sink's own content-type and idempotency-key replace any of theirs. */
  #headers(): Record<string, string> {
    const out: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [k, v] of Object.entries(this.#o.headers)) out[k.toLowerCase()] = v;
    return out;
  }

  /** Spools the open batch, tries to send for up to the timeout, and leaves the rest in the spool for the next run. */
  async close(): Promise<void> {
    if (this.#adoptTimer) clearInterval(this.#adoptTimer);
    this.#adoptTimer = undefined;
    this.#cut();
    await this.#spooling;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const end = Date.now() + this.#o.timeoutMs;
    while (this.#spooled().length > 0 && Date.now() < end && this.#backoff === 0) {
      this.#kick(0);
      await this.#sending;
    }
    await this.#sending;
    this.#closed = true;
    await this.#agent.close().catch(() => undefined);
    if (this.#o.removeWhenEmpty && this.#spooled().length === 0) {
      try {
        rmdirSync(this.#o.spoolDir);
      } catch {
        // Not empty (a rejected/ batch) or gone: left for the gateway to adopt.
      }
    }
  }
}
