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
const RULE_NAME = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a name is letters, digits and _.- (at most 64)');
/** One key part or a list of them, deduplicated; [] is one allowance for everyone the rule matches. */
const keyParts = (def: RateKeyPart) =>
  z.union([z.enum(RATE_KEY_PARTS), z.array(z.enum(RATE_KEY_PARTS)).max(RATE_KEY_PARTS.length)]).default(def)
    .transform((p) => [...new Set(typeof p === 'string' ? [p] : p)]);

export const rateRuleSchema = z.strictObject({
  /** Shown in RateLimit-Policy, the audit record and the error's data. */
  name: RULE_NAME,
  per: keyParts('principal'),
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

/** A byte rate as written (`10MB/s`, `1GiB/h`): bytes per period. */
export interface ByteRate {
  bytes: number;
  periodMs: number;
}

/** Units as written, case included: `mb` or `Mb` (megabits?) are refused rather than guessed. */
const BYTE_UNITS: ReadonlyMap<string, number> = new Map([
  ['B', 1], ['KB', 1e3], ['MB', 1e6], ['GB', 1e9], ['KiB', 1024], ['MiB', 1024 ** 2], ['GiB', 1024 ** 3],
]);
const BYTE_PERIODS: ReadonlyMap<string, number> = new Map([['s', 1000], ['m', 60_000], ['h', 3_600_000], ['d', 86_400_000]]);
/** 1 PiB: above any link for a day, and sums of such counts stay exact integers in a double. */
export const MAX_BANDWIDTH_BYTES = 2 ** 50;
const UNITS_TEXT = 'B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024), case as written';

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/**
 * Reads `digits[.digits] [spaces] unit` from `t` at `i`: one pass, no regex, at most 12 integer and 3 fraction digits.
 * Returns the bytes and where the size ended, or a problem (a message fragment).
 */
function readSize(t: string, i: number): { bytes: number; end: number } | { problem: 'syntax' | 'unit' | 'fraction' | 'range'; unit?: string } {
  const whole = i;
  while (i < t.length && isDigit(t.charCodeAt(i))) i++;
  const intText = t.slice(whole, i);
  let fracText = '';
  if (t[i] === '.') {
    const f = ++i;
    while (i < t.length && isDigit(t.charCodeAt(i))) i++;
    fracText = t.slice(f, i);
    if (fracText === '') return { problem: 'syntax' };
  }
  if (intText === '' || intText.length > 12 || fracText.length > 3) return { problem: 'syntax' };
  while (t[i] === ' ') i++;
  const u = i;
  while (i < t.length && isLetter(t.charCodeAt(i))) i++;
  const unitText = t.slice(u, i);
  const unit = BYTE_UNITS.get(unitText);
  if (unit === undefined) return unitText === '' ? { problem: 'syntax' } : { problem: 'unit', unit: unitText.slice(0, 8) };
  // frac × unit is an exact integer below 2^53; divided by 10^k it is exact when whole, and not whole otherwise.
  const bytes = Number(intText) * unit + (fracText === '' ? 0 : (Number(fracText) * unit) / 10 ** fracText.length);
  if (!Number.isInteger(bytes)) return { problem: 'fraction' };
  if (bytes < 1 || bytes > MAX_BANDWIDTH_BYTES) return { problem: 'range' };
  return { bytes, end: i };
}

function sizeProblem(r: { problem: string; unit?: string }, shown: string, expected: string): Error {
  switch (r.problem) {
    case 'unit':
      return new Error(`unknown unit "${r.unit ?? ''}" in "${shown}": use ${UNITS_TEXT}`);
    case 'fraction':
      return new Error(`"${shown}" is not a whole number of bytes`);
    case 'range':
      return new Error(`"${shown}": from 1B to 1PiB (2^50 bytes)`);
    default:
      return new Error(`expected ${expected}, got "${shown}"`);
  }
}

/** `10MB/s`, `1.5GiB / h`: a size with a unit, a slash, a period of s, m, h or d. Numbers alone are refused (bytes per what?). */
export function parseByteRate(v: string | number): ByteRate {
  const expected = 'a byte rate like 10MB/s or 1GiB/h (units B, KB, MB, GB, KiB, MiB, GiB; periods s, m, h, d)';
  if (typeof v !== 'string') throw new Error(`expected ${expected}, got a bare number`);
  const t = v.trim();
  const shown = t.slice(0, 32);
  if (t.length > 40) throw new Error(`expected ${expected}, got "${shown}…"`);
  const size = readSize(t, 0);
  if (!('bytes' in size)) throw sizeProblem(size, shown, expected);
  let i = size.end;
  while (t[i] === ' ') i++;
  if (t[i] !== '/') throw new Error(`expected ${expected}, got "${shown}"`);
  i++;
  while (t[i] === ' ') i++;
  const period = t.slice(i);
  const periodMs = BYTE_PERIODS.get(period);
  if (periodMs === undefined) throw new Error(period === '' ? `expected ${expected}, got "${shown}"` : `unknown period "${period.slice(0, 8)}" in "${shown}": use s, m, h or d`);
  return { bytes: size.bytes, periodMs };
}

/** A number of bytes (whole, ≥ 1) or a size with a unit: `64MB`, `1GiB`. */
export function parseByteSize(v: string | number): number {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 1 || v > MAX_BANDWIDTH_BYTES) throw new Error('a size is a whole number of bytes from 1 to 2^50, or a size like 64MB');
    return v;
  }
  const t = v.trim();
  const shown = t.slice(0, 32);
  const expected = 'a size like 64MB or 1GiB (units B, KB, MB, GB, KiB, MiB, GiB)';
  if (t.length > 40) throw new Error(`expected ${expected}, got "${shown}…"`);
  const size = readSize(t, 0);
  if (!('bytes' in size)) throw sizeProblem(size, shown, expected);
  if (size.end !== t.length) throw new Error(`expected ${expected}, got "${shown}"`);
  return size.bytes;
}

