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
 * with an alert, so one bad batch cannot block the rest — until REJECTIONS_BEFORE_DOWN batches in a row were refused:
 * then the endpoint is at fault (an expired token answers 401 to everything) and is treated as down, the batches
 * waiting in the spool. rejected/ counts against spool_max_bytes with the spool; its oldest batches make room first.
 * When the spool is full, new batches are not spooled and an alert is logged; the records are still in the audit file.
 *
 * The spool directory is closed to others like state_dir (prepareTrustedDir), and batches are read without
 * following links: anything but a regular file under a batch's name is moved to spool/quarantine/, never sent.
 *
 * The spool is always authenticated (`spoolAuth`, which createSinks gives; else a key of this process's own). It lies in the audit directory by default, and
 * whoever can write there must not be able to have the gateway POST what they wrote, with its credentials, to the
 * SIEM. Each batch file starts with a line `SPOOL_MAGIC <HMAC-SHA256>`, the MAC over the sink's index, the batch's
 * name (its chain position) and the body, with a key kept in the state directory; and while a batch waits, an empty
 * marker under its name lies in `pendingDir` (also in the state directory), removed before the batch leaves the
 * spool. A batch is sent only when its MAC verifies and its marker is there: a file planted or changed (or written by
 * a version before this one) fails the MAC, a copy of a delivered batch put back has no marker. Such a file is moved
 * to spool/quarantine/ with a warning (`audit_spool_unauthenticated`, naming the file and why, never its content);
 * its records, if genuine, are in the audit file. The body POSTed is the batch without that first line.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmdirSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Agent, request } from 'undici';
import type { Logger } from '../../core/types.js';
import type { UpstreamTlsOptions } from '../../tls/index.js';
import { readTrailerOf } from '../chain.js';
import type { AuditSink } from './types.js';
import { connectionErrorCode, urlHost } from '../../core/net.js';
import { prepareTrustedDir } from '../../store/index.js';

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
  /** Its place in audit.sinks: log lines name it ("audit sink 0"); spooled batches are MACed for this index. */
  index?: number;
  /**
   * Authenticates the spool (see the file's comment): `key` MACs each batch written and is checked on each batch
   * read; `pendingDir` (in the state directory) holds a marker per batch waiting, so a delivered batch put back is not
   * sent again. createSinks always gives a key (and a pendingDir when it knows the state directory). Without it the
   * sink makes a key of its own for this process: it sends what it spooled itself, and sets aside whatever an earlier
   * process (or anyone else) left in the spool — never an unauthenticated batch.
   */
  spoolAuth?: SpoolAuth;
}

export interface SpoolAuth {
  /** The HMAC-SHA256 key (createSinks: `<state_dir>/keys/audit-spool.key`). */
  key: Buffer;
  /** Where the markers of batches spooled and not yet delivered lie (createSinks: `<state_dir>/audit-spool/<index>`). */
  pendingDir?: string;
}

/** The first line of an authenticated batch file: this, a space, 64 hex digits of the MAC, a newline. */
export const SPOOL_MAGIC = 'gatehouse-spool-v1';
const HEADER_BYTES = SPOOL_MAGIC.length + 1 + 64 + 1;

/** The MAC of a spooled batch: bound to the sink, the batch's name (chain position) and every byte of its body. */
export function spoolMac(key: Buffer, index: number, name: string, body: Buffer): Buffer {
  return createHmac('sha256', key).update(`gatehouse audit spool v1\0${index}\0${name}\0`).update(body).digest();
}

/** Why a spooled batch is not sent (log field `reason`). */
type Unauthenticated = 'too_large' | 'no_mac' | 'mac_mismatch' | 'not_pending';

class RetryLater extends Error {}

const SPOOL_RE = /^\d{16}-\d{16}-[0-9a-f]{16}\.json$/;
/** A per-process spool createSinks makes inside the configured spool_dir (server.workers, CLI commands). */
const PER_PROCESS_SPOOL_RE = /^(?:worker|cli)-\d+$/;
/** Refused batches in a row after which the endpoint, not the batches, is taken to be at fault. */
export const REJECTIONS_BEFORE_DOWN = 3;
const pad = (n: number): string => String(n).padStart(16, '0');
// O_NONBLOCK: a FIFO under a batch's name opens at once (and is then set aside) instead of blocking a thread.
const READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);
// O_EXCL: the temporary file is always a new one, never a file or link already under that name.
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);
// A pending marker: empty; one already there (a batch spooled again after a crash) is fine.
const MARKER_FLAGS = constants.O_WRONLY | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0);

