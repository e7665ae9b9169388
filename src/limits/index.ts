/**
 * Abuse limits (ARCHITECTURE.md: limits/, the throttle stage): rate limits per principal, token, tenant, client
 * address and route (GCRA), a new-connection rate per client (seed 002's connection_rate_limit), and lockout after
 * failed authentications. Usable without the gateway: RateTable and the lockout store functions stand alone.
 */
import type { Clock } from '../core/clock.js';
import type { StateStore } from '../core/store.js';
import type { AuditEmitter, Logger, Stage } from '../core/types.js';
import type { LimitsConfig } from '../config/index.js';
import { bandwidthStage, compileBandwidth } from './bandwidth.js';
import { Lockouts, type FailureShare } from './lockout.js';
import { compileRules, type CompileOptions, type CompiledRule } from './rules.js';
import { RateTable } from './rate.js';
import { UsageLedger, applyUsage, restoreOwing, throttleStages, type RateUsage } from './throttle.js';

export { RateTable, type RateShape, type RateVerdict } from './rate.js';
export { Lockouts, type FailureNotice, type FailureShare } from './lockout.js';
export { NS_LOCKOUTS, lockoutKey, parseLockoutSubject, writeLockout, deleteLockout, listLockouts, type LockoutRecord, type LockoutKind } from './lockout-store.js';
export { compileRules, keyOf, type CompiledRule } from './rules.js';
export { UsageLedger, applyUsage, type RateUsage } from './throttle.js';
export { compileBandwidth, checkBandwidth, byteMeter, bandwidthStage, type BandwidthRule, type BandwidthHit } from './bandwidth.js';

export interface Limits {
  /** The throttle stage (after identify): rate rules and bandwidth admission; undefined without either. */
  throttle: Stage | undefined;
  /** Tool-specific rate rules (after authorize); undefined without them. */
  throttleOperation: Stage | undefined;
  /** Lockout after failed authentications; undefined when limits.lockout.enabled is false. */
  lockouts: Lockouts | undefined;
  /** New connections per client, for the connection guard; undefined without connection_rate_limit. */
  connectionRate: RateTable | undefined;
  /** Under server.workers: what this process admitted (and bytes it charged) since the last call, for the others. */
  takeUsage(): RateUsage | undefined;
  /** Under server.workers: charges what another worker admitted. */
  applyUsage(usage: unknown): void;
  /** Under server.workers: sends each failed authentication counted here to `sink`, for the other workers (lockout). */
  shareFailures(sink: (batch: FailureShare) => void): void;
  /** Under server.workers: charges failed authentications another worker counted. */
  applyFailures(batch: unknown): void;
  /** Under server.workers: what every rate and bandwidth key owes now, for a worker started in place of a dead one. */
  owing(): RateUsage;
  /** Takes over what another worker's owing() returned (read as untrusted input: malformed entries are skipped). */
  restoreOwing(owing: unknown): void;
  close(): Promise<void>;
}

export interface LimitsDeps {
  store: StateStore;
  clock: Clock;
  logger: Logger;
  audit?: AuditEmitter;
}

/** Builds the limits from config; rules naming an unknown route or tool are configuration errors. */
export async function createLimits(cfg: LimitsConfig, deps: LimitsDeps, opts: CompileOptions & { shareUsage?: boolean }): Promise<Limits> {
  const none: Limits = { throttle: undefined, throttleOperation: undefined, lockouts: undefined, connectionRate: undefined, takeUsage: () => undefined, applyUsage: () => {}, shareFailures: () => {}, applyFailures: () => {}, owing: () => [], restoreOwing: () => {}, close: async () => {} };
  if (!cfg.enabled) return none;
  const rules = compileRules(cfg, opts);
  const byIndex: Array<CompiledRule | undefined> = [];
  for (const r of [...rules.pre, ...rules.post]) byIndex[r.index] = r;
  const bandwidth = compileBandwidth(cfg, opts);
  const ledger = opts.shareUsage && (byIndex.length > 0 || bandwidth.length > 0) ? new UsageLedger() : undefined;
  const stages = throttleStages(rules, deps.clock, ledger);
  // Without bandwidth rules the throttle stage is the rate rules' alone: no wrapper, no meter on any exchange.
  if (bandwidth.length > 0) stages.throttle = bandwidthStage(bandwidth, deps.clock, ledger, stages.throttle);
  const c = cfg.connection_rate_limit;
  const connectionRate = c ? new RateTable({ limit: c.limit, periodMs: c.periodMs, burst: Math.ceil(c.limit * cfg.burst_tolerance) }, cfg.max_keys) : undefined;
  let lockouts: Lockouts | undefined;
  if (cfg.lockout.enabled) {
    lockouts = new Lockouts(cfg.lockout, deps);
    await lockouts.start();
  }
  return {
    ...stages,
    lockouts,
    connectionRate,
    takeUsage: () => ledger?.take(),
    applyUsage: (usage) => applyUsage(byIndex, usage, deps.clock.now(), bandwidth),
    shareFailures: (sink) => lockouts?.shareFailures(sink),
    owing: () => {
      const now = deps.clock.now();
      const out: RateUsage = [];
      for (const r of byIndex) if (r) for (const [key, owed] of r.table.owing(now)) out.push([r.index, key, owed]);
      bandwidth.forEach((b, i) => {
        for (const [key, owed] of b.table.owing(now)) out.push([i, key, owed, 'bytes']);
      });
      return out;
    },
    restoreOwing: (owing) => restoreOwing(byIndex, owing, deps.clock.now(), bandwidth),
    applyFailures: (batch) => lockouts?.applyPeerFailures(batch),
    close: async () => {
      await lockouts?.close();
    },
  };
}
