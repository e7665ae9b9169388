/**
 * Opening the configured state store, for every process that runs against it (the gateway, its supervisor, the CLI).
 * store/ knows no TLS configuration: store.postgres.tls is built into connect options here, with createUpstreamTls as
 * every other outbound client's block is, so a CA file, a client certificate, pins and insecure_skip_verify mean the
 * same for the store as for routes[].tls.
 */
import type { GatehouseConfig } from '../config/index.js';
import type { Clock } from '../core/clock.js';
import type { StateStore } from '../core/store.js';
import type { Logger } from '../core/types.js';
import { openStore } from '../store/index.js';
import { createUpstreamTls } from '../tls/index.js';

export interface OpenConfiguredStoreOptions {
  clock?: Clock;
  /** Warnings about the store's TLS block (insecure_skip_verify, legacy versions). */
  logger?: Logger;
  /** Where store.postgres.password_env is read. Default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** The store `cfg.store` names: SQLite (the default), memory, or PostgreSQL with its TLS options built. */
export function openConfiguredStore(cfg: GatehouseConfig, opts: OpenConfiguredStoreOptions = {}): StateStore {
  const clock = opts.clock !== undefined ? { clock: opts.clock } : {};
  const s = cfg.store;
  if (s.kind !== 'postgres' || s.postgres === undefined) return openStore({ kind: s.kind, ...(s.path ? { path: s.path } : {}) }, clock);
  const tls = s.postgres.tls.enabled ? createUpstreamTls(s.postgres.tls, { ...(opts.logger ? { logger: opts.logger } : {}), path: 'store.postgres.tls' }) : undefined;
  return openStore({ kind: 'postgres', postgres: s.postgres }, { ...clock, ...(tls ? { tls } : {}), ...(opts.env ? { env: opts.env } : {}) });
}