/** Size of a regular file; links, FIFOs and missing files count for nothing. */
function regularSize(path: string): number {
  const st = lstatSync(path, { throwIfNoEntry: false });
  return st?.isFile() ? st.size : 0;
}

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
  /** Bytes in spool/rejected/: they count against spool_max_bytes too. */
  #rejectedBytes = 0;
  #rejectedInARow = 0;
  /** Names in the spool that are not batches and could not be moved to quarantine/: never read again. */
  readonly #ignored = new Set<string>();
  #lastError: string | undefined;
  #closed = false;
  #adoptTimer: NodeJS.Timeout | undefined;
  /** This sink's own connections, so its TLS settings apply to it alone; closed with the sink. */
  readonly #agent: Agent;
  /** host[:port] of the endpoint for log lines (the path or query may carry a token). */
  readonly #host: string;
  readonly #client: string;
  /** Counters for health and tests. */
  readonly stats = { sent: 0, spooled: 0, rejected: 0, droppedFull: 0, rejectedDropped: 0, quarantined: 0, unauthenticated: 0 };

  readonly #auth: SpoolAuth;

  constructor(o: HttpSinkOptions) {
    this.#o = o;
    this.#auth = o.spoolAuth ?? { key: randomBytes(32) };
    const label = o.index !== undefined ? `audit.sinks[${o.index}].spool_dir` : 'spool_dir';
    if (PER_PROCESS_SPOOL_RE.test(basename(o.spoolDir))) prepareTrustedDir(dirname(o.spoolDir), label);
    prepareTrustedDir(o.spoolDir, label);
    if (this.#auth.pendingDir !== undefined) mkdirSync(this.#auth.pendingDir, { recursive: true, mode: 0o700 });
    this.#agent = new Agent(o.connect ? { connect: o.connect } : {});
    // The schema checked the URL; a library caller's bad one fails each POST as unreachable.
    this.#host = urlHost(o.url) ?? '';
    this.#client = o.index !== undefined ? `audit sink ${o.index}` : 'audit sink';
    for (const f of this.#spooled()) this.#spoolBytes += regularSize(join(o.spoolDir, f));
    for (const f of this.#rejectedNames()) this.#rejectedBytes += regularSize(join(o.spoolDir, 'rejected', f));
    for (const dir of o.adopt?.() ?? []) this.#adopt(dir);
    // A rejected/ grown past the bound by an earlier version is cut back before anything is spooled.
    this.#spooling = this.#trimRejected(0).catch((e: unknown) => this.#spoolError(e));
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
        // Only batches are taken over: a link or anything else stays where it is, for an operator to look at.
        const st = lstatSync(from);
        if (!st.isFile()) continue;
        const size = st.size;
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
    return existsSync(this.#o.spoolDir) ? readdirSync(this.#o.spoolDir).filter((f) => SPOOL_RE.test(f) && !this.#ignored.has(f)).sort() : [];
  }

  /** The batches in spool/rejected/, oldest (lowest seq) first. */
  #rejectedNames(): string[] {
    try {
      return readdirSync(join(this.#o.spoolDir, 'rejected')).filter((f) => SPOOL_RE.test(f)).sort();
    } catch {
      return [];
    }
  }

  #spoolError(e: unknown): void {
    this.#o.logger.error({ sink: 'http', code: (e as NodeJS.ErrnoException).code, alert: 'audit_spool_failed' }, 'audit sink http: cannot write the spool');
  }

  /**
   * Removes the oldest batches of spool/rejected/ until `need` more bytes fit under spool_max_bytes with the live
   * spool (a refused batch is worth less than one still to send). Does nothing when that cannot make room.
   */
  async #trimRejected(need: number): Promise<void> {
    const max = this.#o.spoolMaxBytes;
    if (this.#spoolBytes + this.#rejectedBytes + need <= max || this.#spoolBytes + need > max) return;
    let dropped = 0;
    const dir = join(this.#o.spoolDir, 'rejected');
    for (const name of this.#rejectedNames()) {
      if (this.#spoolBytes + this.#rejectedBytes + need <= max) break;
      const size = regularSize(join(dir, name));
      try {
        await unlink(join(dir, name));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') break;
      }
      this.#rejectedBytes = Math.max(0, this.#rejectedBytes - size);
      dropped++;
    }
    if (this.#rejectedNames().length === 0) this.#rejectedBytes = 0;
    if (dropped === 0) return;
    this.stats.rejectedDropped += dropped;
    this.#o.logger.warn(
      { sink: 'http', batches: dropped, dropped_total: this.stats.rejectedDropped, alert: 'audit_rejected_dropped' },
      'audit sink http: spool/rejected reached spool_max_bytes; removed its oldest batches (their records stay in the audit file)',
    );
  }

  /** Closes the current batch and queues it for the spool (spool writes stay in order). */
  #cut(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#batch.length === 0) return;
    const lines = this.#batch;
    this.#batch = [];
    this.#spooling = this.#spooling.then(() => this.#spool(lines)).catch((e: unknown) => this.#spoolError(e));
  }

  async #spool(lines: string[]): Promise<void> {
    const id = batchId(lines);
    const [first, last, h] = id.split('-') as [string, string, string];
    const name = `${pad(Number(first))}-${pad(Number(last))}-${h}.json`;
    const body = Buffer.from(`{"batch_id":"${id}","records":[${lines.join(',')}]}`);
    const auth = this.#auth;
    const file = Buffer.concat([Buffer.from(`${SPOOL_MAGIC} ${spoolMac(auth.key, this.#o.index ?? 0, name, body).toString('hex')}\n`), body]);
    const size = file.length;
    await this.#trimRejected(size);
    if (this.#spoolBytes + this.#rejectedBytes + size > this.#o.spoolMaxBytes) {
      this.stats.droppedFull += lines.length;
      this.#o.logger.error({ sink: 'http', alert: 'audit_spool_full', batch_id: id }, 'audit sink http: spool full; records of this batch stay only in the audit file');
      return;
    }
    const path = join(this.#o.spoolDir, name);
    // The marker first: a batch is never visible under its name without it (a crash leaves at most a marker alone).
    const marker = auth.pendingDir !== undefined ? join(auth.pendingDir, name) : undefined;
    if (marker !== undefined) await (await open(marker, MARKER_FLAGS, 0o600)).close();
    try {
      await unlink(`${path}.tmp`).catch(() => undefined);
      const fh = await open(`${path}.tmp`, WRITE_FLAGS, 0o600);
      try {
        await fh.writeFile(file);
      } finally {
        await fh.close();
      }
      await rename(`${path}.tmp`, path);
    } catch (e) {
      if (marker !== undefined) await unlink(marker).catch(() => undefined);
      throw e;
    }
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
      const batch = await this.#readBatch(name);
      if (batch === undefined) continue;
      const outcome = await this.#post(batch.body, name.slice(0, -'.json'.length));
      if (outcome === 'retry') {
        this.#backoff = Math.min(this.#backoff ? this.#backoff * 2 : this.#o.retryMinMs, this.#o.retryMaxMs);
        throw new RetryLater();
      }
      // The marker goes first: a crash in between leaves a delivered batch without one (set aside, never re-sent).
      const pendingDir = this.#auth.pendingDir;
      if (pendingDir !== undefined) {
        await unlink(join(pendingDir, name)).catch((e: unknown) => {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        });
      }
      if (outcome === 'rejected') {
        mkdirSync(join(this.#o.spoolDir, 'rejected'), { recursive: true, mode: 0o700 });
        await rename(path, join(this.#o.spoolDir, 'rejected', name));
        this.#rejectedBytes += batch.size;
      } else await unlink(path);
      this.#spoolBytes = Math.max(0, this.#spoolBytes - batch.size);
      this.#backoff = 0;
    }
  }

  /**
   * A spooled batch, opened without following a link and read only if it is a regular file. Anything else under a
   * batch's name (a link to a private file, a FIFO, a directory) was not written by this sink: it is moved to
   * spool/quarantine/ with a warning (or, if it cannot be moved, ignored from then on) and undefined is returned.
   * A regular file is read only up to spool_max_bytes (no batch this sink spools is larger) and
   * returned only when its MAC verifies and its pending marker is there; else it is set aside the same way.
   * Returns the body to POST and the file's size (what it counts against the spool's bound).
   */
  async #readBatch(name: string): Promise<{ body: Buffer; size: number } | undefined> {
    const path = join(this.#o.spoolDir, name);
    let fh;
    try {
      fh = await open(path, READ_FLAGS);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ELOOP' && code !== 'EMLINK' && code !== 'EISDIR') throw e;
      await this.#quarantine(name);
      return undefined;
    }
    let file: Buffer;
    try {
      const st = await fh.stat();
      if (!st.isFile()) {
        await this.#quarantine(name);
        return undefined;
      }
      if (st.size > this.#o.spoolMaxBytes) {
        await this.#setAside(name, 'too_large', st.size);
        return undefined;
      }
      // Exactly the size judged: a file that grows meanwhile is not read further.
      file = Buffer.alloc(st.size);
      let got = 0;
      for (let n = -1; got < file.length && n !== 0; got += n) n = (await fh.read(file, got, file.length - got, got)).bytesRead;
      file = file.subarray(0, got);
    } finally {
      await fh.close();
    }
    const why = this.#authenticate(this.#auth, name, file);
    if (why !== undefined) {
      await this.#setAside(name, why, file.length);
      return undefined;
    }
    return { body: file.subarray(HEADER_BYTES), size: file.length };
  }

  /** Undefined when `file` is a batch this sink (or another process of this gateway) spooled and has not delivered. */
  #authenticate(auth: SpoolAuth, name: string, file: Buffer): Unauthenticated | undefined {
    const head = file.subarray(0, HEADER_BYTES).toString('latin1');
    const hex = head.slice(SPOOL_MAGIC.length + 1, HEADER_BYTES - 1);
    if (file.length < HEADER_BYTES || !head.startsWith(`${SPOOL_MAGIC} `) || !head.endsWith('\n') || !/^[0-9a-f]{64}$/.test(hex)) return 'no_mac';
    const want = spoolMac(auth.key, this.#o.index ?? 0, name, file.subarray(HEADER_BYTES));
    if (!timingSafeEqual(want, Buffer.from(hex, 'hex'))) return 'mac_mismatch';
    if (auth.pendingDir !== undefined && !lstatSync(join(auth.pendingDir, name), { throwIfNoEntry: false })?.isFile()) return 'not_pending';
    return undefined;
  }

  /** Moves an entry to spool/quarantine/ (or, when that fails, ignores it from then on); whether it moved. */
  async #moveToQuarantine(name: string): Promise<boolean> {
    const dir = join(this.#o.spoolDir, 'quarantine');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const moved = await rename(join(this.#o.spoolDir, name), join(dir, name)).then(() => true, () => false);
    if (!moved) this.#ignored.add(name);
    return moved;
  }

  async #quarantine(name: string): Promise<void> {
    const moved = await this.#moveToQuarantine(name);
    this.stats.quarantined++;
    const where = moved ? 'moved to spool/quarantine' : 'left in place and ignored';
    this.#o.logger.warn({ sink: 'http', file: name, alert: 'audit_spool_foreign_file' }, `audit sink http: a spool entry that is not a regular file (a link?) was not sent; ${where}`);
  }

  /**
   * A regular file under a batch's name that this sink must not send (planted, changed, already delivered, or
   * spooled by a version without MACs): set aside, never deleted, with a warning naming the file and the reason
   * (its content is not logged). It no longer counts against spool_max_bytes.
   */
  async #setAside(name: string, reason: Unauthenticated, size: number): Promise<void> {
    const moved = await this.#moveToQuarantine(name);
    this.#spoolBytes = Math.max(0, this.#spoolBytes - size);
    this.stats.unauthenticated++;
    const where = moved ? 'moved to spool/quarantine' : 'left in place and ignored';
    const what: Record<Unauthenticated, string> = {
      too_large: 'is larger than spool_max_bytes',
      no_mac: 'carries no MAC (planted, or spooled by a version before spool MACs)',
      mac_mismatch: 'fails its MAC (changed, renamed, or written with another key)',
      not_pending: 'is not pending (a copy of a batch already delivered)',
    };
    this.#o.logger.warn(
      { sink: 'http', client: this.#client, file: name, reason, alert: 'audit_spool_unauthenticated' },
      `audit sink http: a spooled batch ${what[reason]} and was not sent; ${where}`,
    );
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
      this.#rejectedInARow = 0;
      if (this.#lastError) this.#o.logger.warn({ sink: 'http' }, 'audit sink http: endpoint reachable again; replaying the spool');
      this.#lastError = undefined;
      // A batch holds consecutive records: its size follows from the seq range in its name.
      const [first, last] = name.split('-').map(Number) as [number, number];
      this.stats.sent += last - first + 1;
      return 'sent';
    }
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      if (this.#rejectedInARow >= REJECTIONS_BEFORE_DOWN) {
        // Every batch refused: the endpoint (its token, its URL) is wrong, not the batches. They wait in the spool.
        if (!this.#lastError?.startsWith('endpoint refused')) {
          this.#o.logger.error(
            { sink: 'http', client: this.#client, host: this.#host, status, alert: 'audit_sink_refusing' },
            `audit sink http: the endpoint refused ${REJECTIONS_BEFORE_DOWN} batches in a row; treating it as down (check its credentials and URL); spooling and retrying`,
          );
        }
        this.#lastError = `endpoint refused ${REJECTIONS_BEFORE_DOWN} batches in a row (last answer ${status})`;
        return 'retry';
      }
      this.#rejectedInARow++;
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
