export type * from './types.js';
export { MemoryStore } from './memory.js';
export { SqliteStore } from './sqlite.js';
export { PostgresStore, type PostgresStoreOptions } from './postgres.js';
export { ancestorDirProblems, prepareStateDir, prepareTrustedDir, trustedDirProblem, type AncestorDirProblem } from './state-dir.js';
import type { ConnectionOptions } from 'node:tls';
import { parsePostgresUrl, type PostgresStoreConfig } from '../config/index.js';
import type { Clock } from '../core/clock.js';
import { readFileBounded } from '../core/files.js';
import { MemoryStore } from './memory.js';
import { PostgresStore, type PostgresStoreOptions } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { StateStore } from './types.js';

export interface StoreConfig {
  kind: 'memory' | 'sqlite' | 'postgres';
  /** The SQLite file (kind sqlite). */
  path?: string;
  /** The store.postgres block (kind postgres). */
  postgres?: PostgresStoreConfig;
}

export interface OpenStoreOptions {
  clock?: Clock;
  /**
   * TLS connect options built from store.postgres.tls (createUpstreamTls; the gateway's openConfiguredStore does it),
   * required when that block is enabled: the store never quietly connects without the TLS its configuration asks for.
   */
  tls?: ConnectionOptions;
  /** Where store.postgres.password_env is read. Default process.env. */
  env?: NodeJS.ProcessEnv;
}

const MAX_PASSWORD_FILE_BYTES = 64 * 1024;

/** The password source store.postgres names, read at every new connection (a rotated password_file is picked up). */
function passwordSource(cfg: PostgresStoreConfig, env: NodeJS.ProcessEnv): PostgresStoreOptions['password'] {
  const file = cfg.password_file;
  if (file !== undefined) {
    return () => {
      const text = readFileBounded(file, MAX_PASSWORD_FILE_BYTES).toString('utf8').trim();
      if (text === '') throw new Error('store.postgres.password_file is empty');
      return text;
    };
  }
  const name = cfg.password_env;
  if (name !== undefined) {
    return () => {
      const v = env[name];
      if (v === undefined || v === '') throw new Error(`store.postgres.password_env names ${name}, which is not set`);
      return v;
    };
  }
  return undefined;
}

/** PostgresStore options from the store.postgres block (URL already checked at load). */
export function postgresStoreOptions(cfg: PostgresStoreConfig, opts: OpenStoreOptions = {}): PostgresStoreOptions {
  const target = parsePostgresUrl(cfg.url);
  // The message of the URL check, never the URL: validateConfig refuses these already.
  if (typeof target === 'string') throw new TypeError(`store.postgres.url: ${target}`);
  if (cfg.tls.enabled && opts.tls === undefined) throw new TypeError('store.postgres.tls.enabled is true: pass the TLS options built from it (openConfiguredStore in gatehouse/gateway)');
  const password = passwordSource(cfg, opts.env ?? process.env);
  return {
    host: target.host,
    port: target.port,
    user: target.user,
    database: target.database,
    schema: cfg.schema,
    poolSize: cfg.pool_size,
    connectTimeoutMs: cfg.connect_timeout,
    statementTimeoutMs: cfg.statement_timeout,
    ...(password !== undefined ? { password } : {}),
    ...(cfg.tls.enabled && opts.tls !== undefined ? { tls: opts.tls } : {}),
    ...(opts.clock !== undefined ? { clock: opts.clock } : {}),
  };
}

/** Opens the configured store; SQLite at `path` is the embedded default. */
export function openStore(cfg: StoreConfig, opts: OpenStoreOptions = {}): StateStore {
  const clock = opts.clock !== undefined ? { clock: opts.clock } : {};
  if (cfg.kind === 'memory') return new MemoryStore(clock);
  if (cfg.kind === 'postgres') {
    if (!cfg.postgres) throw new TypeError('store.postgres is required for the postgres store');
    return new PostgresStore(postgresStoreOptions(cfg.postgres, opts));
  }
  if (!cfg.path) throw new TypeError('store.path is required for the sqlite store');
  return new SqliteStore(cfg.path, clock);
}
