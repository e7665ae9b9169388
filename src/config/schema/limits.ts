import { z } from 'zod';
import { duration, ipOrCidr, section, timerDuration } from './common.js';

/** A rate as written: `10/sec`, `1000/s`, `60/min`, `500/hour`, `10000/day`, or a bare number (per second). */
export interface Rate {
  /** Requests allowed per period. */
  limit: number;
  periodMs: number;
}

const UNITS: Readonly<Record<string, number>> = Object.freeze({
  s: 1000, sec: 1000, second: 1000,
  m: 60_000, min: 60_000, minute: 60_000,
  h: 3_600_000, hour: 3_600_000,
  d: 86_400_000, day: 86_400_000,
});
// Bounded and linear: digits, a slash, a short unit word.
const RATE_TEXT = /^(\d{1,9})\s*\/\s*([a-z]{1,6})$/;

export function parseRate(v: string | number): Rate {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 1 || v > 1e9) throw new Error('a rate is a whole number of requests ≥ 1, e.g. 100/sec');
    return { limit: v, periodMs: 1000 };
  }
  const m = RATE_TEXT.exec(v.trim().toLowerCase());
  const unit = m ? UNITS[m[2] as string] : undefined;
  const limit = m ? Number(m[1]) : 0;
  if (!m || unit === undefined || limit < 1) throw new Error(`expected a rate like 10/sec, 60/min or 1000/hour, got "${v.slice(0, 32)}"`);
  return { limit, periodMs: unit };
}

// The parsed form is accepted too, so the effective config `gatehouse config check` prints loads back as it is.
const parsedRate = z.strictObject({ limit: z.number().int().min(1).max(1e9), periodMs: z.number().int().min(1).max(365 * 86_400_000) });

const rate = () =>
  z.union([z.string(), z.number(), parsedRate]).transform((v, ctx): Rate => {
    if (typeof v === 'object') return v;
    try {
      return parseRate(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  });

/** Seed 002's `burst_tolerance: 2x`: the burst as a multiple of the rate (1x = no burst beyond the rate). */
const multiplier = () =>
  z.union([z.string(), z.number()]).transform((v, ctx): number => {
    const n = typeof v === 'number' ? v : /^\d{1,4}(\.\d{1,3})?x$/.test(v.trim()) ? Number(v.trim().slice(0, -1)) : NaN;
    if (!(n >= 1 && n <= 1000)) {
      ctx.addIssue({ code: 'custom', message: 'expected a multiple of the rate from 1x to 1000x, e.g. 2x' });
      return z.NEVER;
    }
    return n;
  });

/** What a rate limit counts per: their combination is the key (none: one bucket for everyone the rule matches). */
export const RATE_KEY_PARTS = ['principal', 'token', 'tenant', 'ip', 'route'] as const;
export type RateKeyPart = (typeof RATE_KEY_PARTS)[number];

const HTTP_METHOD = z.string().regex(/^[A-Z]{1,16}$/, 'an HTTP method in capitals (GET, POST …)');

export const rateRuleSchema = z.strictObject({
  /** Shown in RateLimit-Policy, the audit record and the error's data. */
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a name is letters, digits and _.- (at most 64)'),
  per: z.union([z.enum(RATE_KEY_PARTS), z.array(z.enum(RATE_KEY_PARTS)).max(RATE_KEY_PARTS.length)]).default('principal')
    .transform((p) => [...new Set(typeof p === 'string' ? [p] : p)]),
  limit: rate(),
  /** The most requests at once; default limit × burst_tolerance (rounded up). */
  burst: z.number().int().min(1).max(1_000_000_000).optional(),
  burst_tolerance: multiplier().optional(),
  /** Only these routes (by name); default every route. */
  routes: z.array(z.string().min(1)).min(1).optional(),
  /** Only these methods; default every method. */
  methods: z.array(HTTP_METHOD).min(1).optional(),
  /** Only these MCP tools (counted once the call is classified and authorized); default: not tool-specific. */
  tools: z.array(z.string().min(1)).min(1).optional(),
});
export type RateRuleConfig = z.infer<typeof rateRuleSchema>;

/**
 * The 'limits' section (ARCHITECTURE.md's throttle stage; seed 002's `protection` block: connection_rate_limit,
 * burst_tolerance; seed 001's "rate limiting per token"; issue 3: "the limits work will lock out on" the failures).
 */
export const limitsSection = section({
  enabled: z.boolean().default(true),
  /** Default burst for every rate, as a multiple of it (seed 002). */
  burst_tolerance: multiplier().default(2),
  /** New connections per client (IPv4 address, IPv6 /64) per period, e.g. 10/sec (seed 002); unset: no limit. */
  connection_rate_limit: rate().optional(),
  rates: z.array(rateRuleSchema).max(256).default([]).superRefine((rules, ctx) => {
    const seen = new Set<string>();
    for (const [i, r] of rules.entries()) {
      if (seen.has(r.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate rate limit name "${r.name}"` });
      seen.add(r.name);
      if (r.burst !== undefined && r.burst_tolerance !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'burst'], message: 'set burst or burst_tolerance, not both' });
    }
  }),
  /** Keys (clients, principals …) remembered per rule; past it the longest-idle key is forgotten. */
  max_keys: z.number().int().min(100).max(10_000_000).default(100_000),
  /** Under server.workers: how often workers tell each other what they admitted (the overshoot bound, docs/limits.md). */
  sync_interval: timerDuration('100ms').refine((ms) => ms >= 10, 'at least 10ms'),
  lockout: section({
    enabled: z.boolean().default(true),
    /** Failed authentications within `window` that lock the source out. */
    max_failures: z.number().int().min(1).max(1_000_000).default(10),
    window: duration('15m').refine((ms) => ms >= 1000, 'at least 1s'),
    duration: duration('15m').refine((ms) => ms >= 1000 && ms <= 365 * 86_400_000, 'from 1s to 365d'),
    /**
     * What is locked out: the client address (IPv4, IPv6 /64), the claimed principal (a Basic user name, an API key
     * id), or both. `principal` lets anyone lock a known user out by failing on purpose: opt in knowingly.
     */
    per: z.array(z.enum(['ip', 'principal'])).min(1).default(['ip']).transform((p) => [...new Set(p)]),
    /** Addresses or CIDRs never locked out (monitoring, a NAT you vouch for). */
    exempt: z.array(ipOrCidr()).default([]),
    /** How often lockouts made elsewhere (another worker or gateway, the CLI) are read from the state store. */
    poll: timerDuration('250ms').refine((ms) => ms >= 10, 'at least 10ms'),
  }),
});
export type LimitsConfig = z.infer<typeof limitsSection>;
