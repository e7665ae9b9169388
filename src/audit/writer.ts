/**
 * The audit log writer (issue 5): append-only JSON Lines, hash-chained, group-committed, fail-closed.
 *
 * emit() builds and serialises the record, queues it and resolves once an fsync covers it. One pump writes queued
 * records in batches — chained at write time by the appender, under a lock other processes writing the same log
 * respect — and fsyncs at most every fsync_interval (group commit), or right after each write with `fsync: always`. The queue is bounded: when it is full, emit waits
 * (backpressure) instead of growing memory. A write error fails the log: pending and later emits reject with
 * GH_AUDIT_UNAVAILABLE (on_failure: closed) until a retry reopens the file.
 */
import { join, resolve as resolvePath } from 'node:path';
import { performance } from 'node:perf_hooks';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { AuditConfig } from '../config/schema/audit.js';
import { prepareTrustedDir } from '../store/index.js';
import type { AuditEmitter, AuditEvent, Logger } from '../core/types.js';
import { canonicalJson } from './canonical.js';
import { ChainAppender, type AppendItem } from './appender.js';
import { RETENTION_EVENT } from './checkpoint.js';
import { headNotePath } from './headnote.js';
import { loadHmacKey, loadSigningKey } from './keys.js';
import { IDENTITY, buildPayload, checkEvent, serializePayload, type PayloadOptions, type Redact } from './record.js';
import { ClosedFileJudge, compressFile, planRetention, removeCompressedTwins, removeFiles, uncompressedRotated } from './rotate.js';
import type { AuditSink } from './sinks/types.js';

export interface AuditLogOptions {
  stateDir: string;
  logger: Logger;
  clock?: Clock;
  /** The redactor (src/redact's redactValue); identity by default. */
  redact?: Redact;
  /**
   * The redact function never changes its input and returns it as it is when nothing needed redacting (src/redact's
   * redactValue is such a function): records then skip copying their args and metadata before redaction. Values are
   * then read more than once (checked, redacted, serialised), so events must hold plain data, as JSON.parse and
   * object literals make, not getters whose answers change. Off by default; the gateway turns it on.
   */
  redactCopiesOnWrite?: boolean;
  /** HMAC key for hmac_keys; default from hmac_key_env / hmac_key_file / <state_dir>/audit-hmac.key. */
  hmacKey?: Buffer | string;
  env?: NodeJS.ProcessEnv;
  /** Sinks besides the configured ones (the gateway's own, tests). */
  sinks?: AuditSink[];
  /** With fsync: batch, how long records may wait to share a write (default: 1 ms, or a quarter of fsync_interval if less). */
  coalesceMs?: number;
  /** Largest single write(2); smaller values only matter for tests that crash the writer mid-line. */
  writeChunkBytes?: number;
  /** How long the append lock outlives the last batch (default 20 ms); tests that observe the lease set it longer. */
  lockIdleMs?: number;
  /** This process's place among the gateway's workers (server.workers): sinks keep their on-disk spools per worker. */
  worker?: { index: number; count: number };
  /** A short-lived process (a CLI command): HTTP sinks spool apart from the gateway's (createSinks). */
  transient?: boolean;
  /** How often an HTTP sink looks for spools left by exited CLI commands and former workers (default 60 s; createSinks). */
  spoolAdoptEveryMs?: number;
  /** Alerts are raised by another process (the workers' supervisor): alert-relevant records go here (createSinks). */
  alertsTo?: (r: Record<string, unknown>) => void;
}

interface Item extends AppendItem {
  payload: Readonly<Record<string, unknown>> | undefined;
  resolve: (() => void) | undefined;
  reject: ((e: Error) => void) | undefined;
  /** Internal records awaited by the writer itself: never "resolved anyway" under on_failure: continue. */
  strict: boolean;
}

const MAX_BATCH_BYTES = 1 << 20;

