/**
 * Appends batches to the active file under the cross-process lock, and owns the chain head.
 *
 * Records are chained when they are written, not when they are emitted: under the lock the appender first checks
 * the file is still the one it last wrote (size and inode); if another process appended or rotated meanwhile, it
 * re-reads the head from disk and chains on from there, so a gateway and CLI commands share one chain. Rotation,
 * checkpoints and the sealing of a torn tail happen here too, all under the lock.
 *
 * Only holders of the signing key are writers: after each write the appender records the head it left in the head
 * note (headnote.ts), and it adopts what it finds on disk only where a valid note (or its own memory) vouches for it.
 * Records appended by anyone else, a rewritten tail and a head that went backwards are marked with an
 * `audit.unvouched` record, logged as an alert and reported by verify — never signed over silently.
 */
import { hash as oneShotHash } from 'node:crypto';
import { closeSync, constants, fdatasync, fstatSync, openSync, readSync, statSync, write } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/types.js';
import type { AuditConfig } from '../config/schema/audit.js';
import { canonicalJson } from './canonical.js';
import { GENESIS_HASH, bytesAt, readTrailer } from './chain.js';
import { CHECKPOINT_EVENT, TORN_EVENT, UNVOUCHED_EVENT, checkpointMessage, signCheckpoint, type CheckpointBody } from './checkpoint.js';
import { rotatedName } from './files.js';
import type { SigningKey } from './keys.js';
import { GatehouseError } from '../core/errors.js';
import { FileLock } from '../core/lock.js';
import { HeadNote, type HeadPoint, type NoteRead } from './headnote.js';
import { findRecordHash, readChainHead } from './recover.js';
import { syncDir } from './rotate.js';

export interface AppendItem {
  /** Canonical payload (no chain fields). */
  text: string;
  /** The chained line, once written. */
  line: string;
}

export interface AppenderOptions {
  dir: string;
  cfg: AuditConfig;
  key: SigningKey;
  clock: Clock;
  logger: Logger;
  /** Largest single write(2). */
  chunk: number;
  /** A file was closed by rotation (compress it, apply retention). */
  onRotated: (path: string) => void;
  /** Set item.line (sinks want the lines). */
  keepLines: boolean;
  /** How long the append lock outlives the last batch (FileLock's default when absent). */
  lockIdleMs?: number;
  /** The head note (headnote.ts: `<state_dir>/<file base>.head`). */
  notePath: string;
}

/** Why a head on disk is not adopted as it is (the `reason` of an audit.unvouched record). */
export type UnvouchedReason = 'appended' | 'rewritten' | 'rolled_back' | 'note_invalid' | 'no_note' | 'interrupted';

/** What the appender makes of the head it found on disk. */
interface Verdict {
  reason?: UnvouchedReason;
  /** The head the note (or this process's memory) vouches for. */
  noted?: HeadPoint;
  /** The head went backwards: the next seq comes after this one, so no seq is issued twice. */
  skipTo?: number;
  /**
   * The torn bytes after the head are not a crash's: the head is where a key holder's last batch ended whole, so no
   * writer was writing what follows it (reason `appended`, found = noted).
   */
  tornAppended?: boolean;
}

/** Opens the active file for appending: a regular file only (a FIFO would block the open, or every write). */
function openActive(path: string): number {
  const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK, 0o600);
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new GatehouseError('GH_AUDIT_UNAVAILABLE', undefined, { detail: `${path} is not a regular file` });
  }
  return fd;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** What another writer appended since our last batch is read forward when it is at most this much (else the tail). */
const CATCH_UP_MAX = 4 << 20;
const CHECKPOINT_PREFIX = Buffer.from('{"checkpoint":{');

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

/**
 * The bytes of one batch, built in place: each record's payload is encoded once into the buffer, its trailer
 * appended, and the hash computed over that very slice — no per-record strings to join or re-encode. The result
 * is byte for byte what chainLine (chain.ts) produces.
 */
