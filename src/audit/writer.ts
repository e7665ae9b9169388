/**
 * The audit log writer (issue 5): append-only JSON Lines, hash-chained, group-committed, fail-closed.
 *
 * emit() builds and chains the record synchronously (so seq order is emit order), queues the line and resolves once
 * an fsync covers it. One pump writes queued lines in batches and fsyncs at most every fsync_interval (group
 * commit), or right after each write with `fsync: always`. The queue is bounded: when it is full, emit waits
 * (backpressure) instead of growing memory. A write error fails the log: pending and later emits reject with
 * GH_AUDIT_UNAVAILABLE (on_failure: closed) until a retry reopens the file.
 */
import { closeSync, fdatasync, mkdirSync, openSync, write } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { performance } from 'node:perf_hooks';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { AuditConfig } from '../config/schema/audit.js';
import type { AuditEmitter, AuditEvent, Logger } from '../core/types.js';
import { canonicalJson } from './canonical.js';
import { chainLine, GENESIS_HASH } from './chain.js';
import { CHECKPOINT_EVENT, RETENTION_EVENT, TORN_EVENT, checkpointMessage, signCheckpoint, type CheckpointBody } from './checkpoint.js';
import { rotatedName } from './files.js';
import { loadHmacKey, loadSigningKey, type SigningKey } from './keys.js';
import { IDENTITY, buildPayload, checkEvent, serializePayload, type PayloadOptions, type Redact } from './record.js';
import { readChainHead } from './recover.js';
import { compressFile, filesToRemove, lastRecord, removeCompressedTwins, removeFiles, syncDir, uncompressedRotated } from './rotate.js';
import type { AuditSink } from './sinks/types.js';

export interface AuditLogOptions {
  stateDir: string;
  logger: Logger;
  clock?: Clock;
  /** The redactor (src/redact's redactValue); identity by default. */
  redact?: Redact;
  /** HMAC key for hmac_keys; default from hmac_key_env / hmac_key_file / <state_dir>/audit-hmac.key. */
  hmacKey?: Buffer | string;
  env?: NodeJS.ProcessEnv;
  /** Sinks besides the configured ones (the gateway's own, tests). */
  sinks?: AuditSink[];
  /** Largest single write(2); smaller values only matter for tests that crash the writer mid-line. */
  writeChunkBytes?: number;
}

interface Item {
  line: string;
  /** Written before the line: the newline that closes a torn line. */
  pre: string;
  payload: Readonly<Record<string, unknown>> | undefined;
  resolve: (() => void) | undefined;
  reject: ((e: Error) => void) | undefined;
  /** Internal records awaited by the writer itself: never "resolved anyway" under on_failure: continue. */
  strict: boolean;
  /** A rotation marker instead of a record: close the file whose first seq this is. */
  rotate: number | undefined;
}

const MAX_BATCH_BYTES = 1 << 20;

/** The audit directory of a configuration: audit.dir (relative to the state directory), else <state_dir>/audit. */
export const auditDir = (cfg: Pick<AuditConfig, 'dir'>, stateDir: string): string => resolvePath(stateDir, cfg.dir ?? join(stateDir, 'audit'));
const RETRY_MS = 1000;
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

function writeAll(fd: number, buf: Buffer, chunk: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let off = 0;
    const next = (): void => {
      if (off >= buf.length) return resolve();
      write(fd, buf, off, Math.min(chunk, buf.length - off), null, (err, n) => {
        if (err) return reject(err);
        off += n;
        next();
      });
    };
    next();
  });
}

const datasync = (fd: number): Promise<void> => new Promise((res, rej) => fdatasync(fd, (e) => (e ? rej(e) : res())));

export class AuditLog implements AuditEmitter {
  readonly dir: string;
  readonly path: string;
  readonly #cfg: AuditConfig;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #payloadOpts: PayloadOptions;
  readonly #key: SigningKey;
  readonly #sinks: AuditSink[];
  readonly #observers: AuditSink[];
  readonly #chunk: number;
  #fd = -1;
  #seq = 0;
  #prev = GENESIS_HASH;
  #sinceCheckpoint = 0;
  #checkpointFrom = 1;
  #lastCheckpointAt = 0;
  #fileBytes = 0;
  #fileFirstSeq: number | undefined;
  #fileStartedAt = 0;
  #queue: Item[] = [];
  #unsynced: Item[] = [];
  #spaceWaiters: (() => void)[] = [];
  #pump: Promise<void> | undefined;
  #kick: (() => void) | undefined;
  #lastSync = 0;
  #failed: GatehouseError | undefined;
  #opening = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #closing = false;
  #dropped = 0;
  #background: Promise<void> = Promise.resolve();
  #timers: NodeJS.Timeout[] = [];