/** The audit directory of a configuration: audit.dir (relative to the state directory), else <state_dir>/audit. */
export const auditDir = (cfg: Pick<AuditConfig, 'dir'>, stateDir: string): string => resolvePath(stateDir, cfg.dir ?? join(stateDir, 'audit'));
const RETRY_MS = 1000;
/** Retention reads at most this much of a gzipped rotated file (or 8 × rotation.max_size if more) to find its closing checkpoint. */
const RETENTION_READ_FLOOR = 256 << 20;
const iso = (ms: number): string => new Date(ms).toISOString();

// Records within the same millisecond share one timestamp string (toISOString costs more than the rest of a record's header).
let lastMs = NaN;
let lastIso = '';
const isoCached = (ms: number): string => {
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = iso(ms);
  }
  return lastIso;
};

/** Waits `ms`, or less if the function handed to `expose` is called; `expose(undefined)` once it is over. */
function wakeableDelay(ms: number, expose: (wake: (() => void) | undefined) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      expose(undefined);
      resolve();
    };
    const timer = setTimeout(done, Math.ceil(ms));
    expose(done);
  });
}

export class AuditLog implements AuditEmitter {
  readonly dir: string;
  readonly path: string;
  readonly #cfg: AuditConfig;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #payloadOpts: PayloadOptions;
  readonly #appender: ChainAppender;
  readonly #sinks: AuditSink[];
  readonly #observers: AuditSink[];
  #queue: Item[] = [];
  #unsynced: Item[] = [];
  #spaceWaiters: (() => void)[] = [];
  #checkpointWanted = false;
  #pump: Promise<void> | undefined;
  #kick: (() => void) | undefined;
  /** Ends a coalescing pause early (a full batch, drain, close). */
  #hurry: (() => void) | undefined;
  #lastWrite = -Infinity;
  readonly #coalesceMs: number;
  #batches = 0;
  #lastSync = 0;
  #lastCheckpointCheck = 0;
  #failed: GatehouseError | undefined;
  #opening = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #closing = false;
  #dropped = 0;
  #background: Promise<void> = Promise.resolve();
  #timers: NodeJS.Timeout[] = [];
  /** Retention judges rotated files by their closing checkpoints, signed by this key (#applyRetention). */
  readonly #retentionJudge: ClosedFileJudge;