class LineBuffer {
  buf = Buffer.allocUnsafe(1 << 20);
  len = 0;

  #room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }

  raw(text: string): void {
    this.#room(text.length * 3);
    this.len += this.buf.write(text, this.len, 'utf8');
  }

  /** Appends `{payload,"seq":N,"prev_hash":"…","hash":"…"}\n`; returns the hash and where the line starts. */
  record(text: string, seq: number, prev: string): { hash: string; start: number } {
    this.#room(text.length * 3 + 256);
    const start = this.len;
    // The payload without its closing brace, then the trailer up to prev_hash, closed for hashing.
    this.len += this.buf.write(text, this.len, 'utf8') - 1;
    this.len += this.buf.write(`,"seq":${seq},"prev_hash":"${prev}"}`, this.len, 'latin1');
    const hash = oneShotHash('sha256', this.buf.subarray(start, this.len), 'hex');
    this.len -= 1;
    this.len += this.buf.write(`,"hash":"${hash}"}\n`, this.len, 'latin1');
    return { hash, start };
  }

  line(start: number): string {
    return this.buf.toString('utf8', start, this.len - 1);
  }
}

export class ChainAppender {
  readonly path: string;
  readonly #o: AppenderOptions;
  readonly #lock: FileLock;
  readonly #out = new LineBuffer();
  #fd = -1;
  #seq = 0;
  #prev = GENESIS_HASH;
  #sinceCheckpoint = 0;
  #checkpointFrom = 1;
  #lastCheckpointAt = 0;
  /** Bytes in the active file as this process last left it; -1 forces a re-read of the head. */
  #fileBytes = -1;
  #fileFirstSeq: number | undefined;
  #fileStartedAt = 0;
  /**
   * True while the lock has been held since our last successful batch: no other process can have appended or rotated,
   * so the head need not be re-read (two stat calls and possibly a read saved per batch). Re-checked every second
   * anyway, in case the file was moved from outside.
   */
  #headTrusted = false;
  #headCheckedAt = 0;
  readonly #note: HeadNote;
  /** The head the note vouches for as settled; undefined while what is on disk is not vouched for (a marker is due). */
  #settled: HeadPoint | undefined;
  /** The newest head this process wrote or adopted: catches a file cut back even when the note is gone too. */
  #known: HeadPoint | undefined;

  constructor(o: AppenderOptions) {
    this.#o = o;
    this.path = join(o.dir, o.cfg.file);
    // A writer kept out past the timeout fails its audit log closed.
    this.#lock = new FileLock(`${this.path}.lock`, o.lockIdleMs, (detail) => new GatehouseError('GH_AUDIT_UNAVAILABLE', undefined, { detail }));
    this.#note = new HeadNote(o.notePath, o.cfg.file, o.key.privateKey, o.key.keyId);
  }

  get seq(): number {
    return this.#seq;
  }

  /** Records since the last checkpoint, as of this process's last write. */
  get uncheckpointed(): number {
    return this.#sinceCheckpoint;
  }

  /** Opens the active file; seals a torn tail and checkpoints records a crashed run left unsigned. */
  async open(): Promise<void> {
    this.close();
    this.#fd = openActive(this.path);
    this.#fileBytes = -1;
    this.#lastCheckpointAt = this.#o.clock.now();
    await this.append([], { checkpoint: true });
    await this.sync();
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }

  /** Closes the file and gives the lock back (the writer's close). */
  end(): void {
    this.close();
    this.#note.close();
    this.#lock.release();
    this.#headTrusted = false;
  }

