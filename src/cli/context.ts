import { loadConfig, type GatehouseConfig } from '../config/index.js';
import { prepareStateDir } from '../store/index.js';
import { openConfiguredStore } from '../gateway/store.js';
import type { StateStore } from '../core/store.js';
import type { AuditEmitter } from '../core/types.js';
import type { CliContext, ParsedArgs } from './types.js';
import { str } from './types.js';
import { openAuditLog } from '../audit/index.js';
import { createRedactor } from '../redact/index.js';
import { createCliLogger } from './logger.js';

/** The --config option every command that reads configuration accepts. */
export { configOption } from './types.js';

/** Loads the config a command runs against: --config FILE, else $GATEHOUSE_CONFIG, else the embedded default. */
export function loadCliConfig(args: ParsedArgs, ctx: CliContext, opts: { skipProfileCheck?: boolean } = {}): Promise<GatehouseConfig> {
  const path = str(args, 'config') ?? ctx.env['GATEHOUSE_CONFIG'];
  return loadConfig({ path, env: ctx.env, cwd: ctx.cwd, ...(opts.skipProfileCheck ? { skipProfileCheck: true } : {}) });
}

/**
 * Opens the state store the gateway uses (the SQLite file under the state dir by default, or its PostgreSQL database).
 * Every command that reads or writes state (keys, tokens, users, approvals) comes here first: a state directory others
 * can write is refused as the gateway refuses it, before a key is read from it or written into it (a store.path
 * elsewhere has its directory judged alike when the store opens). `ctx` gives the environment
 * store.postgres.password_env is read from, and stderr for the store's TLS warnings.
 */
export function openCliStore(cfg: GatehouseConfig, ctx?: Pick<CliContext, 'env' | 'stderr'>): StateStore {
  prepareStateDir(cfg.state_dir);
  return openConfiguredStore(cfg, ctx ? { env: ctx.env, logger: createCliLogger(ctx) } : {});
}

/**
 * An audit emitter for CLI actions (token.mint, key.rotate, approvals …) writing to the same audit log the gateway
 * writes, through the audit capability. Close it before the command returns.
 */
export async function openCliAudit(cfg: GatehouseConfig, ctx: CliContext): Promise<AuditEmitter & { close(): Promise<void> }> {
  if (!cfg.audit.enabled) return { emit: async () => {}, close: async () => {} };
  const redactor = createRedactor(cfg.redact);
  // transient: an HTTP sink here spools apart and never sends the running gateway's pending batches.
  return openAuditLog(cfg.audit, { stateDir: cfg.state_dir, logger: createCliLogger(ctx), redact: (v) => redactor.redactValue(v), transient: true });
}