  constructor(cfg: AuditConfig, opts: AuditLogOptions, sinks: AuditSink[] = []) {
    this.#cfg = cfg;
    this.#clock = opts.clock ?? systemClock;
    this.#logger = opts.logger;
    this.dir = auditDir(cfg, opts.stateDir);
    this.path = join(this.dir, cfg.file);
    this.#sinks = [...sinks, ...(opts.sinks ?? [])];
    this.#observers = this.#sinks.filter((x) => x.observe);
    const env = opts.env ?? process.env;
    const hmacKeys = new Set(cfg.hmac_keys.map((k) => k.toLowerCase()));
    let hmacKey: Buffer | undefined;
    if (hmacKeys.size > 0) {
      hmacKey = opts.hmacKey !== undefined ? Buffer.from(opts.hmacKey) : loadHmacKey({ hmacKeyFile: cfg.hmac_key_file, hmacKeyEnv: cfg.hmac_key_env, env, stateDir: opts.stateDir, create: true });
    }
    this.#coalesceMs = opts.coalesceMs ?? Math.min(1, cfg.fsync_interval / 4);
    this.#payloadOpts = { redact: opts.redact ?? IDENTITY, redactCopiesOnWrite: opts.redactCopiesOnWrite === true, hmacKeys, hmacKey };
    const key = loadSigningKey({ privateKeyFile: cfg.checkpoint.private_key_file, privateKeyEnv: cfg.checkpoint.private_key_env, env, stateDir: opts.stateDir });
    this.#retentionJudge = new ClosedFileJudge(key.publicKey, Math.max(8 * cfg.rotation.max_size, RETENTION_READ_FLOOR));
    this.#appender = new ChainAppender({
      dir: this.dir,
      cfg,
      key,
      clock: this.#clock,
      logger: this.#logger,
      chunk: opts.writeChunkBytes ?? MAX_BATCH_BYTES,
      ...(opts.lockIdleMs !== undefined ? { lockIdleMs: opts.lockIdleMs } : {}),
      keepLines: this.#sinks.length > 0,
      notePath: headNotePath(resolvePath(opts.stateDir), cfg.file),
      onRotated: (path) => {
        if (cfg.compress) this.#inBackground(() => compressFile(path));
        this.#inBackground(() => this.#applyRetention());
      },
    });
  }

  /** Opens the file, seals a torn tail, finishes interrupted compressions and starts the timers. */
  async start(): Promise<void> {
    // Closed to others, as state_dir is, wherever audit.dir points: whoever could write there could swap the log.
    prepareTrustedDir(this.dir, 'audit.dir');
    await removeCompressedTwins(this.dir, this.#cfg.file);
    await this.#open();
    if (this.#cfg.compress) for (const f of uncompressedRotated(this.dir, this.#cfg.file)) this.#inBackground(() => compressFile(f.path));
    const tick = Math.min(this.#cfg.checkpoint.every_seconds * 1000, 1000);
    this.#lastCheckpointCheck = this.#clock.now();
    this.#timers.push(setInterval(() => this.#onTick(), tick).unref());
  }

  emit(event: AuditEvent): Promise<void> {
    try {
      checkEvent(event);
      // Fast path without an extra async frame: most emits find room in the queue.
      if (this.#queue.length < this.#cfg.max_queue || this.#failed || this.#closing) return this.#accept(event);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    return this.#emitWhenRoom(event);
  }

  /**
   * emit() for a caller that does not wait for durability (the gateway under fsync: batch): the same checks,
   * queue, chain and fsync, without a promise per record. `onError` is called at most once, when the record is
   * refused or cannot be written; it is never called for a record that was written. A full queue still holds
   * the record back until there is room (the same backpressure as emit()).
   */
  record(event: AuditEvent, onError: (e: Error) => void): void {
    try {
      checkEvent(event);
      if (this.#queue.length >= this.#cfg.max_queue && !this.#failed && !this.#closing) {
        this.#emitWhenRoom(event).then(undefined, onError);
        return;
      }
      if (this.#closing) throw new GatehouseError('GH_AUDIT_UNAVAILABLE', undefined, { detail: 'the audit log is closed' });
      if (this.#failed || this.#opening) {
        this.#refuse();
        return;
      }
      const prepared = this.#prepare(event);
      this.#enqueue(prepared.text, prepared.payload, undefined, onError, false);
    } catch (e) {
      onError(e as Error);
    }
  }

  async #emitWhenRoom(event: AuditEvent): Promise<void> {
    while (!this.#failed && !this.#closing && this.#queue.length >= this.#cfg.max_queue) {
      await new Promise<void>((r) => this.#spaceWaiters.push(r));
    }
    return this.#accept(event);
  }

  #accept(event: AuditEvent): Promise<void> {
    if (this.#closing) return Promise.reject(new GatehouseError('GH_AUDIT_UNAVAILABLE', undefined, { detail: 'the audit log is closed' }));
    if (this.#failed || this.#opening) {
      try {
        this.#refuse();
        return Promise.resolve();
      } catch (e) {
        return Promise.reject(e as Error);
      }
    }
    let prepared: { text: string; payload: Item['payload'] };
    try {
      prepared = this.#prepare(event);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    return new Promise<void>((resolve, reject) => this.#enqueue(prepared.text, prepared.payload, resolve, reject, false));
  }

  /** The record's line and, for observing sinks, its payload. A redactor that throws must not let the record through unredacted: refused like a write failure. */
  #prepare(event: AuditEvent): { text: string; payload: Item['payload'] } {
    try {
      const payload = buildPayload(event, isoCached(this.#clock.now()), this.#payloadOpts);
      return { text: serializePayload(payload, this.#cfg.max_args_bytes), payload: this.#observers.length > 0 ? payload : undefined };
    } catch (e) {
      throw new GatehouseError('GH_AUDIT_UNAVAILABLE', undefined, { detail: 'the audit record could not be prepared', cause: e });
    }
  }

  /**
   * The health of the sinks configured in audit.sinks, in their order (not the alert engine nor sinks a caller added):
   * for /readyz and the metrics. A name given twice (two http sinks) carries its place in audit.sinks.
   */
  sinkHealth(): { name: string; ok: boolean; reason?: string }[] {
    const configured = this.#sinks.slice(0, this.#cfg.sinks.length);
    return configured.map((s, i) => ({ name: configured.filter((t) => t.name === s.name).length > 1 ? `${s.name}[${i}]` : s.name, ...s.health() }));
  }

  health(): { ok: boolean; reason?: string } {
    if (this.#closing) return { ok: false, reason: 'the audit log is closed' };
    if (this.#failed) return { ok: false, reason: this.#failed.detail ?? 'the audit log cannot be written' };
    return { ok: true };
  }

  /** Counters for health endpoints and benchmarks. */
  stats(): { seq: number; queued: number; unsynced: number; dropped: number; batches: number } {
    return { seq: this.#appender.seq, queued: this.#queue.length, unsynced: this.#unsynced.length, dropped: this.#dropped, batches: this.#batches };
  }

  /** Writes what is queued and a final checkpoint, fsyncs, closes the file and flushes the sinks. */
  async close(): Promise<void> {
    if (this.#closing) return;
    for (const t of this.#timers) clearInterval(t);
    if (this.#retryTimer) clearInterval(this.#retryTimer);
    await this.#background;
    if (!this.#failed) {
      this.#checkpointWanted = true;
      await this.#drain();
    }
    this.#closing = true;
    for (const w of this.#spaceWaiters.splice(0)) w();
    this.#appender.end();
    await Promise.all(this.#sinks.map((s) => s.close()));
  }

  #enqueue(text: string, payload: Item['payload'], resolve: Item['resolve'], reject: Item['reject'], strict: boolean): void {
    this.#queue.push({ text, line: '', payload, resolve, reject, strict });
    if (this.#hurry && this.#queue.length >= this.#coalesceItems()) this.#hurry();
    this.#schedule();
  }

  #coalesceItems(): number {
    return Math.max(1, Math.min(256, Math.floor(this.#cfg.max_queue / 2)));
  }

  /**
   * With group commit (fsync: batch) nobody waits for a write to finish, so records arriving within about a
   * millisecond of the last write go out together: one write(2) and one thread-pool round trip for many records
   * instead of one each (standard group commit; on the 2-core bench machine the gain stayed within its noise). A
   * fuller queue, a checkpoint, a drain or `fsync: always` writes at once. Returns how long to wait, ≤ 0 for now.
   */
  #coalescePause(): number {
    if (this.#cfg.fsync !== 'batch' || this.#checkpointWanted || this.#closing || this.#queue.length >= this.#coalesceItems()) return 0;
    return this.#lastWrite + this.#coalesceMs - performance.now();
  }

  /** A record the log writes itself (retention), awaited by the writer. */
  #appendInternal(payload: Record<string, unknown>): Promise<void> {
    return new Promise((resolve, reject) => this.#enqueue(canonicalJson(payload), undefined, resolve, reject, true));
  }

  #onTick(): void {
    if (this.#failed || this.#closing) return;
    const now = this.#clock.now();
    if (now - this.#lastCheckpointCheck >= this.#cfg.checkpoint.every_seconds * 1000) {
      // The appender signs only when records are unsigned, so an idle log gets no empty checkpoints.
      this.#lastCheckpointCheck = now;
      this.#checkpointWanted ||= this.#appender.uncheckpointed > 0;
      if (this.#checkpointWanted) this.#schedule();
    }
  }

  // --- the pump ---------------------------------------------------------------

  #schedule(): void {
    if (this.#kick) {
      const k = this.#kick;
      this.#kick = undefined;
      k();
    }
    this.#pump ??= this.#run().finally(() => {
      this.#pump = undefined;
      if ((this.#queue.length > 0 || this.#checkpointWanted) && !this.#failed) this.#schedule();
    });
  }

  /** Until nothing is queued, unsynced or being written (a pump mid-write has already taken its batch off the queue). */
  async #drain(): Promise<void> {
    while (!this.#failed) {
      this.#hurry?.();
      if (this.#queue.length > 0 || this.#unsynced.length > 0 || this.#checkpointWanted) this.#schedule();
      const pump = this.#pump;
      if (!pump) return;
      await pump;
    }
  }

  async #run(): Promise<void> {
    const interval = this.#cfg.fsync_interval;
    try {
      for (;;) {
        if (this.#failed) return;
        if (this.#queue.length > 0 || this.#checkpointWanted) {
          const pause = this.#coalescePause();
          if (pause > 0) {
            await wakeableDelay(pause, (wake) => (this.#hurry = wake));
            continue;
          }
          this.#lastWrite = performance.now();
          this.#batches++;
          await this.#writeBatch();
          if (this.#cfg.fsync === 'always' || performance.now() - this.#lastSync >= interval) await this.#sync();
          continue;
        }
        if (this.#unsynced.length === 0) return;
        const wait = this.#lastSync + interval - performance.now();
        if (wait > 0) await wakeableDelay(wait, (wake) => (this.#kick = wake));
        else await this.#sync();
      }
    } catch (e) {
      this.#fail(e);
    }
  }

  async #writeBatch(): Promise<void> {
    let n = 0;
    let bytes = 0;
    const q = this.#queue;
    while (n < q.length && bytes < MAX_BATCH_BYTES) bytes += (q[n++] as Item).text.length;
    const batch = q.splice(0, n);
    const checkpoint = this.#checkpointWanted;
    this.#checkpointWanted = false;
    // Tracked before the write, so a failed write rejects them too (#fail settles every unsynced item).
    for (const item of batch) this.#unsynced.push(item);
    await this.#appender.append(batch, { checkpoint });
    if (this.#sinks.length === 0) for (const item of batch) item.text = item.line = '';
    const waiters = this.#spaceWaiters.splice(0, Math.max(0, this.#cfg.max_queue - this.#queue.length));
    for (const w of waiters) w();
  }

  async #sync(): Promise<void> {
    if (this.#unsynced.length === 0) return;
    const items = this.#unsynced;
    this.#unsynced = [];
    try {
      await this.#appender.sync();
    } catch (e) {
      // Not durable: put them back so #fail rejects them (or calls record()'s onError) instead of leaving them unsettled.
      this.#unsynced = items.concat(this.#unsynced);
      throw e;
    }
    this.#lastSync = performance.now();
    const lines: string[] = [];
    for (const item of items) {
      item.resolve?.();
      if (this.#sinks.length === 0) continue;
      lines.push(item.line);
      if (item.payload) for (const s of this.#observers) s.observe?.(item.payload);
    }
    if (lines.length > 0) for (const s of this.#sinks) s.deliver(lines);
  }

  #inBackground(task: () => Promise<unknown>): void {
    this.#background = this.#background.then(task).then(
      () => undefined,
      (e: unknown) => this.#logger.warn({ code: (e as NodeJS.ErrnoException).code }, 'audit: background compression or retention failed'),
    );
  }

  /**
   * Removes the oldest rotated files the retention policy allows (rotate.ts planRetention): a file's age is the signed
   * timestamp of the checkpoint that closes it, on the injected clock, never its mtime; and only files whose closing
   * checkpoint verifies under the signing key count or go. Files that do not are kept, and logged for the operator.
   */
  async #applyRetention(): Promise<void> {
    const { max_age, max_files } = this.#cfg.retention;
    if (max_age === undefined && max_files === undefined) return;
    const policy = { maxAgeMs: max_age, maxFiles: max_files, now: this.#clock.now(), headSeq: this.#appender.seq };
    const { doomed, unverified } = await planRetention(this.dir, this.#cfg.file, policy, this.#retentionJudge);
    for (const u of unverified.slice(0, 10)) {
      this.#logger.warn({ alert: 'audit_retention_unverified', file: u.name, reason: u.reason }, 'audit: retention keeps a rotated file it cannot vouch for (no closing checkpoint signed by the audit key, or a break in the chain): never removed nor counted by retention; investigate it');
    }
    if (unverified.length > 10) this.#logger.warn({ alert: 'audit_retention_unverified', more: unverified.length - 10 }, 'audit: retention keeps more rotated files it cannot vouch for');
    const last = doomed[doomed.length - 1];
    if (!last || this.#closing || this.#failed) return;
    // Write-ahead: the record saying where the chain now starts is durable before any file goes.
    const retention = { removed_files: doomed.map((d) => d.file.name), removed_through_seq: last.closeSeq, removed_through_hash: last.closeHash };
    await this.#appendInternal({ event_type: RETENTION_EVENT, retention, timestamp: iso(this.#clock.now()) });
    // Verify trusts a retention record only once a checkpoint signs it (anyone can append unsigned records).
    this.#checkpointWanted = true;
    await this.#drain();
    if (this.#failed) return;
    await removeFiles(this.dir, doomed.map((d) => d.file));
  }

  // --- failure and recovery ---------------------------------------------------

  async #open(): Promise<void> {
    this.#opening = true;
    try {
      this.#queue = [];
      this.#unsynced = [];
      await this.#appender.open();
    } finally {
      this.#opening = false;
    }
  }

  #refuse(): void {
    this.#dropped++;
    if (this.#cfg.on_failure === 'continue') return;
    throw this.#failed ?? new GatehouseError('GH_AUDIT_UNAVAILABLE', undefined, { detail: 'the audit log is being reopened' });
  }

  #fail(err: unknown): void {
    const code = err instanceof GatehouseError ? err.code : ((err as NodeJS.ErrnoException | undefined)?.code ?? 'EIO');
    const first = this.#retryTimer === undefined;
    this.#failed = new GatehouseError('GH_AUDIT_UNAVAILABLE', undefined, { detail: `the audit log cannot be written (${code})`, cause: err });
    if (first) {
      // The reason (a lock held past its timeout, a full disk …) names files, never record contents.
      const reason = err instanceof GatehouseError ? err.detail : undefined;
      this.#logger.error({ alert: 'audit_unavailable', code, ...(reason ? { reason } : {}), on_failure: this.#cfg.on_failure }, this.#cfg.on_failure === 'closed'
        ? 'ALERT: the audit log cannot be written; audited operations are refused until it can'
        : 'ALERT: the audit log cannot be written; on_failure is continue, so operations go on unaudited');
    }
    const pending = [...this.#unsynced, ...this.#queue];
    this.#unsynced = [];
    this.#queue = [];
    this.#checkpointWanted = false;
    for (const item of pending) {
      if (!item.resolve && !item.reject) continue;
      this.#dropped++;
      if (this.#cfg.on_failure === 'continue' && !item.strict) item.resolve?.();
      else item.reject?.(this.#failed);
    }
    for (const w of this.#spaceWaiters.splice(0)) w();
    if (first && !this.#closing) this.#retryTimer = setInterval(() => void this.#retry(), RETRY_MS).unref();
  }

  async #retry(): Promise<void> {
    if (!this.#failed || this.#closing) return;
    const failure = this.#failed;
    this.#failed = undefined;
    try {
      await this.#open();
      clearInterval(this.#retryTimer);
      this.#retryTimer = undefined;
      this.#logger.warn({ alert: 'audit_recovered' }, 'audit: the audit log is writable again');
    } catch (e) {
      this.#failed = new GatehouseError('GH_AUDIT_UNAVAILABLE', undefined, { detail: failure.detail ?? 'the audit log cannot be written', cause: e });
    }
  }
}
