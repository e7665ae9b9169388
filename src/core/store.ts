/**
 * State behind one small interface (ARCHITECTURE.md: store/). Namespaced keys, JSON values, optional TTL,
 * a change feed so several gateways sharing one store see revocations within a poll interval.
 * SQLite is the embedded default; PostgreSQL serves several gateway hosts; memory is for tests and single-process use.
 */
export interface StoreEntry<T = unknown> {
  key: string;
  value: T;
  updatedAt: number;
  expiresAt: number | undefined;
}

export interface StoreChange<T = unknown> {
  key: string;
  /** undefined when the key was deleted. */
  value: T | undefined;
  seq: number;
}

export interface PutOptions {
  /** Time to live in ms; the entry disappears after it. */
  ttlMs?: number;
}

export interface StateStore {
  readonly kind: 'memory' | 'sqlite' | 'postgres';
  get<T = unknown>(ns: string, key: string): Promise<T | undefined>;
  put(ns: string, key: string, value: unknown, opts?: PutOptions): Promise<void>;
  /** Writes several keys in one transaction (one commit, one fsync for SQLite). */
  putMany(ns: string, entries: ReadonlyArray<{ key: string; value: unknown; ttlMs?: number }>): Promise<void>;
  /** Writes only when the key is absent (or expired); true when it wrote. */
  putIfAbsent(ns: string, key: string, value: unknown, opts?: PutOptions): Promise<boolean>;
  /**
   * Atomic read-modify-write: `fn` gets the current value and returns the new one (undefined deletes).
   * Atomic across processes for SQLite (BEGIN IMMEDIATE) and PostgreSQL (the sequence row's lock). `fn` must be
   * synchronous and free of I/O.
   */
  update<T = unknown>(ns: string, key: string, fn: (current: T | undefined) => T | undefined, opts?: PutOptions): Promise<T | undefined>;
  delete(ns: string, key: string): Promise<boolean>;
  list<T = unknown>(ns: string, opts?: { prefix?: string; limit?: number }): Promise<StoreEntry<T>[]>;
  /** Changes in `ns` with a sequence number above `sinceSeq`, oldest first. */
  changes<T = unknown>(ns: string, sinceSeq: number, limit?: number): Promise<StoreChange<T>[]>;
  /** Current highest sequence number in `ns` (0 when empty). */
  headSeq(ns: string): Promise<number>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Reads `ns`'s change feed from after `sinceSeq` to its end, a page at a time, oldest first, calling `fn` for each
 * change; returns the highest sequence number read (`sinceSeq` when there was nothing). How a watcher keeps an
 * in-memory view (revocations, lockouts) in step with changes made by other processes.
 */
export async function readChanges<T>(store: StateStore, ns: string, sinceSeq: number, fn: (change: StoreChange<T>) => void, pageSize = 1000): Promise<number> {
  let seq = sinceSeq;
  for (;;) {
    const changes = await store.changes<T>(ns, seq, pageSize);
    for (const c of changes) {
      seq = Math.max(seq, c.seq);
      fn(c);
    }
    if (changes.length < pageSize) return seq;
  }
}