const parsing = <T>(parse: (v: string | number) => T) => (v: string | number, ctx: z.RefinementCtx): T => {
  try {
    return parse(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
};
// The parsed form loads too, as for rates: the effective config `gatehouse config check` prints loads back as it is.
const parsedByteRate = z.strictObject({ bytes: z.number().int().min(1).max(MAX_BANDWIDTH_BYTES), periodMs: z.number().int().min(1).max(86_400_000) });
const byteRate = () => z.union([z.string(), z.number(), parsedByteRate]).transform((v, ctx): ByteRate => (typeof v === 'object' ? v : parsing(parseByteRate)(v, ctx)));
const byteSize = () => z.union([z.string(), z.number()]).transform(parsing(parseByteSize));

/** Which bodies a bandwidth rule counts: toward the upstream (`in`), from it (`out`), or both. */
export const BANDWIDTH_DIRECTIONS = ['in', 'out', 'both'] as const;

export const bandwidthRuleSchema = z.strictObject({
  /** Shown in RateLimit-Policy, the audit record and the error's data. */
  name: RULE_NAME,
  /** Seed 002's per-tenant bandwidth: per tenant unless told otherwise. */
  per: keyParts('tenant'),
  /** Bytes per period: `10MB/s`, `1GiB/h`. */
  rate: byteRate(),
  /** Bytes a full allowance holds; default one period's worth of `rate`. */
  burst: byteSize().optional(),
  direction: z.enum(BANDWIDTH_DIRECTIONS).default('both'),
  /** Only these routes (by name); default every route. */
  routes: z.array(z.string().min(1)).min(1).optional(),
  /** Only these methods; default every method. */
  methods: z.array(HTTP_METHOD).min(1).optional(),
});
export type BandwidthRuleConfig = z.infer<typeof bandwidthRuleSchema>;

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
  /** Bytes per tenant (or other key) through request and response bodies (docs/limits.md "Bandwidth"). */
  bandwidth: z.array(bandwidthRuleSchema).max(256).default([]).superRefine((rules, ctx) => {
    const seen = new Set<string>();
    for (const [i, r] of rules.entries()) {
      if (seen.has(r.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate bandwidth limit name "${r.name}"` });
      seen.add(r.name);
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