  /** fsyncs the log and the head note together (the note must survive what the log survives). */
  async sync(): Promise<void> {
    const log = new Promise<void>((resolve, reject) => fdatasync(this.#fd, (e) => (e ? reject(e) : resolve())));
    await Promise.all([log, this.#note.sync()]);
  }

  /** Chains and writes the items (in order) under the lock; `checkpoint` adds one when records are unsigned. */
  async append(items: AppendItem[], opts: { checkpoint?: boolean } = {}): Promise<void> {
    const kept = await this.#lock.acquire();
    let ok = false;
    try {
      const out = this.#out;
      out.len = 0;
      const nowMs = Date.now();
      // While the lease is kept no other key holder can have appended: a file longer than what we wrote holds bytes
      // someone without the key put there (one fstat per batch), judged now rather than glued to our next line.
      if (!kept || !this.#headTrusted || nowMs - this.#headCheckedAt >= 1000 || this.#grewBehindUs()) {
        // Our last batch went through whole: what the file holds past it is another writer's appends.
        const ownTailOk = this.#headTrusted;
        this.#headTrusted = false;
        await this.#syncHead(ownTailOk);
        this.#headCheckedAt = nowMs;
      }
      for (const item of items) {
        const now = this.#o.clock.now();
        if (this.#rotationDue(now, out.len)) {
          if (this.#sinceCheckpoint > 0) this.#checkpoint(now);
          await this.#write();
          await this.#rotate();
        }
        if (this.#sinceCheckpoint > 0 && now - this.#lastCheckpointAt >= this.#o.cfg.checkpoint.every_seconds * 1000) this.#checkpoint(now);
        const start = this.#chain(item.text, now);
        if (this.#o.keepLines) item.line = out.line(start);
        this.#sinceCheckpoint++;
        if (this.#sinceCheckpoint >= this.#o.cfg.checkpoint.every_records) this.#checkpoint(now);
      }
      if (opts.checkpoint && this.#sinceCheckpoint > 0) this.#checkpoint(this.#o.clock.now());
      await this.#write();
      ok = true;
    } finally {
      this.#headTrusted = ok;
      // A failed batch gives the lock back at once; a good one keeps it for the next (FileLock.relax).
      if (ok) this.#lock.relax();
      else this.#lock.release();
    }
  }

  /** Whether the active file holds bytes past the ones this process last wrote or read (fstat of our descriptor). */
  #grewBehindUs(): boolean {
    return this.#fd >= 0 && this.#fileBytes >= 0 && fstatSync(this.#fd).size !== this.#fileBytes;
  }

  /** Chains one canonical payload into the batch; returns where its line starts in the batch buffer. */
  #chain(text: string, now: number): number {
    const seq = ++this.#seq;
    const { hash, start } = this.#out.record(text, seq, this.#prev);
    this.#prev = hash;
    if (this.#fileFirstSeq === undefined) {
      this.#fileFirstSeq = seq;
      this.#fileStartedAt = now;
    }
    return start;
  }

  /**
   * Chains on from what another writer appended after our last batch (workers sharing one log hand the lock back and
   * forth many times a second) by reading just those bytes forward, rather than the tail back to the last checkpoint
   * (up to every_records lines) at each hand-over. They must be whole lines that continue our head: the first links to
   * our last record, the last verifies, and each checkpoint among them is verified for its seq. Anything else (a torn
   * write, a gap, more than CATCH_UP_MAX bytes) returns false, and the head is read from the tail as on any start.
   */
  #catchUp(size: number): boolean {
    const from = this.#fileBytes;
    const n = size - from;
    if (from <= 0 || n <= 0 || n > CATCH_UP_MAX) return false;
    const buf = Buffer.allocUnsafe(n);
    let got = 0;
    const fd = openSync(this.path, 'r');
    try {
      for (let r = -1; got < n && r !== 0; got += r) r = readSync(fd, buf, got, n - got, from + got);
    } finally {
      closeSync(fd);
    }
    if (got !== n || buf[n - 1] !== 0x0a) return false;
    let seq = this.#seq;
    let prev = this.#prev;
    let checkpointSeq: number | undefined;
    for (let start = 0; start < n; ) {
      const end = buf.indexOf(0x0a, start);
      const first = start === 0;
      const last = end === n - 1;
      const checkpoint = bytesAt(buf, start, CHECKPOINT_PREFIX);
      if (first || last || checkpoint) {
        const t = readTrailer(buf, start, end);
        if (!t || t.computed !== t.hash) return false;
        if (first && (t.seq !== seq + 1 || t.prevHash !== prev)) return false;
        if (checkpoint) checkpointSeq = t.seq;
        if (last) {
          seq = t.seq;
          prev = t.hash;
        }
      }
      start = end + 1;
    }
    // The other writer's note must vouch for exactly this head; else the slow path judges what was appended.
    const read = this.#note.read();
    if (read.status !== 'valid' || read.note.to.seq !== seq || read.note.to.hash !== prev) return false;
    this.#settled = this.#known = { seq, hash: prev };
    if (checkpointSeq !== undefined) {
      this.#sinceCheckpoint = seq - checkpointSeq;
      this.#checkpointFrom = checkpointSeq + 1;
    } else this.#sinceCheckpoint += seq - this.#seq;
    this.#seq = seq;
    this.#prev = prev;
    this.#fileBytes = size;
    return true;
  }

  #checkpoint(now: number): void {
    const timestamp = iso(now);
    const seq = this.#seq + 1;
    const { keyId, privateKey } = this.#o.key;
    const every = this.#o.cfg.checkpoint.every_records;
    const msg = checkpointMessage(seq, this.#prev, timestamp, this.#checkpointFrom, keyId, every);
    const checkpoint: CheckpointBody = { alg: 'Ed25519', key_id: keyId, from_seq: this.#checkpointFrom, every_records: every, signature: signCheckpoint(privateKey, msg) };
    this.#chain(canonicalJson({ checkpoint, event_type: CHECKPOINT_EVENT, timestamp }), now);
    this.#sinceCheckpoint = 0;
    this.#checkpointFrom = seq + 1;
    this.#lastCheckpointAt = now;
  }

  async #write(): Promise<void> {
    const out = this.#out;
    if (out.len === 0) return;
    const n = out.len;
    const to = { seq: this.#seq, hash: this.#prev };
    // Write-ahead (pending) note: a crash mid-write leaves a note that vouches for any prefix of this batch. Not
    // when the head on disk is not vouched for: a failed write must leave the marker due, not the records vouched.
    if (this.#settled) this.#note.write(to, this.#settled);
    await writeAll(this.#fd, out.buf.subarray(0, n), this.#o.chunk);
    out.len = 0;
    // Counted only once written: after a failed write the size differs and the next append re-reads the head.
    this.#fileBytes += n;
    this.#note.write(to);
    this.#settled = this.#known = to;
  }

  /** `pending`: bytes of the batch not written yet. */
  #rotationDue(now: number, pending: number): boolean {
    if (this.#fileFirstSeq === undefined) return false;
    return this.#fileBytes + pending >= this.#o.cfg.rotation.max_size || now - this.#fileStartedAt >= this.#o.cfg.rotation.max_age;
  }

  /** Closes the file (it ends with a checkpoint), renames it for its first seq and starts a new one. */
  async #rotate(): Promise<void> {
    await this.sync();
    const target = join(this.#o.dir, rotatedName(this.#o.cfg.file, this.#fileFirstSeq as number));
    this.close();
    await rename(this.path, target);
    this.#fd = openActive(this.path);
    await syncDir(this.#o.dir);
    this.#fileBytes = 0;
    this.#fileFirstSeq = undefined;
    this.#o.onRotated(target);
  }

  /**
   * Makes sure the head is the file's: re-reads it when another process appended or rotated since our last write,
   * or when a write of ours failed, and judges it against the head note (#judge). A torn tail found then is sealed
   * first (and marked `appended` when no writer was writing it), then a head not vouched for is marked; a checkpoint
   * signs both at once.
   */
  async #syncHead(ownTailOk = false): Promise<void> {
    let pathIno: number | undefined;
    try {
      pathIno = statSync(this.path).ino;
    } catch {
      pathIno = undefined;
    }
    const st = fstatSync(this.#fd);
    if (pathIno !== st.ino) {
      this.close();
      this.#fd = openActive(this.path);
    } else if (st.size === this.#fileBytes) return;
    else if (ownTailOk && this.#catchUp(st.size)) return;
    const head = await readChainHead(this.#o.dir, this.#o.cfg.file);
    const reopened = this.#fileBytes === -1;
    const verdict = await this.#judge({ seq: head.seq, hash: head.hash }, head.torn !== undefined);
    this.#seq = verdict.skipTo ?? head.seq;
    this.#prev = head.hash;
    this.#sinceCheckpoint = head.seq - head.lastCheckpointSeq;
    this.#checkpointFrom = head.lastCheckpointSeq + 1;
    this.#fileBytes = head.activeSize;
    this.#fileFirstSeq = head.activeFirstSeq;
    this.#fileStartedAt = head.activeStartedAt ?? this.#o.clock.now();
    if (verdict.reason === undefined) this.#settled = this.#known = { seq: head.seq, hash: head.hash };
    else this.#settled = undefined;
    const now = this.#o.clock.now();
    if (head.missingNewline) {
      // A record written whole but for its newline (a write cut there): its line is completed, not sealed; the note
      // judged it above like any record.
      this.#o.logger.warn({ seq: head.seq }, 'audit: completing the last record, written whole but for its newline (a write cut short)');
      this.#out.raw('\n');
    }
    if (head.torn) {
      const { offset, bytes, sha256 } = head.torn;
      // Sealed either way (append-only: the chain continues on a fresh line, and the writer keeps working), but only
      // bytes inside a batch a key holder announced are a crash's; others are marked below (#mark) and alerted on.
      if (verdict.tornAppended) this.#o.logger.warn({ offset, bytes }, 'audit: sealing a last line without its newline that no writer was writing: not a crash');
      else this.#o.logger.warn({ offset, bytes }, 'audit: sealing a torn last line left by a crash');
      if (head.torn.needsNewline) this.#out.raw('\n');
      this.#chain(canonicalJson({ event_type: TORN_EVENT, timestamp: iso(now), torn: { offset, bytes, sha256 } }), now);
      this.#sinceCheckpoint++;
    }
    if (verdict.reason !== undefined) this.#mark(verdict, head, now);
    if ((head.torn || verdict.reason !== undefined) && !reopened) this.#checkpoint(now);
  }

  /**
   * Judges the head on disk against the newest head a key holder vouched for: the head note's, or this process's own
   * when newer (a note replaced by an older copy) or when there is no valid note. See headnote.ts.
   *
   * `torn`: bytes follow the head on disk after its last newline. A key holder notes each batch (pending) before
   * writing its bytes, so they are a crash's only when the chain ends inside a batch so announced (`interrupted`). When
   * it ends exactly at the vouched head — a settled note, a pending one whose batch is on disk whole, this process's
   * own last write — nobody holding the key was writing them: `appended` (the seal still closes them off).
   */
  async #judge(disk: HeadPoint, torn = false): Promise<Verdict> {
    const read: NoteRead = this.#note.read();
    let from: HeadPoint | undefined;
    let to: HeadPoint | undefined;
    if (read.status === 'valid') ({ from, to } = read.note);
    // Our own memory wins unless the note is ahead of it (another writer wrote since): at an equal seq it is the exact
    // settled head, where a pending note would accept any prefix of its batch (a slot erased or replayed to make the
    // pending one the newest must not widen what this writer accepts).
    if (this.#known && (!to || this.#known.seq >= to.seq)) from = to = this.#known;
    if (!from || !to) {
      if (read.status === 'invalid') return { reason: 'note_invalid' };
      return disk.seq > 0 ? { reason: 'no_note' } : {};
    }
    const verdict = await this.#compare(from, to, disk);
    if (verdict.reason === undefined && read.status === 'invalid') return { reason: 'note_invalid', noted: to };
    if (verdict.reason === undefined && torn) return { reason: 'appended', noted: to, tornAppended: true };
    return verdict;
  }

  /**
   * `from`..`to`: a pending note (a batch was being written: any prefix of it may be on disk) or a settled one
   * (from = to: the disk must end exactly there). Beyond `to`: appended by someone without the key. Below: cut back.
   */
  async #compare(from: HeadPoint, to: HeadPoint, disk: HeadPoint): Promise<Verdict> {
    if (disk.seq === to.seq && disk.hash === to.hash) return {};
    const find = (seq: number): Promise<string | undefined> => (seq === disk.seq ? Promise.resolve(disk.hash) : findRecordHash(this.#o.dir, this.#o.cfg.file, seq));
    if (disk.seq > to.seq) return { reason: (await find(to.seq)) === to.hash ? 'appended' : 'rewritten', noted: to };
    // A pending note: the batch it announced was cut short (a crash). Adopted, and marked: its records after `from`
    // are vouched for only as a chain (a slot erased or copied back while no writer ran would look the same), and
    // the rest of the batch was lost.
    if (from.seq < to.seq && disk.seq >= from.seq && (await find(from.seq)) === from.hash) return { reason: 'interrupted', noted: to };
    return { reason: disk.seq < from.seq ? 'rolled_back' : 'rewritten', noted: to, skipTo: to.seq };
  }

  /** Chains the audit.unvouched marker and raises the alert (log line; the checkpoint that follows signs the marker). */
  #mark(v: Verdict, head: { seq: number; hash: string }, now: number): void {
    const reason = v.reason as UnvouchedReason;
    const unvouched: Record<string, unknown> = { reason, found_seq: head.seq, found_hash: head.hash };
    if (v.noted) {
      unvouched['noted_seq'] = v.noted.seq;
      unvouched['noted_hash'] = v.noted.hash;
    }
    this.#chain(canonicalJson({ event_type: UNVOUCHED_EVENT, timestamp: iso(now), unvouched }), now);
    this.#sinceCheckpoint++;
    const where = { found_seq: head.seq, ...(v.noted ? { noted_seq: v.noted.seq } : {}), note: this.#note.path };
    if (reason === 'interrupted') {
      this.#o.logger.warn({ alert: 'audit_batch_interrupted', ...where }, 'audit: the last batch was interrupted (a crash): its records after the head found were lost; marked audit.unvouched (interrupted)');
      return;
    }
    if (reason === 'no_note') {
      // A first start after an upgrade or a key change, or the note was deleted: nothing can tell which.
      this.#o.logger.warn({ alert: 'audit_head_unanchored', ...where }, 'audit: no valid head note for this log; the head on disk was adopted as it is and marked audit.unvouched (no_note)');
      return;
    }
    const message = v.tornAppended ? TORN_APPENDED_MESSAGE : UNVOUCHED_MESSAGES[reason];
    this.#o.logger.error({ alert: 'audit_unvouched', reason, ...where, ...(v.tornAppended ? { torn: true } : {}) }, `ALERT: ${message}; marked with an audit.unvouched record, not vouched for`);
  }
}

const UNVOUCHED_MESSAGES: Record<Exclude<UnvouchedReason, 'no_note' | 'interrupted'>, string> = {
  appended: 'the audit log holds records appended by a process without the signing key',
  rewritten: 'the audit log\'s newest records are not the ones its writers left: they were rewritten',
  rolled_back: 'the audit log is behind the head its writers left: it was cut back or files were deleted',
  note_invalid: 'the audit head note does not verify: it was forged or damaged',
};

const TORN_APPENDED_MESSAGE = 'the audit log ends in a line without its newline after the head its writers left, outside any batch a writer announced: not a torn write from a crash but bytes appended by a process without the signing key (sealed to continue the chain)';