  constructor(cfg: AuditConfig, opts: AuditLogOptions, sinks: AuditSink[] = []) {
    this.#cfg = cfg;
    this.#clock = opts.clock ?? systemClock;
    this.#logger = opts.logger;
    this.dir = auditDir(cfg, opts.stateDir);
    this.path = join(this.dir, cfg.file);
    this.#chunk = opts.writeChunkBytes ?? MAX_BATCH_BYTES;
    this.#sinks = [...sinks, ...(opts.sinks ?? [])];
    this.#observers = this.#sinks.filter((x) => x.observe);
    const env = opts.env ?? process.env;
    const hmacKeys = new Set(cfg.hmac_keys.map((k) => k.toLowerCase()));
    let hmacKey: Buffer | undefined;
    if (hmacKeys.size > 0) {
      hmacKey = opts.hmacKey !== undefined ? Buffer.from(opts.hmacKey) : loadHmacKey({ hmacKeyFile: cfg.hmac_key_file, hmacKeyEnv: cfg.hmac_key_env, env, stateDir: opts.stateDir, create: true });
    }
    this.#payloadOpts = { redact: opts.redact ?? IDENTITY, hmacKeys, hmacKey };
    this.#key = loadSigningKey({ privateKeyFile: cfg.checkpoint.private_key_file, privateKeyEnv: cfg.checkpoint.private_key_env, env, stateDir: opts.stateDir });
  }

