/**
 * `gatehouse backup create`: one encrypted, authenticated file holding what a gateway needs to come back after a
 * disk is lost (seed 003 §5 "Configure regular database backups", §10 "Plan for backup and disaster recovery";
 * seed 004 "Implement backup and recovery procedures"): the state directory (token and audit keys, the dev CA, the
 * users file …), a consistent snapshot of the SQLite store taken with SQLite's online backup while gateways keep
 * writing, and the audit trail up to its last complete line.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, createWriteStream, fstatSync, fsyncSync, lstatSync, mkdtempSync, openSync, readdirSync, readSync, renameSync, rmSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Database from 'better-sqlite3';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { randomId } from '../core/ids.js';
import { gatehouseVersion } from '../core/version.js';
import { headNotePath } from '../audit/index.js';
import { createEncryptStream } from '../crypto/stream.js';
import {
  ARCHIVE_MAGIC, BACKUP_AAD, backupKeyId, checkEntryPath, isInside, encodeRecord, FORMAT, FORMAT_VERSION, MAX_FILES, STORE_ENTRY,
  type BackupRoot, type EndEntry, type FileRecord, type HeadRecord,
} from './format.js';

/** Where a gateway's state lives (absolute paths), as its configuration says. */
export interface BackupLayout {
  stateDir: string;
  auditDir: string;
  /** The active audit file's name (audit.file). */
  auditFile: string;
  /** The SQLite store; absent for the memory store. */
  storePath?: string | undefined;
}

export interface CreateBackupOptions extends BackupLayout {
  /** The backup file to write (atomically: a temporary file renamed into place). */
  out: string;
  /** 32-byte backup key. */
  key: Buffer;
  /** Replace an existing `out`. */
  force?: boolean;
  clock?: Clock;
}

export interface BackupReport {
  path: string;
  created_at: string;
  files: number;
  /** Bytes of file content inside. */
  bytes: number;
  /** Size of the backup file and its SHA-256, to check copies of it. */
  size: number;
  sha256: string;
  key_id: string;
  entries: EndEntry[];
  /** What was left out, and why (symbolic links, sockets, names that are not plain). */
  skipped: string[];
}

const READ_CHUNK = 64 * 1024;
const MAX_WALK_DEPTH = 16;
const failed = (detail: string, cause?: unknown) =>
  new GatehouseError('GH_BACKUP_FAILED', `The backup could not be made: ${detail}.`, { detail, ...(cause ? { cause } : {}) });

/** Locks, lock requests and temporary files: state of a moment, never restored. */
const TRANSIENT = /(?:\.lock|\.want|\.tmp)$|^\.[^/]*\.tmp/;


export interface Planned {
  record: FileRecord;
  abs: string;
  /** The file the listing saw (lstat): the one opened must be it, not what a swapped parent directory leads to. */
  dev?: number;
  ino?: number;
  /** Read only this much (the audit file's last complete line); default: the size at open. */
  cutAtLastLine?: boolean;
}

/** Regular files under `dir` (recursive), skipping what `skip` names; symlinks and special files are reported, not followed. */
function walk(dir: string, root: BackupRoot, skip: (abs: string) => boolean, skipped: string[], out: Planned[], depth = 0, base = dir): void {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && depth === 0) return;
    throw failed(`cannot list ${root}/${relative(base, dir)}`, e);
  }
  for (const name of names) {
    const abs = join(dir, name);
    const rel = relative(base, abs).split(sep).join('/');
    if (skip(abs) || TRANSIENT.test(name)) continue;
    let st: Stats;
    try {
      st = lstatSync(abs);
    } catch {
      continue; // removed since the listing
    }
    if (st.isDirectory()) {
      if (depth + 1 >= MAX_WALK_DEPTH) skipped.push(`${root}/${rel}: deeper than ${MAX_WALK_DEPTH} levels`);
      else walk(abs, root, skip, skipped, out, depth + 1, base);
      continue;
    }
    if (!st.isFile()) {
      skipped.push(`${root}/${rel}: ${st.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}`);
      continue;
    }
    try {
      checkEntryPath(rel);
    } catch {
      skipped.push(`${root}/${rel.slice(0, 200)}: not a plain file name`);
      continue;
    }
    out.push({ record: { root, path: rel, mode: st.mode & 0o777, size: 0 }, abs, dev: st.dev, ino: st.ino });
  }
}

