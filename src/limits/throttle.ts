import type { Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { Exchange, Stage } from '../core/types.js';
import type { RateTable } from './rate.js';
import { keyOf, rateLimited, ruleMatches, type CompiledRule } from './rules.js';

/**
 * What one process counted since it last told the others: [rule index, key, requests] for limits.rates, and
 * [rule index, key, bytes, 'bytes'] for limits.bandwidth (the index into that list).
 */
export type RateUsage = Array<[number, string, number] | [number, string, number, 'bytes']>;

/**
 * What workers tell each other (server.workers): each process counts what it admits and, every `sync_interval`,
 * hands the counts to the others, which charge them to the same keys. A key's requests therefore count against one
 * allowance whichever worker they reach, to within what the other workers admitted in the last interval.
 */
export class UsageLedger {
  readonly #pending = new Map<number, Map<string, number>>();
  readonly #bytes = new Map<number, Map<string, number>>();
  #size = 0;

  /** `n` requests (or, with `bytes`, n bytes of a bandwidth rule) counted against the key. */
  note(rule: number, key: string, n: number, bytes = false): void {
    const all = bytes ? this.#bytes : this.#pending;
    let keys = all.get(rule);
    if (keys === undefined) all.set(rule, (keys = new Map()));
    const had = keys.get(key);
    if (had === undefined) this.#size++;
    keys.set(key, (had ?? 0) + n);
  }

  /** The counts since the last call, and a fresh start. */
  take(): RateUsage | undefined {
    if (this.#size === 0) return undefined;
    const out: RateUsage = [];
    for (const [rule, keys] of this.#pending) for (const [key, n] of keys) out.push([rule, key, n]);
    for (const [rule, keys] of this.#bytes) for (const [key, n] of keys) out.push([rule, key, n, 'bytes']);
    this.#pending.clear();
    this.#bytes.clear();
    this.#size = 0;
    return out;
  }
}

/** Checks every matching rule, then charges them all: a request refused by one rule uses none of the others. */
function admit(rules: readonly CompiledRule[], ex: Exchange, now: number, ledger: UsageLedger | undefined, count: (rule: CompiledRule) => number): void {
  let hits: Array<[CompiledRule, string, number, number]> | undefined;
  for (const rule of rules) {
    if (!ruleMatches(rule, ex)) continue;
    const n = count(rule);
    if (n === 0) continue;
    const key = keyOf(rule, ex);
    // n > 1 (a batch of tool calls): all of them fit, or the request is refused.
    if (n > rule.table.shape.burst) {
      ex.meta['rate_limit'] = rule.name;
      throw new GatehouseError('GH_RATE_LIMITED', `Too many requests: the batch holds more calls than rate limit "${rule.name}" admits at once (${rule.table.shape.burst}).`, {
        detail: `rate:${rule.name}:batch`,
        data: { rate_limit: rule.name, batch_limit: rule.table.shape.burst },
      });
    }
    const r = rule.table.check(key, now, n);
    if (typeof r !== 'number') {
      ex.meta['rate_limit'] = rule.name; // the audit record names the rule (never the key)
      throw rateLimited(rule, r);
    }
    (hits ??= []).push([rule, key, n, r]);
  }
  if (hits === undefined) return;
  for (const [rule, key, n, next] of hits) {
    rule.table.commit(key, next, now);
    ledger?.note(rule.index, key, n);
  }
}

/** The tool calls of a classified MCP request (a batch may hold several), as classify recorded them. */
function toolCalls(ex: Exchange, tools: ReadonlySet<string>): number {
  const batch = ex.meta['mcp_batch'];
  if (Array.isArray(batch)) {
    let n = 0;
    for (const m of batch) if (typeof m === 'string' && m.startsWith('tools/call:') && tools.has(m.slice(11))) n++;
    return n;
  }
  const tool = ex.operation?.tool;
  return tool !== undefined && ex.operation?.mcp_method === 'tools/call' && tools.has(tool) ? 1 : 0;
}

export interface ThrottleStages {
  /** After identify: the rules without `tools`. */
  throttle: Stage | undefined;
  /** After authorize: the rules with `tools`, counted per call. */
  throttleOperation: Stage | undefined;
}

export function throttleStages(rules: { pre: CompiledRule[]; post: CompiledRule[] }, clock: Clock, ledger: UsageLedger | undefined): ThrottleStages {
  const one = (): number => 1;
  const { pre, post } = rules;
  return {
    throttle: pre.length === 0 ? undefined : (ex) => admit(pre, ex, clock.now(), ledger, one),
    throttleOperation: post.length === 0 ? undefined : (ex) => admit(post, ex, clock.now(), ledger, (rule) => toolCalls(ex, rule.tools as ReadonlySet<string>)),
  };
}

/**
 * Charges usage another worker reported (its [rule index, key, n] entries, and [index, key, bytes, 'bytes'] for
 * `byteRules`); malformed entries are skipped.
 */
export function applyUsage(rules: ReadonlyArray<CompiledRule | undefined>, usage: unknown, now: number, byteRules: ReadonlyArray<{ readonly table: RateTable } | undefined> = []): void {
  forEachEntry(rules, usage, byteRules, (table, key, n, bytes) => table.charge(key, Math.min(n, bytes ? 2 ** 50 : 1e9), now));
}

/** Takes over what another worker's tables owe (Limits.owing: the same entries, with ms owed in place of a count). */
export function restoreOwing(rules: ReadonlyArray<CompiledRule | undefined>, owing: unknown, now: number, byteRules: ReadonlyArray<{ readonly table: RateTable } | undefined> = []): void {
  forEachEntry(rules, owing, byteRules, (table, key, owedMs) => table.restore(key, owedMs, now));
}

/** The well-formed entries of a RateUsage-shaped message from another worker, with the table each names. */
function forEachEntry(rules: ReadonlyArray<CompiledRule | undefined>, entries: unknown, byteRules: ReadonlyArray<{ readonly table: RateTable } | undefined>, fn: (table: RateTable, key: string, n: number, bytes: boolean) => void): void {
  if (!Array.isArray(entries)) return;
  for (const u of entries) {
    if (!Array.isArray(u) || (u.length !== 3 && !(u.length === 4 && u[3] === 'bytes'))) continue;
    const [i, key, n] = u as [unknown, unknown, unknown];
    const bytes = u.length === 4;
    const rule = typeof i === 'number' ? (bytes ? byteRules[i] : rules[i]) : undefined;
    if (rule === undefined || typeof key !== 'string' || typeof n !== 'number' || !Number.isFinite(n)) continue;
    fn(rule.table, key, n, bytes);
  }
}
