/**
 * Bandwidth limits (limits.bandwidth; seed 002's planned "Resource quotas: per-tenant … bandwidth limits"): bytes of
 * request and response bodies per tenant (or another key), so one tenant cannot take a shared upstream's bandwidth.
 *
 * Each rule is a RateTable over bytes: GCRA with one byte per emission interval, the same as a bucket of `burst` bytes
 * refilled at `rate`. A body's size is not known when its request is admitted, so admission asks only whether the
 * key is in debt (check with n = 0, which stores nothing), and the bytes are charged as they flow, uncapped (charge):
 * a key goes into debt by what was already flowing and then waits it off. The table's bound and eviction (max_keys)
 * hold as for rate limits; a key takes memory only once bytes are charged to it.
 */
import type { Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { ByteMeter, Exchange, Stage } from '../core/types.js';
import type { LimitsConfig, RateKeyPart } from '../config/index.js';
import { RateTable, type RateVerdict } from './rate.js';
import { keyOf, ruleMatches, type CompileOptions } from './rules.js';
import type { UsageLedger } from './throttle.js';

/** One configured bandwidth limit, ready to match exchanges. */
export interface BandwidthRule {
  /** Its index in limits.bandwidth (the usage ledger's name for it under server.workers). */
  readonly index: number;
  readonly name: string;
  readonly per: readonly RateKeyPart[];
  readonly routes: ReadonlySet<string> | undefined;
  readonly methods: ReadonlySet<string> | undefined;
  /** Counts request bodies (toward the upstream). */
  readonly in: boolean;
  /** Counts response bodies (from the upstream). */
  readonly out: boolean;
  /** Bytes a full allowance holds. */
  readonly burst: number;
  /** Per key, bytes owed as GCRA time: admitted while it owes no more than `burst` bytes' worth. */
  readonly table: RateTable;
  /** The RateLimit-Policy item, its quota in content bytes (draft-ietf-httpapi-ratelimit-headers `qu`). */
  readonly policy: string;
}

/** limits.bandwidth → rules; one naming an unknown route is a configuration error. */
export function compileBandwidth(cfg: LimitsConfig, opts: CompileOptions): BandwidthRule[] {
  return cfg.bandwidth.map((r, i): BandwidthRule => {
    for (const route of r.routes ?? []) {
      if (!opts.routeNames.has(route)) throw new GatehouseError('GH_CONFIG_INVALID', `limits.bandwidth[${i}].routes: no route is named "${route.slice(0, 64)}"`);
    }
    const burst = r.burst ?? r.rate.bytes;
    return {
      index: i,
      name: r.name,
      per: r.per,
      routes: r.routes ? new Set(r.routes) : undefined,
      methods: r.methods ? new Set(r.methods) : undefined,
      in: r.direction !== 'out',
      out: r.direction !== 'in',
      burst,
      table: new RateTable({ limit: r.rate.bytes, periodMs: r.rate.periodMs, burst }, cfg.max_keys),
      policy: `"${r.name}";q=${r.rate.bytes};qu="content-bytes";w=${Math.max(1, Math.round(r.rate.periodMs / 1000))}`,
    };
  });
}

/** A rule that matched an exchange, and the key its bytes count under. */
export type BandwidthHit = readonly [BandwidthRule, string];

/** While in debt: 429 with Retry-After (the debt over the rate), the rule named, never the key (it holds identities). */
export function bandwidthLimited(rule: BandwidthRule, v: RateVerdict): GatehouseError {
  const secs = Math.max(1, Math.ceil(v.retryAfterMs / 1000));
  return new GatehouseError('GH_RATE_LIMITED', `Too many bytes: bandwidth limit "${rule.name}" is used up.`, {
    detail: `bandwidth:${rule.name}`,
    headers: { 'retry-after': String(secs), 'ratelimit-policy': rule.policy, ratelimit: `"${rule.name}";r=0;t=${secs}` },
    data: { bandwidth_limit: rule.name, retry_after: secs },
  });
}

/** A declared body larger than the burst can never be admitted: 413, not a 429 inviting a retry that cannot succeed. */
function bodyOverBurst(rule: BandwidthRule): GatehouseError {
  return new GatehouseError('GH_BODY_TOO_LARGE', `The request body is larger than bandwidth limit "${rule.name}" admits at once (${rule.burst} bytes).`, {
    detail: `bandwidth:${rule.name}:body`,
    data: { bandwidth_limit: rule.name, burst_bytes: rule.burst },
  });
}

/**
 * The rules matching the exchange and their keys, or a refusal: a key in debt, or a declared request body over the
 * burst of a rule counting request bodies. Charges nothing.
 */
export function checkBandwidth(rules: readonly BandwidthRule[], ex: Exchange, now: number): BandwidthHit[] | undefined {
  let hits: BandwidthHit[] | undefined;
  let declared: number | undefined;
  for (const rule of rules) {
    if (!ruleMatches(rule, ex)) continue;
    if (rule.in) {
      declared ??= Number(ex.req.headers['content-length'] ?? 0);
      if (declared > rule.burst) {
        ex.meta['bandwidth_limit'] = rule.name;
        throw bodyOverBurst(rule);
      }
    }
    const key = keyOf(rule, ex);
    const v = rule.table.check(key, now, 0);
    if (typeof v !== 'number') {
      ex.meta['bandwidth_limit'] = rule.name; // the audit record names the rule (never the key)
      throw bandwidthLimited(rule, v);
    }
    (hits ??= []).push([rule, key]);
  }
  return hits;
}

/** Charges body bytes to every hit counting that direction, and notes them for the other workers. */
export function byteMeter(hits: readonly BandwidthHit[], clock: Clock, ledger: UsageLedger | undefined): ByteMeter {
  const counter = (direction: 'in' | 'out'): ((bytes: number) => void) | undefined => {
    const mine = hits.filter(([rule]) => rule[direction]);
    if (mine.length === 0) return undefined;
    return (bytes) => {
      if (!(bytes > 0)) return;
      const now = clock.now();
      for (const [rule, key] of mine) {
        rule.table.charge(key, bytes, now);
        ledger?.note(rule.index, key, bytes, true);
      }
    };
  };
  return { in: counter('in'), out: counter('out') };
}

/**
 * The throttle stage with bandwidth rules: bandwidth first (its check charges nothing, so a request it refuses uses no
 * rate allowance), then the rate rules, then the meter, set only on a request every rule admitted.
 */
export function bandwidthStage(rules: readonly BandwidthRule[], clock: Clock, ledger: UsageLedger | undefined, rates: Stage | undefined): Stage {
  return (ex) => {
    const hits = checkBandwidth(rules, ex, clock.now());
    const p = rates?.(ex);
    if (hits === undefined) return p;
    if (p === undefined) {
      ex.byteMeter = byteMeter(hits, clock, ledger);
      return undefined;
    }
    return p.then(() => {
      ex.byteMeter = byteMeter(hits, clock, ledger);
    });
  };
}