/** The offset just past the last line break before `size`, or 0. */
function lastLineEnd(fd: number, size: number): number {
  const buf = Buffer.allocUnsafe(READ_CHUNK);
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - READ_CHUNK);
    const n = readSync(fd, buf, 0, end - start, start);
    const at = buf.subarray(0, n).lastIndexOf(0x0a);
    if (at !== -1) return start + at + 1;
    end = start;
  }
  return 0;
}

/** One file's record and content, read through an open descriptor: a file replaced meanwhile is read as it was. */
/** @internal exported for tests */
export async function* fileRecords(p: Planned, done: EndEntry[]): AsyncGenerator<Buffer> {
  let fd: number;
  try {
    // O_NOFOLLOW: a file swapped for a symbolic link since the listing's lstat is not followed out of the state directory.
    fd = openSync(p.abs, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // removed since the listing (audit retention, a rotation)
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw failed(`${p.record.root}/${p.record.path} became a symbolic link while the backup ran`);
    throw failed(`cannot read ${p.record.root}/${p.record.path}`, e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw failed(`${p.record.root}/${p.record.path} is no longer a regular file`);
    // O_NOFOLLOW covers the last name only: a parent directory swapped for a link leads elsewhere, to another file.
    if (p.ino !== undefined && (st.ino !== p.ino || st.dev !== p.dev)) throw failed(`${p.record.root}/${p.record.path} was replaced while the backup ran; run it again`);
    const size = p.cutAtLastLine ? lastLineEnd(fd, st.size) : st.size;
    // The store is recorded 0600 whatever the snapshot file got from the umask: it holds API key hashes, sealed
    // secrets and approvals, and restore applies the mode recorded here.
    const record: FileRecord = { ...p.record, mode: p.record.root === 'store' ? 0o600 : st.mode & 0o777, size };
    yield encodeRecord('F', record);
    const hash = createHash('sha256');
    let at = 0;
    while (at < size) {
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - at));
      const n = readSync(fd, buf, 0, buf.length, at);
      if (n === 0) throw failed(`${p.record.root}/${p.record.path} shrank while it was read`);
      const piece = n === buf.length ? buf : buf.subarray(0, n);
      hash.update(piece);
      at += n;
      yield piece;
    }
    done.push({ ...record, sha256: hash.digest('hex') });
  } finally {
    closeSync(fd);
  }
}

/** SQLite's online backup into a private directory: a consistent copy while other connections write. */
async function snapshotStore(storePath: string, into: string): Promise<string> {
  const target = join(into, STORE_ENTRY);
  // Loaded here: the native module is needed only when a store is copied (doctor reads this module's marker too).
  const { default: Sqlite } = await import('better-sqlite3');
  let db: Database.Database;
  try {
    db = new Sqlite(storePath, { fileMustExist: true, timeout: 5000 });
  } catch (e) {
    throw failed('the state store cannot be opened', e);
  }
  try {
    await db.backup(target);
  } catch (e) {
    throw failed('the state store could not be copied', e);
  } finally {
    db.close();
  }
  return target;
}

/** `<state_dir>/last-backup.json`: what the last `backup create` wrote, for `gatehouse doctor` (no key material). */
export const LAST_BACKUP_FILE = 'last-backup.json';

export interface LastBackup {
  created_at: string;
  file: string;
  sha256: string;
  files: number;
  bytes: number;
  key_id: string;
}

/** Records a finished backup in the state directory (temporary file, then rename; mode 0600). */
export function recordLastBackup(stateDir: string, r: BackupReport): void {
  const marker: LastBackup = { created_at: r.created_at, file: basename(r.path), sha256: r.sha256, files: r.files, bytes: r.bytes, key_id: r.key_id };
  const tmp = join(stateDir, `.${LAST_BACKUP_FILE}.${randomId(6)}.tmp`);
  writeFileSync(tmp, JSON.stringify(marker) + '\n', { mode: 0o600, flag: 'wx' });
  renameSync(tmp, join(stateDir, LAST_BACKUP_FILE));
}

