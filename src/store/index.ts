export type * from './types.js';
export { MemoryStore } from './memory.js';
export { SqliteStore } from './sqlite.js';
export { prepareStateDir } from './state-dir.js';
import type { Clock } from '../core/clock.js';
import { MemoryStore } from './memory.js';
import { SqliteStore } from './sqlite.js';
import type { StateStore } from './types.js';

export interface StoreConfig {
  kind: 'memory' | 'sqlite';
  path?: string;
}

/** Opens the configured store; SQLite at `path` is the embedded default. */
export function openStore(cfg: StoreConfig, opts: { clock?: Clock } = {}): StateStore {
  if (cfg.kind === 'memory') return new MemoryStore(opts);
  if (!cfg.path) throw new TypeError('store.path is required for the sqlite store');
  return new SqliteStore(cfg.path, opts);
}
