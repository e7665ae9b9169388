import { createHash } from 'node:crypto';
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import pg from 'pg';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { POSTGRES_SCHEMA_RE } from '../config/index.js';
import type { PutOptions, StateStore, StoreChange, StoreEntry } from './types.js';

export interface PostgresStoreOptions {
  /** Host name or address, or a Unix socket directory (starting with /). */
  host: string;
  port?: number;
  user: string;
  database: string;
  /** Called for every new connection (a function, so a rotated password file is read again). None: trust or certificate auth. */
  password?: string | (() => string | Promise<string>);
  /** The schema holding the tables (created when missing). Default gatehouse. */
  schema?: string;
  /** Connections in the pool. Default 10. */
  poolSize?: number;
  /** Time to open a connection, or to wait for a free one. Default 5000. */
  connectTimeoutMs?: number;
  /** Server-side statement_timeout (lock waits included); the client gives up a second later. Default 5000. */
  statementTimeoutMs?: number;
  /** TLS connect options (gateway: built from store.postgres.tls by createUpstreamTls); absent: no TLS. */
  tls?: ConnectionOptions;
  clock?: Clock;
}

interface KvRow {
  key: string;
  value: string | null;
  updated_at: string;
  expires_at: string | null;
  seq: string;
}

/** Clients of ours that already carry an 'error' listener (pg-pool hands the same client out again and again). */
const listened = new WeakSet<pg.PoolClient>();

/** Expired entries and tombstones older than a day are deleted this often (as SQLite does). */
const PURGE_EVERY_MS = 300_000;
const TOMBSTONE_KEEP_MS = 86_400_000;

/** Any failure of the driver, the network or the database: 503, fail closed. The cause stays attached, never in the message. */
function unavailable(cause: unknown): GatehouseError | TypeError {
  if (cause instanceof GatehouseError || cause instanceof TypeError) return cause;
  const code = (cause as { code?: unknown } | null)?.code;
  const named = typeof code === 'string' && /^[A-Za-z0-9_]{1,32}$/.test(code) ? code : 'error';
  return new GatehouseError('GH_STORE_UNAVAILABLE', undefined, { cause, detail: `postgres state store: ${named}` });
}

/** For a server that asks for a password when the configuration names none (store.postgres.password_file/_env). */
function noPassword(): never {
  throw new Error('the server asks for a password and store.postgres names none (password_file or password_env)');
}

/** PostgreSQL text cannot hold U+0000; SQLite can. A key with one is the caller's mistake, refused before any I/O. */
function checkText(...parts: string[]): void {
  for (const p of parts) if (p.includes('\0')) throw new TypeError('a state store namespace, key or prefix cannot hold U+0000 (NUL) on PostgreSQL');
}

/**
 * A name in server_name: node-postgres sets `servername` to the host it connects to, over ours, so the certificate is
 * checked against server_name here (pins, when set, through the given checkServerIdentity).
 */
function tlsOptions(tls: ConnectionOptions): ConnectionOptions {
  const name = tls.servername;
  if (name === undefined) return tls;
  const inner = tls.checkServerIdentity ?? checkServerIdentity;
  return { ...tls, checkServerIdentity: (_host: string, cert: PeerCertificate) => inner(name, cert) };
}