/** Writes a backup of `opts` to `opts.out`. */
export async function createBackup(opts: CreateBackupOptions): Promise<BackupReport> {
  if (opts.key.length !== 32) throw new TypeError('a backup key is 32 bytes');
  for (const [what, dir] of [['state directory', opts.stateDir], ['audit directory', opts.auditDir]] as const) {
    if (isInside(opts.out, dir)) throw new GatehouseError('GH_USAGE', `write the backup outside the ${what}: a copy of it inside would be backed up next time`);
  }
  const clock = opts.clock ?? systemClock;
  const created = new Date(clock.now()).toISOString();
  const skipped: string[] = [];
  const planned: Planned[] = [];
  const scratch = mkdtempSync(join(tmpdir(), 'gatehouse-backup-'));
  const temp = join(dirname(opts.out), `.${basename(opts.out)}.${randomId(6)}.tmp`);
  try {
    if (opts.storePath && lstatSync(opts.storePath, { throwIfNoEntry: false }) === undefined) {
      skipped.push(`store/${STORE_ENTRY}: ${opts.storePath} does not exist yet (no gateway has run on this state)`);
    } else if (opts.storePath) {
      const snap = await snapshotStore(opts.storePath, scratch);
      planned.push({ record: { root: 'store', path: STORE_ENTRY, mode: 0o600, size: 0 }, abs: snap });
    }
    const store = opts.storePath;
    const isStoreFile = (abs: string) => store !== undefined && (abs === store || abs === `${store}-wal` || abs === `${store}-shm` || abs === `${store}-journal`);
    const auditInsideState = isInside(opts.auditDir, opts.stateDir);
    // The audit head note vouches for the live log's head, which moves on after the backup's cut: restored beside the
    // log, it would report that log as cut back. Left out, the first writer after a restore marks the restored head
    // audit.unvouched (no_note), a warning (docs/audit.md § The head note).
    const headNote = headNotePath(opts.stateDir, opts.auditFile);
    walk(opts.stateDir, 'state', (abs) => isStoreFile(abs) || abs === headNote || (auditInsideState && abs === opts.auditDir), skipped, planned);
    const active = join(opts.auditDir, opts.auditFile);
    const auditPlanned: Planned[] = [];
    walk(opts.auditDir, 'audit', isStoreFile, skipped, auditPlanned);
    for (const p of auditPlanned) if (p.abs === active) p.cutAtLastLine = true;
    planned.push(...auditPlanned);
    if (planned.length > MAX_FILES) throw failed(`more than ${MAX_FILES} files to back up`);

    const head: HeadRecord = {
      format: FORMAT, version: FORMAT_VERSION, created_at: created, gatehouse_version: gatehouseVersion(),
      source: { state_dir: opts.stateDir, audit_dir: opts.auditDir, audit_file: opts.auditFile, store: opts.storePath ?? null },
    };
    const entries: EndEntry[] = [];
    async function* archive(): AsyncGenerator<Buffer> {
      yield ARCHIVE_MAGIC;
      yield encodeRecord('H', head);
      for (const p of planned) yield* fileRecords(p, entries);
      yield encodeRecord('E', { files: entries.length, bytes: entries.reduce((n, e) => n + e.size, 0), entries });
    }
    const keyId = backupKeyId(opts.key);
    const digest = createHash('sha256');
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        digest.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    let exists = false;
    try {
      lstatSync(opts.out);
      exists = true;
    } catch {
      // not there: the usual case
    }
    if (exists && !opts.force) throw new GatehouseError('GH_USAGE', `${basename(opts.out)} exists; use --force to replace it`);
    await pipeline(
      Readable.from(archive()),
      createEncryptStream({ id: keyId, algorithm: 'aes-256-gcm', material: opts.key }, { aad: BACKUP_AAD }),
      tap,
      createWriteStream(temp, { flags: 'wx', mode: 0o600 }),
    );
    const fd = openSync(temp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, opts.out);
    syncDir(dirname(opts.out));
    return {
      path: opts.out, created_at: created, files: entries.length, bytes: entries.reduce((n, e) => n + e.size, 0),
      size, sha256: digest.digest('hex'), key_id: keyId, entries, skipped,
    };
  } catch (e) {
    try {
      unlinkSync(temp);
    } catch {
      // never created
    }
    throw e;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** fsync of a directory, so a rename in it survives a crash (not possible on every platform: best effort). */
export function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Windows and some file systems cannot fsync a directory.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