  /** Opens the file, seals a torn tail, finishes interrupted compressions and starts the timers. */
  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    await removeCompressedTwins(this.dir, this.#cfg.file);
    await this.#open();
    if (this.#cfg.compress) for (const f of uncompressedRotated(this.dir, this.#cfg.file)) this.#inBackground(() => compressFile(f.path));
    const tick = Math.min(this.#cfg.checkpoint.every_seconds * 1000, 1000);
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
    let payload: Record<string, unknown>;
    try {
      payload = buildPayload(event, isoCached(this.#clock.now()), this.#payloadOpts);
    } catch (e) {
      // A redactor that throws must not let the record through unredacted: refuse like a write failure.
      return Promise.reject(new GatehouseError('GH_AUDIT_UNAVAILABLE', undefined, { detail: 'the audit record could not be prepared', cause: e }));
    }
    return new Promise<void>((resolve, reject) => this.#append(payload, { resolve, reject }));
  }

  health(): { ok: boolean; reason?: string } {
    if (this.#closing) return { ok: false, reason: 'the audit log is closed' };
    if (this.#failed) return { ok: false, reason: this.#failed.detail ?? 'the audit log cannot be written' };
    return { ok: true };
  }

  /** Counters for health endpoints and benchmarks. */
  stats(): { seq: number; queued: number; unsynced: number; dropped: number } {
    return { seq: this.#seq, queued: this.#queue.length, unsynced: this.#unsynced.length, dropped: this.#dropped };
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    for (const t of this.#timers) clearInterval(t);
    if (this.#retryTimer) clearInterval(this.#retryTimer);
    await this.#background;
    if (!this.#failed && this.#sinceCheckpoint > 0) this.#checkpoint(this.#clock.now());
    await this.#drain();
    this.#closing = true;
    for (const w of this.#spaceWaiters.splice(0)) w();
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
    await Promise.all(this.#sinks.map((s) => s.close()));
  }

  // --- appending ------------------------------------------------------------

  #append(payload: Record<string, unknown>, cb: { resolve?: () => void; reject?: (e: Error) => void; strict?: boolean; pre?: string; internal?: boolean } = {}): void {
    const now = this.#clock.now();
    this.#maybeRotate(now);
    if (this.#sinceCheckpoint > 0 && now - this.#lastCheckpointAt >= this.#cfg.checkpoint.every_seconds * 1000) this.#checkpoint(now);
    // The log's own records (seal, retention) have their own members: serialised generically.
    const text = cb.internal ? canonicalJson(payload) : serializePayload(payload, this.#cfg.max_args_bytes);
    this.#enqueue(text, payload, now, cb);
    this.#sinceCheckpoint++;
    if (this.#sinceCheckpoint >= this.#cfg.checkpoint.every_records) this.#checkpoint(now);
    this.#schedule();
  }

  #enqueue(text: string, payload: Record<string, unknown> | undefined, now: number, cb: { resolve?: () => void; reject?: (e: Error) => void; strict?: boolean; pre?: string }): void {
    const seq = ++this.#seq;
    const { line, hash } = chainLine(text, seq, this.#prev);
    this.#prev = hash;
    if (this.#fileFirstSeq === undefined) {
      this.#fileFirstSeq = seq;
      this.#fileStartedAt = now;
    }
    const pre = cb.pre ?? '';
    this.#fileBytes += Buffer.byteLength(line) + 1 + pre.length;
    // Payloads are kept (until the fsync) only for observers: holding them longer would promote them to the old heap.
    const kept = this.#observers.length > 0 ? payload : undefined;
    this.#queue.push({ line, pre, payload: kept, resolve: cb.resolve, reject: cb.reject, strict: cb.strict ?? false, rotate: undefined });
  }

  #checkpoint(now: number): void {
    const timestamp = iso(now);
    const seq = this.#seq + 1;
    const msg = checkpointMessage(seq, this.#prev, timestamp, this.#checkpointFrom, this.#key.keyId);
    const checkpoint: CheckpointBody = {
      alg: 'Ed25519',
      key_id: this.#key.keyId,
      from_seq: this.#checkpointFrom,
      every_records: this.#cfg.checkpoint.every_records,
      signature: signCheckpoint(this.#key.privateKey, msg),
    };
    this.#enqueue(canonicalJson({ checkpoint, event_type: CHECKPOINT_EVENT, timestamp }), undefined, now, {});
    this.#sinceCheckpoint = 0;
    this.#checkpointFrom = seq + 1;
    this.#lastCheckpointAt = now;
  }

  #maybeRotate(now: number): void {
    if (this.#fileFirstSeq === undefined) return;
    const { max_size, max_age } = this.#cfg.rotation;
    if (this.#fileBytes < max_size && now - this.#fileStartedAt < max_age) return;
    // A closed file always ends with a checkpoint: verify treats one that does not as cut short.
    if (this.#sinceCheckpoint > 0) this.#checkpoint(now);
    this.#queue.push({ line: '', pre: '', payload: undefined, resolve: undefined, reject: undefined, strict: false, rotate: this.#fileFirstSeq });
    this.#fileFirstSeq = undefined;
    this.#fileBytes = 0;
  }

  #appendInternal(payload: Record<string, unknown>, pre = ''): Promise<void> {
    return new Promise((resolve, reject) => this.#append(payload, { resolve, reject, strict: true, pre, internal: true }));
  }

  #onTick(): void {
    if (this.#failed || this.#closing) return;
    const now = this.#clock.now();
    if (this.#sinceCheckpoint > 0 && now - this.#lastCheckpointAt >= this.#cfg.checkpoint.every_seconds * 1000) {
      this.#checkpoint(now);
      this.#schedule();
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
      if (this.#queue.length > 0 && !this.#failed) this.#schedule();
    });
  }

  async #drain(): Promise<void> {
    while ((this.#queue.length > 0 || this.#unsynced.length > 0) && !this.#failed) {
      this.#schedule();
      await this.#pump;
    }
  }

  async #run(): Promise<void> {
    const interval = this.#cfg.fsync_interval;
    try {
      for (;;) {
        if (this.#failed) return;
        const head = this.#queue[0];
        if (head?.rotate !== undefined) {
          this.#queue.shift();
          await this.#sync();
          await this.#rotate(head.rotate);
          continue;
        }
        if (head) {
          await this.#writeBatch();
          if (this.#cfg.fsync === 'always' || performance.now() - this.#lastSync >= interval) await this.#sync();
          continue;
        }
        if (this.#unsynced.length === 0) return;
        const wait = this.#lastSync + interval - performance.now();
        if (wait > 0) await new Promise<void>((r) => {
          const t = setTimeout(() => { this.#kick = undefined; r(); }, Math.ceil(wait));
          this.#kick = () => { clearTimeout(t); r(); };
        });
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
    while (n < q.length && bytes < MAX_BATCH_BYTES && (q[n] as Item).rotate === undefined) bytes += (q[n++] as Item).line.length;
    const batch = q.splice(0, n);
    let text = '';
    const keepLines = this.#sinks.length > 0;
    for (const item of batch) {
      text += item.pre + item.line + '\n';
      if (!keepLines) item.line = '';
    }
    // Tracked before the write, so a failed write rejects them too (#fail settles every unsynced item).
    for (const item of batch) this.#unsynced.push(item);
    await writeAll(this.#fd, Buffer.from(text), this.#chunk);
    const waiters = this.#spaceWaiters.splice(0, Math.max(0, this.#cfg.max_queue - this.#queue.length));
    for (const w of waiters) w();
  }

  async #sync(): Promise<void> {
    if (this.#unsynced.length === 0) return;
    const items = this.#unsynced;
    this.#unsynced = [];
    await datasync(this.#fd);
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

  async #rotate(firstSeq: number): Promise<void> {
    closeSync(this.#fd);
    this.#fd = -1;
    const target = join(this.dir, rotatedName(this.#cfg.file, firstSeq));
    await rename(this.path, target);
    this.#fd = openSync(this.path, 'a', 0o600);
    await syncDir(this.dir);
    if (this.#cfg.compress) this.#inBackground(() => compressFile(target));
    this.#inBackground(() => this.#applyRetention());
  }

  #inBackground(task: () => Promise<unknown>): void {
    this.#background = this.#background.then(task).then(
      () => undefined,
      (e: unknown) => this.#logger.warn({ code: (e as NodeJS.ErrnoException).code }, 'audit: background compression or retention failed'),
    );
  }

  async #applyRetention(): Promise<void> {
    const { max_age, max_files } = this.#cfg.retention;
    if (max_age === undefined && max_files === undefined) return;
    const doomed = filesToRemove(this.dir, this.#cfg.file, { maxAgeMs: max_age, maxFiles: max_files, now: this.#clock.now() });
    const last = doomed[doomed.length - 1];
    const head = last ? await lastRecord(last) : undefined;
    if (!head?.intact || this.#closing || this.#failed) return;
    // Write-ahead: the record saying where the chain now starts is durable before any file goes.
    const retention = { removed_files: doomed.map((f) => f.name), removed_through_seq: head.seq, removed_through_hash: head.hash };
    await this.#appendInternal({ event_type: RETENTION_EVENT, retention, timestamp: iso(this.#clock.now()) });
    await removeFiles(this.dir, doomed);
  }

  // --- failure and recovery ---------------------------------------------------

  async #open(): Promise<void> {
    this.#opening = true;
    try {
      await this.#reopen();
    } finally {
      this.#opening = false;
    }
  }

  async #reopen(): Promise<void> {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
    const head = await readChainHead(this.dir, this.#cfg.file);
    this.#fd = openSync(this.path, 'a', 0o600);
    this.#seq = head.seq;
    this.#prev = head.hash;
    this.#sinceCheckpoint = head.seq - head.lastCheckpointSeq;
    this.#checkpointFrom = head.lastCheckpointSeq + 1;
    this.#lastCheckpointAt = this.#clock.now();
    this.#fileBytes = head.activeSize;
    this.#fileFirstSeq = head.activeFirstSeq;
    this.#fileStartedAt = head.activeStartedAt ?? this.#clock.now();
    this.#queue = [];
    this.#unsynced = [];
    const now = this.#clock.now();
    const pending: Promise<void>[] = [];
    if (head.torn) {
      this.#logger.warn({ offset: head.torn.offset, bytes: head.torn.bytes }, 'audit: sealing a torn last line left by a crash');
      const { offset, bytes, sha256 } = head.torn;
      pending.push(this.#appendInternal({ event_type: TORN_EVENT, timestamp: iso(now), torn: { offset, bytes, sha256 } }, head.torn.needsNewline ? '\n' : ''));
    }
    // Records of a run that did not close cleanly get their checkpoint now.
    if (this.#sinceCheckpoint > 0) {
      this.#checkpoint(now);
      this.#schedule();
    }
    await Promise.all(pending);
    await this.#drain();
    if (this.#failed) throw this.#failed;
  }

  #refuse(): void {
    this.#dropped++;
    if (this.#cfg.on_failure === 'continue') return;
    throw this.#failed ?? new GatehouseError('GH_AUDIT_UNAVAILABLE', undefined, { detail: 'the audit log is being reopened' });
  }

  #fail(err: unknown): void {
    const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'EIO';
    const first = this.#retryTimer === undefined;
    this.#failed = new GatehouseError('GH_AUDIT_UNAVAILABLE', undefined, { detail: `the audit log cannot be written (${code})`, cause: err });
    if (first) {
      this.#logger.error({ alert: 'audit_unavailable', code, on_failure: this.#cfg.on_failure }, this.#cfg.on_failure === 'closed'
        ? 'ALERT: the audit log cannot be written; audited operations are refused until it can'
        : 'ALERT: the audit log cannot be written; on_failure is continue, so operations go on unaudited');
    }
    const pending = [...this.#unsynced, ...this.#queue];
    this.#unsynced = [];
    this.#queue = [];
    for (const item of pending) {
      if (!item.resolve) continue;
      this.#dropped++;
      if (this.#cfg.on_failure === 'continue' && !item.strict) item.resolve();
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
    } catch {
      this.#failed ??= failure;
    }
  }
}
