import Database from 'better-sqlite3';
import { chmodSync, closeSync, openSync, statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { prepareTrustedDir } from './state-dir.js';
import type { PutOptions, StateStore, StoreChange, StoreEntry } from './types.js';

/**
 * The file holds API key hashes, approval records and wrapped keys. Its directory must be closed to others
 * (prepareTrustedDir: else they could plant the file, or swap it later), and an existing database, -wal or -shm must
 * be this user's: one another account made (before the first start, say) is refused, never used as it is. The
 * database is created 0600 and an existing one tightened; SQLite gives -wal and -shm the database file's mode.
 */
function ownerOnly(path: string, readonly: boolean): void {
  prepareTrustedDir(dirname(path), 'the directory of store.path');
  const uid = process.platform === 'win32' ? undefined : process.getuid?.();
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    let st: Stats;
    try {
      st = statSync(f);
    } catch (e) {
      // A missing -wal/-shm is created from the database's mode.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    if (!st.isFile()) throw new GatehouseError('GH_CONFIG_INVALID', `store.path ${f} is not a regular file`);
    if (uid !== undefined && st.uid !== uid) throw new GatehouseError('GH_CONFIG_INVALID', `store.path ${f} is owned by another user (uid ${st.uid}): the store is refused`);
    if (!readonly && (st.mode & 0o077) !== 0) chmodSync(f, st.mode & 0o700);
  }
  if (!readonly) closeSync(openSync(path, 'a', 0o600));
}

interface KvRow {
  key: string;
  value: string | null;
  updated_at: number;
  expires_at: number | null;
  seq: number;
}

/**
 * The embedded default store: one SQLite file in WAL mode, shared safely by several processes
 * (a gateway and the CLI, or several gateways on one host). Deletions leave a tombstone so the
 * change feed carries them; expired rows and old tombstones are purged on open and every few minutes.
 */
export class SqliteStore implements StateStore {
  readonly kind = 'sqlite' as const;
  readonly #db: Database.Database;
  readonly #clock: Clock;
  readonly #stmts;
  #purgeTimer: NodeJS.Timeout | undefined;
  /** The connection's journal mode and synchronous level as SQLite reports them (e.g. wal / full). */
  readonly durability: { journal: string; synchronous: string };

  constructor(path: string, opts: { clock?: Clock; readonly?: boolean } = {}) {
    this.#clock = opts.clock ?? systemClock;
    try {
      if (path !== ':memory:' && path !== '') {
        ownerOnly(path, opts.readonly === true);
      }
      this.#db = new Database(path, { readonly: opts.readonly ?? false, timeout: 5000 });
      this.#db.pragma('journal_mode = WAL');
      // FULL: a commit is on disk before it returns. With NORMAL (WAL) a power cut may roll back the last commits —
      // a revocation, a denied or consumed single-use approval, a revoked API key — and bring the credential back.
      // Nothing writes per request (usage is flushed in batches), so the fsync per commit is rare.
      this.#db.pragma('synchronous = FULL');
      // A meta row lost underneath restarts from the highest seq written, never from 0, as in PostgreSQL: a change-feed
      // watcher already past that seq would miss every change (a revocation) until the counter caught up. kv is scanned
      // only when the row is missing (an open never reads the whole table).
      this.#db.exec(`
        CREATE TABLE IF NOT EXISTS kv (
          ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT, updated_at INTEGER NOT NULL,
          expires_at INTEGER, seq INTEGER NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS kv_seq ON kv (ns, seq);
        CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO meta (name, value) SELECT 'seq', COALESCE((SELECT MAX(seq) FROM kv), 0)
          WHERE NOT EXISTS (SELECT 1 FROM meta WHERE name = 'seq');`);
      const level = this.#db.pragma('synchronous', { simple: true }) as number;
      this.durability = { journal: String(this.#db.pragma('journal_mode', { simple: true })), synchronous: ['off', 'normal', 'full', 'extra'][level] ?? String(level) };
    } catch (cause) {
      // A refused file or directory keeps its own code and message (they name the path, as for state_dir).
      if (cause instanceof GatehouseError) throw cause;
      throw new GatehouseError('GH_STORE_UNAVAILABLE', 'The SQLite state store cannot be opened.', { cause });
    }
    const db = this.#db;
    this.#stmts = {
      get: db.prepare<[string, string], KvRow>('SELECT key, value, updated_at, expires_at, seq FROM kv WHERE ns = ? AND key = ?'),
      nextSeq: db.prepare<[], { value: number }>("UPDATE meta SET value = value + 1 WHERE name = 'seq' RETURNING value"),
      upsert: db.prepare(
        'INSERT INTO kv (ns, key, value, updated_at, expires_at, seq) VALUES (?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, expires_at = excluded.expires_at, seq = excluded.seq',
      ),
      list: db.prepare<[string, number], KvRow>(
        'SELECT key, value, updated_at, expires_at, seq FROM kv WHERE ns = ? AND value IS NOT NULL AND (expires_at IS NULL OR expires_at > ?) ORDER BY key',
      ),
      changes: db.prepare<[string, number, number], KvRow>(
        'SELECT key, value, updated_at, expires_at, seq FROM kv WHERE ns = ? AND seq > ? ORDER BY seq LIMIT ?',
      ),
      head: db.prepare<[string], { s: number | null }>('SELECT MAX(seq) AS s FROM kv WHERE ns = ?'),
      purge: db.prepare('DELETE FROM kv WHERE (expires_at IS NOT NULL AND expires_at <= ?) OR (value IS NULL AND updated_at <= ?)'),
    };
    this.#purge();
    this.#purgeTimer = setInterval(() => this.#purge(), 300_000);
    this.#purgeTimer.unref();
  }

  #purge(): void {
    const now = this.#clock.now();
    try {
      this.#stmts.purge.run(now, now - 86_400_000);
    } catch {
      // A busy or read-only database is purged next time; never fatal.
    }
  }

  #live(ns: string, key: string): KvRow | undefined {
    const row = this.#stmts.get.get(ns, key);
    if (!row || row.value === null) return undefined;
    if (row.expires_at !== null && row.expires_at <= this.#clock.now()) return undefined;
    return row;
  }

  #write(ns: string, key: string, value: unknown, ttlMs: number | undefined): void {
    const now = this.#clock.now();
    const seq = (this.#stmts.nextSeq.get() as { value: number }).value;
    const json = value === undefined ? null : JSON.stringify(value);
    this.#stmts.upsert.run(ns, key, json, now, ttlMs === undefined || json === null ? null : now + ttlMs, seq);
  }

  #run<T>(fn: () => T): T {
    return this.#read(() => this.#db.transaction(fn).immediate());
  }

  /** A corrupt, locked or vanished file is GH_STORE_UNAVAILABLE (503) on reads too, so callers deny with that code. */
  #read<T>(fn: () => T): T {
    try {
      return fn();
    } catch (cause) {
      if (cause instanceof GatehouseError || cause instanceof TypeError) throw cause;
      throw new GatehouseError('GH_STORE_UNAVAILABLE', undefined, { cause });
    }
  }

  async get<T>(ns: string, key: string): Promise<T | undefined> {
    const row = this.#read(() => this.#live(ns, key));
    return row ? (JSON.parse(row.value as string) as T) : undefined;
  }
  async put(ns: string, key: string, value: unknown, opts?: PutOptions): Promise<void> {
    this.#run(() => this.#write(ns, key, value, opts?.ttlMs));
  }
  async putMany(ns: string, entries: ReadonlyArray<{ key: string; value: unknown; ttlMs?: number }>): Promise<void> {
    if (entries.length === 0) return;
    this.#run(() => {
      for (const e of entries) this.#write(ns, e.key, e.value, e.ttlMs);
    });
  }
  async putIfAbsent(ns: string, key: string, value: unknown, opts?: PutOptions): Promise<boolean> {
    return this.#run(() => {
      if (this.#live(ns, key)) return false;
      this.#write(ns, key, value, opts?.ttlMs);
      return true;
    });
  }
  async update<T>(ns: string, key: string, fn: (current: T | undefined) => T | undefined, opts?: PutOptions): Promise<T | undefined> {
    return this.#run(() => {
      const row = this.#live(ns, key);
      const next = fn(row ? (JSON.parse(row.value as string) as T) : undefined);
      const keepTtl = row?.expires_at != null ? row.expires_at - this.#clock.now() : undefined;
      this.#write(ns, key, next, opts?.ttlMs ?? keepTtl);
      return next;
    });
  }
  async delete(ns: string, key: string): Promise<boolean> {
    return this.#run(() => {
      if (!this.#live(ns, key)) return false;
      this.#write(ns, key, undefined, undefined);
      return true;
    });
  }
  async list<T>(ns: string, opts: { prefix?: string; limit?: number } = {}): Promise<StoreEntry<T>[]> {
    return this.#read(() => {
      const out: StoreEntry<T>[] = [];
      for (const row of this.#stmts.list.iterate(ns, this.#clock.now())) {
        if (opts.prefix !== undefined && !row.key.startsWith(opts.prefix)) continue;
        out.push({ key: row.key, value: JSON.parse(row.value as string) as T, updatedAt: row.updated_at, expiresAt: row.expires_at ?? undefined });
        if (opts.limit !== undefined && out.length >= opts.limit) break;
      }
      return out;
    });
  }
  async changes<T>(ns: string, sinceSeq: number, limit = 1000): Promise<StoreChange<T>[]> {
    return this.#read(() => this.#stmts.changes.all(ns, sinceSeq, limit)).map((r) => ({
      key: r.key,
      value: r.value === null ? undefined : (JSON.parse(r.value) as T),
      seq: r.seq,
    }));
  }
  async headSeq(ns: string): Promise<number> {
    return this.#read(() => this.#stmts.head.get(ns)?.s ?? 0);
  }
  /** Reads the store's own meta row: `SELECT 1` never touches the file, so a store whose schema was dropped or replaced underneath passed. */
  async ping(): Promise<void> {
    try {
      const row = this.#db.prepare("SELECT value FROM meta WHERE name = 'seq'").get() as { value: unknown } | undefined;
      if (typeof row?.value !== 'number') throw new Error('the store meta row is missing');
    } catch (cause) {
      throw new GatehouseError('GH_STORE_UNAVAILABLE', undefined, { cause });
    }
  }
  async close(): Promise<void> {
    if (this.#purgeTimer) clearInterval(this.#purgeTimer);
    this.#purgeTimer = undefined;
    if (this.#db.open) this.#db.close();
  }
}
