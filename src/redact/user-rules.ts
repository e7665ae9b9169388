/**
 * Configured extra rules (redact.rules) and the allow-list (redact.allow). Every pattern passes the
 * safety check (safety.ts) before it is compiled; an unsafe one is refused with GH_REDACT_RULE_UNSAFE
 * naming its place (redact.rules[2]) — never compiled, never run.
 */
import { GatehouseError } from '../core/errors.js';
import { UnsafePatternError, checkPatternSafety } from './safety.js';
import { REDACTED, type Span } from './types.js';

export interface UserRuleInput {
  name: string;
  pattern: string;
  /** Default "[REDACTED]". Literal text: no $1 substitution. */
  replacement?: string | undefined;
  /** "" or "i". */
  flags?: string | undefined;
}

/** An exact string, or { pattern } for a (safety-checked) regular expression. */
export type AllowInput = string | { pattern: string; flags?: string | undefined };

export interface CompiledUserRule {
  readonly name: string;
  readonly re: RegExp;
  readonly replacement: string;
  /** With a capturing group, only group 1 is replaced ("session=([a-z0-9]+)" keeps "session="). */
  readonly group: boolean;
}

const MAX_RULES = 100;
const MAX_ALLOW = 1000;
const MAX_REPLACEMENT = 64;

function unsafe(where: string, reason: string): GatehouseError {
  return new GatehouseError('GH_REDACT_RULE_UNSAFE', `${where} is not safe to run: ${reason}`, { detail: `${where}: ${reason}` });
}

/** Compiles a checked pattern with the g flag (and d when it captures, for group 1's position). */
function compile(where: string, pattern: unknown, flags: unknown): { re: RegExp; group: boolean } {
  if (typeof pattern !== 'string') throw unsafe(where, 'the pattern is not a string');
  const f = flags === undefined ? '' : flags;
  if (typeof f !== 'string') throw unsafe(where, 'flags must be a string');
  try {
    checkPatternSafety(pattern, f);
  } catch (e) {
    if (e instanceof UnsafePatternError) throw unsafe(where, e.message);
    throw e;
  }
  const groups = (new RegExp(`${pattern}|`, f).exec('')?.length ?? 1) - 1;
  return { re: new RegExp(pattern, `g${f}${groups > 0 ? 'd' : ''}`), group: groups > 0 };
}

export function compileUserRules(rules: readonly UserRuleInput[], source = 'redact.rules'): CompiledUserRule[] {
  if (!Array.isArray(rules)) throw new TypeError(`${source} must be a list`);
  if (rules.length > MAX_RULES) throw unsafe(source, `more than ${MAX_RULES} rules`);
  return rules.map((r, i) => {
    const where = `${source}[${i}]`;
    if (typeof r !== 'object' || r === null) throw unsafe(where, 'a rule is { name, pattern, replacement? }');
    const replacement = r.replacement ?? REDACTED;
    if (typeof replacement !== 'string' || replacement.length > MAX_REPLACEMENT) throw unsafe(where, `the replacement must be a string of at most ${MAX_REPLACEMENT} characters`);
    const { re, group } = compile(where, r.pattern, r.flags);
    return { name: String(r.name ?? `rule${i}`).slice(0, 64), re, replacement, group };
  });
}

/** Appends the spans of every user rule's matches. */
export function findUserSpans(rules: readonly CompiledUserRule[], text: string, out: Span[]): void {
  for (const r of rules) {
    r.re.lastIndex = 0;
    for (let m = r.re.exec(text); m !== null; m = r.re.exec(text)) {
      let start = m.index;
      let end = start + m[0].length;
      if (r.group) {
        const g = m.indices?.[1];
        if (!g) continue; // group 1 did not take part: nothing to redact
        [start, end] = g;
      }
      if (end > start) out.push({ start, end, replacement: r.replacement, category: 'custom', rule: `custom:${r.name}` });
      if (m[0].length === 0) r.re.lastIndex++; // unreachable (empty matches are refused), kept as a guard
    }
  }
}

/** Known false positives: a redaction is kept back when what it removes lies inside an allowed occurrence. */
export class AllowList {
  private readonly exact: string[] = [];
  private readonly patterns: RegExp[] = [];

  constructor(entries: readonly AllowInput[] = [], source = 'redact.allow') {
    if (!Array.isArray(entries)) throw new TypeError(`${source} must be a list`);
    if (entries.length > MAX_ALLOW) throw unsafe(source, `more than ${MAX_ALLOW} entries`);
    entries.forEach((e, i) => {
      if (typeof e === 'string') {
        if (e.length > 0) this.exact.push(e);
      } else if (typeof e === 'object' && e !== null) {
        this.patterns.push(compile(`${source}[${i}]`, e.pattern, e.flags).re);
      } else throw unsafe(`${source}[${i}]`, 'an entry is a string or { pattern }');
    });
  }

  get empty(): boolean {
    return this.exact.length === 0 && this.patterns.length === 0;
  }

  /** Removes from `spans` those inside an allowed occurrence in `text`. */
  filter(text: string, spans: Span[]): Span[] {
    if (this.empty || spans.length === 0) return spans;
    const ranges: Array<[number, number]> = [];
    for (const e of this.exact) for (let i = text.indexOf(e); i >= 0; i = text.indexOf(e, i + 1)) ranges.push([i, i + e.length]);
    for (const re of this.patterns) {
      re.lastIndex = 0;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) ranges.push([m.index, m.index + m[0].length]);
    }
    if (ranges.length === 0) return spans;
    return spans.filter((s) => !ranges.some(([a, b]) => s.start >= a && s.end <= b));
  }
}
