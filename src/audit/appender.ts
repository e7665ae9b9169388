/**
 * Appends batches to the active file under the cross-process lock, and owns the chain head.
 *
 * Records are chained when they are written, not when they are emitted: under the lock the appender first checks
 * the file is still the one it last wrote (size and inode); if another process appended or rotated meanwhile, it
 * re-reads the head from disk and chains on from there, so a gateway and CLI commands share one chain. Rotation,
 * checkpoints and the sealing of a torn tail happen here too, all under the lock.
 */
import { closeSync, fdatasync, fstatSync, openSync, statSync, write } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/types.js';
import type { AuditConfig } from '../config/schema/audit.js';
import { canonicalJson } from './canonical.js';
import { chainLine, GENESIS_HASH } from './chain.js';
import { CHECKPOINT_EVENT, TORN_EVENT, checkpointMessage, signCheckpoint, type CheckpointBody } from './checkpoint.js';
import { rotatedName } from './files.js';
import type { SigningKey } from './keys.js';
import { AppendLock } from './lock.js';
import { readChainHead } from './recover.js';
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
}

const iso = (ms: number): string => new Date(ms).toISOString();

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

export class ChainAppender {
  readonly path: string;
  readonly #o: AppenderOptions;
  readonly #lock: AppendLock;
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

  constructor(o: AppenderOptions) {
    this.#o = o;
    this.path = join(o.dir, o.cfg.file);
    this.#lock = new AppendLock(`${this.path}.lock`);
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
    this.#fd = openSync(this.path, 'a', 0o600);
    this.#fileBytes = -1;
    this.#lastCheckpointAt = this.#o.clock.now();
    await this.append([], { checkpoint: true });
    await this.sync();
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }

  sync(): Promise<void> {
    return new Promise((resolve, reject) => fdatasync(this.#fd, (e) => (e ? reject(e) : resolve())));
  }

  /** Chains and writes the items (in order) under the lock; `checkpoint` adds one when records are unsigned. */
  async append(items: AppendItem[], opts: { checkpoint?: boolean } = {}): Promise<void> {
    await this.#lock.acquire();
    try {
      const parts: string[] = [];
      await this.#syncHead(parts);
      // Characters of the parts not written yet (≈ bytes: lines are mostly ASCII), for the size rotation check.
      let pending = 0;
      for (const item of items) {
        const now = this.#o.clock.now();
        if (this.#rotationDue(now, pending)) {
          if (this.#sinceCheckpoint > 0) parts.push(this.#checkpoint(now));
          await this.#write(parts);
          await this.#rotate();
          pending = 0;
        }
        if (this.#sinceCheckpoint > 0 && now - this.#lastCheckpointAt >= this.#o.cfg.checkpoint.every_seconds * 1000) parts.push(this.#checkpoint(now));
        item.line = this.#chain(item.text, now);
        parts.push(item.line);
        pending += item.line.length + 1;
        this.#sinceCheckpoint++;
        if (this.#sinceCheckpoint >= this.#o.cfg.checkpoint.every_records) parts.push(this.#checkpoint(now));
      }
      if (opts.checkpoint && this.#sinceCheckpoint > 0) parts.push(this.#checkpoint(this.#o.clock.now()));
      await this.#write(parts);
    } finally {
      this.#lock.release();
    }
  }

  #chain(text: string, now: number): string {
    const seq = ++this.#seq;
    const { line, hash } = chainLine(text, seq, this.#prev);
    this.#prev = hash;
    if (this.#fileFirstSeq === undefined) {
      this.#fileFirstSeq = seq;
      this.#fileStartedAt = now;
    }
    return line;
  }

  #checkpoint(now: number): string {
    const timestamp = iso(now);
    const seq = this.#seq + 1;
    const { keyId, privateKey } = this.#o.key;
    const msg = checkpointMessage(seq, this.#prev, timestamp, this.#checkpointFrom, keyId);
    const checkpoint: CheckpointBody = { alg: 'Ed25519', key_id: keyId, from_seq: this.#checkpointFrom, every_records: this.#o.cfg.checkpoint.every_records, signature: signCheckpoint(privateKey, msg) };
    const line = this.#chain(canonicalJson({ checkpoint, event_type: CHECKPOINT_EVENT, timestamp }), now);
    this.#sinceCheckpoint = 0;
    this.#checkpointFrom = seq + 1;
    this.#lastCheckpointAt = now;
    return line;
  }

  async #write(parts: string[]): Promise<void> {
    if (parts.length === 0) return;
    const buf = Buffer.from(parts.join('\n') + '\n');
    parts.length = 0;
    await writeAll(this.#fd, buf, this.#o.chunk);
    // Counted only once written: after a failed write the size differs and the next append re-reads the head.
    this.#fileBytes += buf.length;
  }

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
    this.#fd = openSync(this.path, 'a', 0o600);
    await syncDir(this.#o.dir);
    this.#fileBytes = 0;
    this.#fileFirstSeq = undefined;
    this.#o.onRotated(target);
  }

  /**
   * Makes sure the head is the file's: re-reads it when another process appended or rotated since our last write,
   * or when a write of ours failed. A torn tail found then is sealed first (its marker and a checkpoint go into parts).
   */
  async #syncHead(parts: string[]): Promise<void> {
    let pathIno: number | undefined;
    try {
      pathIno = statSync(this.path).ino;
    } catch {
      pathIno = undefined;
    }
    const st = fstatSync(this.#fd);
    if (pathIno !== st.ino) {
      this.close();
      this.#fd = openSync(this.path, 'a', 0o600);
    } else if (st.size === this.#fileBytes) return;
    const head = await readChainHead(this.#o.dir, this.#o.cfg.file);
    const reopened = this.#fileBytes === -1;
    this.#seq = head.seq;
    this.#prev = head.hash;
    this.#sinceCheckpoint = head.seq - head.lastCheckpointSeq;
    this.#checkpointFrom = head.lastCheckpointSeq + 1;
    this.#fileBytes = head.activeSize;
    this.#fileFirstSeq = head.activeFirstSeq;
    this.#fileStartedAt = head.activeStartedAt ?? this.#o.clock.now();
    if (!head.torn) return;
    const now = this.#o.clock.now();
    const { offset, bytes, sha256 } = head.torn;
    this.#o.logger.warn({ offset, bytes }, 'audit: sealing a torn last line left by a crash');
    if (head.torn.needsNewline) parts.push('');
    parts.push(this.#chain(canonicalJson({ event_type: TORN_EVENT, timestamp: iso(now), torn: { offset, bytes, sha256 } }), now));
    this.#sinceCheckpoint++;
    if (!reopened) parts.push(this.#checkpoint(now));
  }
}
