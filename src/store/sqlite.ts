import Database from 'better-sqlite3';
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { PutOptions, StateStore, StoreChange, StoreEntry } from './types.js';

/**
 * The file holds API key hashes, approval records and wrapped keys, and store.path may lie in a directory others can
 * list: it is created 0600 and an existing one tightened. SQLite gives -wal and -shm the database file's mode.
 */
function ownerOnly(path: string): void {
  closeSync(openSync(path, 'a', 0o600));
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      const mode = statSync(f).mode & 0o777;
      if ((mode & 0o077) !== 0) chmodSync(f, mode & 0o700);
    } catch (e) {
      // A missing -wal/-shm is created from the database's mode; a file we do not own is left to its owner's process.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
    }
  }
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
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        if (!opts.readonly) ownerOnly(path);
      }
      this.#db = new Database(path, { readonly: opts.readonly ?? false, timeout: 5000 });
      this.#db.pragma('journal_mode = WAL');
      // FULL: a commit is on disk before it returns. With NORMAL (WAL) a power cut may roll back the last commits —
      // a revocation, a denied or consumed single-use approval, a revoked API key — and bring the credential back.
      // Nothing writes per request (usage is flushed in batches), so the fsync per commit is rare.
      this.#db.pragma('synchronous = FULL');
      this.#db.exec(`
        CREATE TABLE IF NOT EXISTS kv (
          ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT, updated_at INTEGER NOT NULL,
          expires_at INTEGER, seq INTEGER NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS kv_seq ON kv (ns, seq);
        CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT OR IGNORE INTO meta (name, value) VALUES ('seq', 0);`);
      const level = this.#db.pragma('synchronous', { simple: true }) as number;
      this.durability = { journal: String(this.#db.pragma('journal_mode', { simple: true })), synchronous: ['off', 'normal', 'full', 'extra'][level] ?? String(level) };
    } catch (cause) {
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