function statements(schema: string) {
  const s = `"${schema}"`;
  const kv = `${s}.kv`;
  const meta = `${s}.meta`;
  const live = 'value IS NOT NULL AND (expires_at IS NULL OR expires_at > $3)';
  const upsert = 'ON CONFLICT (ns, key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at, seq = EXCLUDED.seq';
  return {
    create: [
      `CREATE TABLE IF NOT EXISTS ${kv} (ns text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, value text, updated_at bigint NOT NULL, expires_at bigint, seq bigint NOT NULL, PRIMARY KEY (ns, key))`,
      `CREATE INDEX IF NOT EXISTS kv_seq ON ${kv} (ns, seq)`,
      `CREATE TABLE IF NOT EXISTS ${meta} (name text PRIMARY KEY, value bigint NOT NULL)`,
    ],
    createSchema: `CREATE SCHEMA IF NOT EXISTS ${s}`,
    // A meta row lost underneath restarts from the highest seq written, never from 0 (watchers would miss changes).
    seedMeta: `INSERT INTO ${meta} (name, value) SELECT 'seq', COALESCE(MAX(seq), 0) FROM ${kv} ON CONFLICT (name) DO NOTHING`,
    get: `SELECT value FROM ${kv} WHERE ns = $1 AND key = $2 AND ${live}`,
    getLive: `SELECT value, expires_at FROM ${kv} WHERE ns = $1 AND key = $2 AND ${live}`,
    // BEGIN and the counter in one round trip (the simple protocol takes both): from here until COMMIT this transaction
    // holds the counter row's lock, so writers commit one at a time, in the order of their sequence numbers.
    beginWrite: `BEGIN; UPDATE ${meta} SET value = value + 1 WHERE name = 'seq' RETURNING value`,
    upsertOne: `INSERT INTO ${kv} (ns, key, value, updated_at, expires_at, seq) VALUES ($1, $2, $3, $4, $5, $6) ${upsert}`,
    // Blind writes in one statement (its own transaction): the counter row is locked first, for n numbers, until commit.
    putMany:
      `WITH s AS (UPDATE ${meta} SET value = value + $2::bigint WHERE name = 'seq' RETURNING value) ` +
      `INSERT INTO ${kv} (ns, key, value, updated_at, expires_at, seq) ` +
      `SELECT $1::text, u.k, u.v, $3::bigint, u.e, s.value - $2::bigint + u.o FROM s, unnest($4::text[], $5::text[], $6::bigint[]) WITH ORDINALITY AS u(k, v, e, o) ${upsert}`,
    list:
      `SELECT key, value, updated_at, expires_at FROM ${kv} WHERE ns = $1 AND value IS NOT NULL AND (expires_at IS NULL OR expires_at > $2) ` +
      'AND ($3::text IS NULL OR starts_with(key, $3::text)) ORDER BY key LIMIT $4',
    changes: `SELECT key, value, seq FROM ${kv} WHERE ns = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    head: `SELECT MAX(seq) AS s FROM ${kv} WHERE ns = $1`,
    purge: `DELETE FROM ${kv} WHERE (expires_at IS NOT NULL AND expires_at <= $1) OR (value IS NULL AND updated_at <= $2)`,
    ping: `SELECT value FROM ${meta} WHERE name = 'seq'`,
  };
}

const parse = <T>(json: string): T => JSON.parse(json) as T;
const expiry = (now: number, ttlMs: number | undefined, json: string | null): number | null => (ttlMs === undefined || json === null ? null : Math.ceil(now + ttlMs));

/**
 * The state store in PostgreSQL, for several gateway hosts sharing revocations, lockouts, API keys and approvals.
 * Same contract as SQLite (core/store.ts): one global sequence, tombstones for deletions, TTLs from the injected clock.
 *
 * Every write transaction starts by incrementing the one counter row (`UPDATE meta … RETURNING`), which it then holds
 * locked until COMMIT: writers from every process serialise there, so commit order is sequence order — a change feed
 * reader that has seen seq n never later finds a commit below n — and update() reads the current value after taking
 * the lock, an atomic read-modify-write across processes. Reads take no lock. Every query is parameterised; the schema
 * name is checked against POSTGRES_SCHEMA_RE and quoted.
 */
export class PostgresStore implements StateStore {
  readonly kind = 'postgres' as const;
  readonly schema: string;
  readonly #pool: pg.Pool;
  readonly #clock: Clock;
  readonly #sql: ReturnType<typeof statements>;
  #ready: Promise<void> | undefined;
  #purgeTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: PostgresStoreOptions) {
    const schema = opts.schema ?? 'gatehouse';
    if (!POSTGRES_SCHEMA_RE.test(schema) || schema.startsWith('pg_')) throw new TypeError('schema: 1 to 63 of a-z 0-9 _, not starting with a digit or pg_');
    if (!opts.host || !opts.user || !opts.database) throw new TypeError('host, user and database are required');
    const poolSize = opts.poolSize ?? 10;
    const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    const statementTimeoutMs = opts.statementTimeoutMs ?? 5000;
    for (const [name, v] of [['poolSize', poolSize], ['connectTimeoutMs', connectTimeoutMs], ['statementTimeoutMs', statementTimeoutMs]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new TypeError(`${name} must be a positive integer`);
    }
    this.schema = schema;
    this.#clock = opts.clock ?? systemClock;
    this.#sql = statements(schema);
    const password = opts.password;
    this.#pool = new pg.Pool({
      host: opts.host,
      port: opts.port ?? 5432,
      user: opts.user,
      database: opts.database,
      // A function, never the string itself: nothing that prints the pool's options can show it. Always a function:
      // without one node-postgres would take PGPASSWORD or ~/.pgpass, credentials the configuration does not name.
      password: password === undefined ? noPassword : typeof password === 'string' ? () => password : password,
      ssl: opts.tls ? tlsOptions(opts.tls) : false,
      max: poolSize,
      connectionTimeoutMillis: connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      allowExitOnIdle: true,
      keepAlive: true,
      // A dead or stuck database fails requests closed instead of holding them: the server cancels a statement (a
      // lock wait included) past statement_timeout, the client gives up a second later (a silent network), and a
      // session left inside a transaction (its counter lock held) is ended by the server.
      statement_timeout: statementTimeoutMs,
      query_timeout: statementTimeoutMs + 1000,
      idle_in_transaction_session_timeout: Math.max(statementTimeoutMs, 1000),
      application_name: 'gatehouse',
    });
    // An idle connection that dies (server restart, network) is dropped from the pool; the next query opens another.
    this.#pool.on('error', () => {});
    this.#purgeTimer = setInterval(() => void this.#purge(), PURGE_EVERY_MS);
    this.#purgeTimer.unref();
  }

  /** Creates the schema and tables once per process, idempotently; a failure is retried by the next call. */
  #init(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('the store is closed'));
    this.#ready ??= this.#createTables().then(
      () => void this.#purge(),
      (e: unknown) => {
        this.#ready = undefined;
        throw e;
      },
    );
    return this.#ready;
  }

  /**
   * A client for a transaction. A connection that drops between two of its statements makes the client emit 'error'
   * with no query to fail: without a listener that would end the process. The next statement fails instead (503).
   */
  async #checkout(): Promise<pg.PoolClient> {
    const client = await this.#pool.connect();
    if (!listened.has(client)) {
      client.on('error', () => {});
      listened.add(client);
    }
    return client;
  }

  async #createTables(): Promise<void> {
    const client = await this.#checkout();
    try {
      await client.query('BEGIN');
      // Several gateways starting at once: CREATE … IF NOT EXISTS races on the catalogs, so creation is serialised.
      const lock = createHash('sha256').update(`gatehouse state store ${this.schema}`).digest().readBigInt64BE(0);
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [lock.toString()]);
      const found = await client.query(
        "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname IN ('kv', 'meta')",
        [this.schema],
      );
      // Tables a DBA created beforehand need no CREATE privilege: only what is missing is created.
      if (found.rowCount !== 2) {
        const ns = await client.query('SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1', [this.schema]);
        if (ns.rowCount === 0) await client.query(this.#sql.createSchema);
        for (const q of this.#sql.create) await client.query(q);
      }
      // Read first: INSERT … ON CONFLICT would wait behind any write transaction holding the counter row.
      if ((await client.query(this.#sql.ping)).rowCount === 0) await client.query(this.#sql.seedMeta);
      await client.query('COMMIT');
      client.release();
    } catch (e) {
      client.release(e instanceof Error ? e : true);
      throw e;
    }
  }

  async #purge(): Promise<void> {
    if (this.#closed || this.#ready === undefined) return;
    const now = this.#clock.now();
    try {
      await this.#ready;
      await this.#pool.query(this.#sql.purge, [now, now - TOMBSTONE_KEEP_MS]);
    } catch {
      // An unreachable database is purged next time; never fatal.
    }
  }

  async #query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<R[]> {
    try {
      await this.#init();
      return (await this.#pool.query<R>(text, values)).rows;
    } catch (e) {
      throw unavailable(e);
    }
  }

  /**
   * One write transaction: BEGIN and the counter (its lock held to the end), then `fn` with the sequence number it
   * may write under. `fn` says whether to commit; a transaction that wrote nothing rolls back, its number unused.
   */
  async #write<T>(fn: (client: pg.PoolClient, seq: number) => Promise<{ commit: boolean; result: T }>): Promise<T> {
    let client: pg.PoolClient | undefined;
    try {
      await this.#init();
      client = await this.#checkout();
      const results = (await client.query(this.#sql.beginWrite)) as unknown as pg.QueryResult<{ value: string }>[];
      const seq = results[1]?.rows[0]?.value;
      if (seq === undefined) throw new Error('the store meta row is missing');
      const { commit, result } = await fn(client, Number(seq));
      await client.query(commit ? 'COMMIT' : 'ROLLBACK');
      client.release();
      return result;
    } catch (e) {
      // Destroyed, not returned: a connection that failed mid-transaction is never handed out again.
      client?.release(e instanceof Error ? e : true);
      throw unavailable(e);
    }
  }

  async #upsert(client: pg.PoolClient, ns: string, key: string, value: unknown, ttlMs: number | undefined, seq: number, now: number): Promise<void> {
    const json = value === undefined ? null : JSON.stringify(value);
    await client.query(this.#sql.upsertOne, [ns, key, json, now, expiry(now, ttlMs, json), seq]);
  }

  async get<T>(ns: string, key: string): Promise<T | undefined> {
    checkText(ns, key);
    const rows = await this.#query<{ value: string }>(this.#sql.get, [ns, key, this.#clock.now()]);
    return rows[0] ? this.#parse<T>(rows[0].value) : undefined;
  }

  #parse<T>(json: string): T {
    try {
      return parse<T>(json);
    } catch (e) {
      throw unavailable(e);
    }
  }

  async put(ns: string, key: string, value: unknown, opts?: PutOptions): Promise<void> {
    await this.putMany(ns, [{ key, value, ...(opts?.ttlMs !== undefined ? { ttlMs: opts.ttlMs } : {}) }]);
  }

  async putMany(ns: string, entries: ReadonlyArray<{ key: string; value: unknown; ttlMs?: number }>): Promise<void> {
    if (entries.length === 0) return;
    checkText(ns, ...entries.map((e) => e.key));
    // One row per key (ON CONFLICT updates a row once per statement): the last write of a key wins, in its place.
    const last = new Map<string, { value: unknown; ttlMs?: number | undefined }>();
    for (const e of entries) {
      last.delete(e.key);
      last.set(e.key, e);
    }
    const now = this.#clock.now();
    const keys = [...last.keys()];
    const values = [...last.values()].map((e) => (e.value === undefined ? null : JSON.stringify(e.value)));
    const expires = [...last.values()].map((e, i) => expiry(now, e.ttlMs, values[i] ?? null));
    try {
      await this.#init();
      const res = await this.#pool.query(this.#sql.putMany, [ns, keys.length, now, keys, values, expires]);
      if (res.rowCount !== keys.length) throw new Error('the store meta row is missing');
    } catch (e) {
      throw unavailable(e);
    }
  }

  async putIfAbsent(ns: string, key: string, value: unknown, opts?: PutOptions): Promise<boolean> {
    checkText(ns, key);
    return this.#write(async (client, seq) => {
      const now = this.#clock.now();
      if ((await client.query(this.#sql.getLive, [ns, key, now])).rowCount !== 0) return { commit: false, result: false };
      await this.#upsert(client, ns, key, value, opts?.ttlMs, seq, now);
      return { commit: true, result: true };
    });
  }

  async update<T>(ns: string, key: string, fn: (current: T | undefined) => T | undefined, opts?: PutOptions): Promise<T | undefined> {
    checkText(ns, key);
    return this.#write(async (client, seq) => {
      const now = this.#clock.now();
      const row = (await client.query<{ value: string; expires_at: string | null }>(this.#sql.getLive, [ns, key, now])).rows[0];
      const next = fn(row ? parse<T>(row.value) : undefined);
      // Like SQLite: options without a ttlMs keep the current expiry instead of dropping it.
      const keepTtl = row?.expires_at != null ? Number(row.expires_at) - now : undefined;
      await this.#upsert(client, ns, key, next, opts?.ttlMs ?? keepTtl, seq, now);
      return { commit: true, result: next };
    });
  }

  async delete(ns: string, key: string): Promise<boolean> {
    checkText(ns, key);
    return this.#write(async (client, seq) => {
      const now = this.#clock.now();
      if ((await client.query(this.#sql.getLive, [ns, key, now])).rowCount === 0) return { commit: false, result: false };
      await this.#upsert(client, ns, key, undefined, undefined, seq, now);
      return { commit: true, result: true };
    });
  }

  async list<T>(ns: string, opts: { prefix?: string; limit?: number } = {}): Promise<StoreEntry<T>[]> {
    checkText(ns, opts.prefix ?? '');
    const limit = opts.limit === undefined ? null : Math.max(0, Math.floor(opts.limit));
    const rows = await this.#query<KvRow>(this.#sql.list, [ns, this.#clock.now(), opts.prefix ?? null, limit]);
    return rows.map((r) => ({ key: r.key, value: this.#parse<T>(r.value as string), updatedAt: Number(r.updated_at), expiresAt: r.expires_at === null ? undefined : Number(r.expires_at) }));
  }

  async changes<T>(ns: string, sinceSeq: number, limit = 1000): Promise<StoreChange<T>[]> {
    checkText(ns);
    const rows = await this.#query<KvRow>(this.#sql.changes, [ns, Math.floor(sinceSeq), Math.max(0, Math.floor(limit))]);
    return rows.map((r) => ({ key: r.key, value: r.value === null ? undefined : this.#parse<T>(r.value), seq: Number(r.seq) }));
  }

  async headSeq(ns: string): Promise<number> {
    checkText(ns);
    const rows = await this.#query<{ s: string | null }>(this.#sql.head, [ns]);
    return Number(rows[0]?.s ?? 0);
  }

  /** Reads the store's own meta row: `SELECT 1` would pass on a database whose tables were dropped or never created. */
  async ping(): Promise<void> {
    const rows = await this.#query<{ value: string }>(this.#sql.ping, []);
    if (rows[0] === undefined || !/^\d+$/.test(rows[0].value)) throw unavailable(new Error('the store meta row is missing'));
  }

  async close(): Promise<void> {
    if (this.#purgeTimer) clearInterval(this.#purgeTimer);
    this.#purgeTimer = undefined;
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}
