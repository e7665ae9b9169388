/**
 * `gatehouse backup verify` and `gatehouse backup restore`. Both decrypt and unpack the whole backup into a private
 * staging directory first, then check it: every segment's tag (crypto/stream.ts), every file's SHA-256 against the end
 * record, `PRAGMA integrity_check` on the store, and the audit hash chain (with checkpoint signatures when the backup
 * holds the audit public key). Restore swaps the staged state into place only when every check passed; state that
 * was there is moved aside, never deleted.
 */
import { closeSync, constants, createReadStream, existsSync, fchmodSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Database from 'better-sqlite3';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { randomId } from '../core/ids.js';
import { verifyAuditLog, type VerifyReport } from '../audit/verify.js';
import { createDecryptStream, type StreamHeader } from '../crypto/stream.js';
import type { MessageKey } from '../crypto/message.js';
import { syncDir, type BackupLayout } from './create.js';
import { ArchiveReader, BACKUP_AAD, invalid, isInside, backupKeyId, STORE_ENTRY, type BackupRoot, type EndRecord, type FileRecord, type HeadRecord } from './format.js';

export interface BackupCheck {
  head: HeadRecord;
  end: EndRecord;
  /** `PRAGMA integrity_check` of the store snapshot; undefined when the backup holds no store. */
  store?: 'ok';
  /** The audit chain's verification; undefined when the backup holds no audit file. */
  audit?: VerifyReport;
}

export interface RestoreOptions extends BackupLayout {
  input: string;
  key: Buffer;
  /** Move state already at a target aside instead of refusing. */
  force?: boolean;
  clock?: Clock;
  /** store.kind where the backup is restored, for the refusal of a SQLite store with nowhere to go. Default memory. */
  storeKind?: 'sqlite' | 'memory' | 'postgres';
}

export interface RestoreReport extends BackupCheck {
  /** Where each root went. */
  restored: { root: BackupRoot; path: string }[];
  /** State that was there before, moved aside. */
  movedAside: string[];
}



/** State files that are public by nature (certificates, CRLs, public keys): the only ones group and others may read. */
const PUBLIC_STATE_FILE = /\.(?:crt|cer|crl|pub)$/;

/**
 * The mode a restored file gets, whatever the backup says (its record is authenticated, but a backup made from a
 * state directory someone loosened, or by an older version that recorded the store's umask mode, would bring it back
 * that way): never execute, never group or other write. The store and every state file that may hold a secret are
 * owner-only (0600 at most); certificates and public keys keep read access; audit files keep their group and other
 * read (a log shipper's group), as recorded.
 */
export function restoredMode(f: Pick<FileRecord, 'root' | 'path' | 'mode'>): number {
  if (f.root === 'store') return 0o600;
  if (f.root === 'audit' || PUBLIC_STATE_FILE.test(f.path)) return f.mode & 0o644;
  return f.mode & 0o600;
}

/** Maps a root and entry path to where its bytes go. */
type Placement = (root: BackupRoot, path: string) => string;

/** Writes each file of the archive where `place` says, creating directories 0700; files stay 0600 until checked. */
class StagingSink {
  #fd: number | undefined;
  readonly #place: Placement;
  readonly written: { file: FileRecord; path: string }[] = [];
  head: HeadRecord | undefined;

  constructor(place: Placement) {
    this.#place = place;
  }
  headRecord(h: HeadRecord): void {
    this.head = h;
  }
  begin(f: FileRecord): void {
    const path = this.#place(f.root, f.path);
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      this.#fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o600);
    } catch (e) {
      throw invalid(`${f.root}/${f.path} cannot be unpacked (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    this.written.push({ file: f, path });
  }
  data(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) at += writeSync(this.#fd as number, chunk, at, chunk.length - at);
  }
  end(f: FileRecord): void {
    const fd = this.#fd as number;
    this.#fd = undefined;
    try {
      fchmodSync(fd, restoredMode(f));
    } finally {
      closeSync(fd);
    }
  }
  abort(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/** Decrypts and unpacks `input` with `key`; throws GH_BACKUP_KEY_MISMATCH or GH_BACKUP_INVALID. */
async function unpack(input: string, key: Buffer, place: Placement): Promise<{ head: HeadRecord; end: EndRecord; sink: StagingSink }> {
  const sink = new StagingSink(place);
  const reader = new ArchiveReader({ head: (h) => sink.headRecord(h), begin: (f) => sink.begin(f), data: (c) => sink.data(c), end: (f) => sink.end(f) });
  const keyId = backupKeyId(key);
  const resolve = (h: StreamHeader): MessageKey => {
    if (h.keyId !== keyId) throw new GatehouseError('GH_BACKUP_KEY_MISMATCH', `The backup was made with key ${h.keyId.slice(0, 40)}; the key given is ${keyId}.`);
    return { id: keyId, algorithm: h.algorithm, material: key };
  };
  try {
    await pipeline(
      createReadStream(input),
      createDecryptStream(resolve, { aad: BACKUP_AAD }),
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          try {
            reader.push(chunk);
            cb();
          } catch (e) {
            cb(e as Error);
          }
        },
      }),
    );
  } catch (e) {
    sink.abort();
    const code = (e as GatehouseError).code;
    if (code === 'GH_BACKUP_INVALID' || code === 'GH_BACKUP_KEY_MISMATCH') throw e;
    if (code === 'GH_CRYPTO_TRUNCATED') throw invalid('the backup file is truncated');
    if (code === 'GH_CRYPTO_DECRYPT_FAILED') throw invalid('the backup file was modified, damaged or cut short (a segment fails its authentication tag)');
    if (code === 'GH_CRYPTO_MALFORMED') throw invalid('not a Gatehouse backup file');
    const errno = (e as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT' || errno === 'EACCES' || errno === 'EISDIR') throw new GatehouseError('GH_USAGE', `the backup file cannot be read (${errno})`);
    throw e;
  }
  const end = reader.finish();
  return { head: reader.head as HeadRecord, end, sink };
}

/** The checks run on staged state: the store's integrity and the audit chain. */
async function checkStaged(head: HeadRecord, end: EndRecord, store: string | undefined, auditDir: string | undefined, stateDir: string): Promise<BackupCheck> {
  const check: BackupCheck = { head, end };
  if (store !== undefined) {
    const { default: Sqlite } = await import('better-sqlite3');
    let db: Database.Database;
    try {
      db = new Sqlite(store, { readonly: true, fileMustExist: true });
    } catch {
      throw invalid('the store in the backup cannot be opened');
    }
    try {
      const rows = db.pragma('integrity_check') as { integrity_check: string }[];
      if (rows.length !== 1 || rows[0]?.integrity_check !== 'ok') throw invalid('the store in the backup fails its integrity check');
      check.store = 'ok';
    } catch (e) {
      if ((e as GatehouseError).code === 'GH_BACKUP_INVALID') throw e;
      throw invalid('the store in the backup is not a SQLite database');
    } finally {
      db.close();
    }
  }
  if (auditDir !== undefined) {
    const pub = join(stateDir, 'audit-signing.pub');
    const report = await verifyAuditLog(auditDir, { file: head.source.audit_file, ...(existsSync(pub) ? { publicKey: readFileSync(pub, 'utf8') } : {}) });
    if (!report.ok) {
      const first = report.breaks[0];
      throw invalid(`the audit trail in the backup does not verify${first ? `: ${first.kind} at ${first.file}:${first.line}` : ''}`);
    }
    check.audit = report;
  }
  return check;
}

/** Decrypts, unpacks into a private temporary directory and checks a backup; nothing is restored. */
export async function verifyBackup(opts: { input: string; key: Buffer }): Promise<BackupCheck> {
  const scratch = mkdtempSync(join(tmpdir(), 'gatehouse-verify-'));
  try {
    const place: Placement = (root, path) => (root === 'store' ? join(scratch, STORE_ENTRY) : join(scratch, root, path));
    const { head, end } = await unpack(opts.input, opts.key, place);
    const hasStore = end.entries.some((e) => e.root === 'store');
    const hasAudit = end.entries.some((e) => e.root === 'audit');
    return await checkStaged(head, end, hasStore ? join(scratch, STORE_ENTRY) : undefined, hasAudit ? join(scratch, 'audit') : undefined, join(scratch, 'state'));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Process ids (other than this one) holding any of `paths` open: a running gateway holds its store and audit file. */
export function processesHolding(paths: string[]): number[] {
  if (process.platform !== 'linux') return [];
  const wanted = new Set<string>();
  for (const p of paths) {
    try {
      wanted.add(realpathSync(p));
    } catch {
      // not there: nobody holds it
    }
  }
  if (wanted.size === 0) return [];
  const found: number[] = [];
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d{1,10}$/.test(n));
  } catch {
    return [];
  }
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // another user's process, or gone
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (wanted.has(target)) {
        found.push(Number(pid));
        break;
      }
    }
  }
  return found;
}

const hasContent = (path: string): boolean => {
  try {
    const st = lstatSync(path);
    return !st.isDirectory() || readdirSync(path).length > 0;
  } catch {
    return false;
  }
};

/** Restores a backup into the layout the configuration names. */
export async function restoreBackup(opts: RestoreOptions): Promise<RestoreReport> {
  const clock = opts.clock ?? systemClock;
  const auditOutside = !isInside(opts.auditDir, opts.stateDir);
  const storeOutside = opts.storePath !== undefined && !isInside(opts.storePath, opts.stateDir);
  const targets = [opts.stateDir, ...(auditOutside ? [opts.auditDir] : []), ...(storeOutside && opts.storePath ? [opts.storePath] : [])];

  const busy = processesHolding([...(opts.storePath ? [opts.storePath] : []), join(opts.auditDir, opts.auditFile)]);
  if (busy.length > 0) {
    throw new GatehouseError('GH_BACKUP_TARGET_BUSY', `Process ${busy.slice(0, 5).join(', ')} holds the state store or the audit log open: stop every gateway and command using this state first.`);
  }
  for (const t of targets) {
    if (lstatSync(t, { throwIfNoEntry: false })?.isSymbolicLink()) {
      throw new GatehouseError('GH_USAGE', `${t} is a symbolic link: restore into the directory it points to (set GATEHOUSE_HOME or state_dir to it)`);
    }
    if (hasContent(t) && !opts.force) {
      throw new GatehouseError('GH_BACKUP_TARGET_EXISTS', `${t} already holds state: use --force to move it aside (it is kept, renamed), or restore elsewhere with GATEHOUSE_HOME`);
    }
  }

  const id = randomId(6);
  const staging = (target: string) => `${target}.restore-${id}`;
  const stateStage = staging(opts.stateDir);
  const auditStage = auditOutside ? staging(opts.auditDir) : join(stateStage, relative(opts.stateDir, opts.auditDir));
  const storeStage = opts.storePath === undefined ? undefined : storeOutside ? staging(opts.storePath) : join(stateStage, relative(opts.stateDir, opts.storePath));
  const staged = [stateStage, ...(auditOutside ? [auditStage] : []), ...(storeOutside && storeStage ? [storeStage] : [])];

  mkdirSync(dirname(opts.stateDir), { recursive: true, mode: 0o700 });
  mkdirSync(stateStage, { mode: 0o700 });
  try {
    const place: Placement = (root, path) => {
      if (root === 'store') {
        if (!storeStage) {
          // Never into PostgreSQL: a SQLite snapshot is no pg_dump, and a restore that dropped it silently would pretend.
          throw invalid(opts.storeKind === 'postgres'
            ? 'the backup holds a SQLite store but store.kind is postgres here: it cannot be restored into PostgreSQL (restore with store.kind sqlite)'
            : `the backup holds a SQLite store but store.kind is ${opts.storeKind ?? 'memory'} here`);
        }
        return storeStage;
      }
      return join(root === 'audit' ? auditStage : stateStage, path);
    };
    const { head, end } = await unpack(opts.input, opts.key, place);
    const hasAudit = end.entries.some((e) => e.root === 'audit');
    const hasStore = end.entries.some((e) => e.root === 'store');
    const check = await checkStaged(head, end, hasStore ? storeStage : undefined, hasAudit ? auditStage : undefined, stateStage);

    // Every check passed: move what is there aside, then the staged state into place. Each rename is recorded, so a
    // failure half-way (a full disk, a target on another file system) puts everything back as it was.
    const stamp = new Date(clock.now()).toISOString().replace(/[:.]/g, '-');
    const done: [from: string, to: string][] = [];
    const move = (from: string, to: string): void => {
      renameSync(from, to);
      done.push([from, to]);
    };
    const aside = (path: string): void => {
      if (lstatSync(path, { throwIfNoEntry: false }) !== undefined) move(path, `${path}.pre-restore-${stamp}`);
    };
    try {
      for (const t of targets) {
        if (hasContent(t)) aside(t);
        else if (lstatSync(t, { throwIfNoEntry: false })?.isDirectory()) rmdirSync(t);
      }
      // A WAL or shared-memory file left beside a store restored outside the state directory would be replayed into it.
      if (storeOutside && opts.storePath) for (const suffix of ['-wal', '-shm', '-journal']) aside(opts.storePath + suffix);
      move(stateStage, opts.stateDir);
      if (auditOutside && hasAudit) move(auditStage, opts.auditDir);
      if (storeOutside && storeStage && hasStore) move(storeStage, opts.storePath as string);
    } catch (e) {
      for (const [from, to] of done.reverse()) {
        try {
          renameSync(to, from);
        } catch {
          // Best effort: what could not be moved back is named by its .pre-restore- suffix.
        }
      }
      throw new GatehouseError('GH_BACKUP_FAILED', `The restore could not move the state into place (${(e as NodeJS.ErrnoException).code ?? 'error'}); what was there is back in place.`, { cause: e });
    }
    const movedAside = done.filter(([from]) => !staged.includes(from)).map(([, to]) => to);
    for (const t of targets) syncDir(dirname(t));
    const restored: { root: BackupRoot; path: string }[] = [{ root: 'state', path: opts.stateDir }];
    if (hasAudit) restored.push({ root: 'audit', path: opts.auditDir });
    if (hasStore && opts.storePath) restored.push({ root: 'store', path: opts.storePath });
    return { ...check, restored, movedAside };
  } finally {
    // With the staged store's -wal and -shm (empty: the integrity check only read it), when it was staged on its own.
    for (const s of staged) for (const p of [s, `${s}-wal`, `${s}-shm`, `${s}-journal`]) rmSync(p, { recursive: true, force: true });
  }
}
