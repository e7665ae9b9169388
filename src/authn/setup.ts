import type { GatehouseConfig } from '../config/index.js';
import type { Clock } from '../core/clock.js';
import type { StateStore } from '../core/store.js';
import type { AuditEmitter } from '../core/types.js';
import type { RevocationWatcher } from './revocation.js';
import { configTokenKeyring, ensureTokenSecrets, type TokenKeyring } from './token-keys.js';
import { TokenService } from './tokens.js';

/** The token keyring the configuration names: `auth.token.secret` (seed 001's shared secret) or the state directory's keys. */
export function tokenKeyringFor(cfg: GatehouseConfig, stateDir: string, clock?: Clock): TokenKeyring {
  const t = cfg.auth.token;
  if (t.secret !== undefined) return configTokenKeyring(t.secret, t.previous_secrets);
  return ensureTokenSecrets(stateDir, clock ? { clock } : {});
}

/** One TokenService configured from `auth.token`, shared by the gateway (verify) and the CLI (mint, revoke, inspect). */
export function openTokenService(
  cfg: GatehouseConfig,
  opts: { stateDir: string; store?: StateStore; clock?: Clock; revocations?: RevocationWatcher; audit?: AuditEmitter },
): TokenService {
  const t = cfg.auth.token;
  return new TokenService({
    keyring: tokenKeyringFor(cfg, opts.stateDir, opts.clock),
    ...(opts.store ? { store: opts.store } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.revocations ? { revocations: opts.revocations } : {}),
    ...(opts.audit ? { audit: opts.audit } : {}),
    skewMs: t.clock_skew,
    maxLength: t.max_length,
    maxTtl: t.max_ttl,
    cache: { maxEntries: cfg.auth.cache.max_entries, ttlMs: cfg.auth.cache.ttl },
  });
}
