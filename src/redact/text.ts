/**
 * The free-text redactor: one scanner pass finds every rule's triggers, each rule looks at its trigger's
 * surroundings and records a span, then known secrets and configured rules add theirs, the allow-list
 * keeps its exceptions, and the spans are replaced in one copy. Text without any trigger, known secret or
 * user-rule match is returned as is (the same string, no copy).
 */
import { basic, bearer } from './rules/auth.js';
import { passwordFlag, userColonPassword } from './rules/cli.js';
import { KV_TRIGGERS, keyValue } from './rules/kv.js';
import { pathRule } from './rules/paths.js';
import { pemRules } from './rules/pem.js';
import { tokenRules } from './rules/tokens.js';
import { urlCredentials } from './rules/url.js';
import { buildScanner, type Scanner } from './scanner.js';
import { KeyClassifier } from './names.js';
import type { EntropyOptions } from './entropy.js';
import type { KnownSecrets } from './known.js';
import { AllowList, findUserSpans, type CompiledUserRule } from './user-rules.js';
import { encodedRuns, percentDecode } from './percent.js';
import { ScanContext, type Rule, type RuleOptions, type Span } from './types.js';

export interface TextEngineOptions {
  /** Extra sensitive key names (whole names, case-insensitive). */
  keys?: readonly string[];
  /** Extra sensitive directories for the file-path rule. */
  dirs?: readonly string[];
  /** Entropy test for values after secret-ish names; false turns those names off. */
  entropy?: EntropyOptions | false;
  rules?: readonly CompiledUserRule[];
  allow?: AllowList;
}

/** The built-in rules, in the order they are asked about a shared trigger. */
export function builtinRules(extraKeys: readonly string[] = [], extraDirs: readonly string[] = []): Rule[] {
  const kv: Rule = extraKeys.length ? { ...keyValue, triggers: [...KV_TRIGGERS, ...extraKeys] } : keyValue;
  return [bearer, basic, kv, urlCredentials, ...pemRules, pathRule(extraDirs), userColonPassword, passwordFlag, ...tokenRules];
}

export interface FoundSpans {
  spans: Span[];
  /** A PEM block started and did not end in this text. */
  openPem: boolean;
  /**
   * Declined triggers near a span, as (pattern, start, end) triples: only their rules could decide otherwise
   * once the spans are replaced. Empty when a second pass cannot find anything.
   */
  recheck: readonly number[];
  /** Some spans were found in the percent-decoded text (then a second pass always looks again). */
  decoded?: boolean;
}

const ASCII_NAME = /^[\x21-\x7e]{1,128}$/;
const NONE = Object.freeze([]) as unknown as Span[];
const NO_POSITIONS = Object.freeze([]) as unknown as number[];
const NOTHING: FoundSpans = Object.freeze({ spans: NONE, openPem: false, recheck: NO_POSITIONS }) as FoundSpans;

/** At most this many passes to the fixed point (one in the common case; see redactState). */
const MAX_PASSES = 4;
/** How close to a span a declined trigger must be for its rule to possibly decide otherwise after the replacement. */
const NEAR = 64;

/**
 * The triggers to ask again after the spans are replaced, as (pattern, start, end) triples in order: those
 * never looked at (pattern stored negative), and the declined ones within NEAR characters of a span.
 */
function nearSpans(spans: readonly Span[], declined: readonly number[]): number[] {
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < declined.length; i += 3) {
    const p = declined[i]!;
    const start = declined[i + 1]!;
    const end = declined[i + 2]!;
    if (p < 0) {
      out.push(-p - 1, start, end);
      continue;
    }
    while (k < spans.length && spans[k]!.end + NEAR < start) k++;
    if (k < spans.length && spans[k]!.start - NEAR <= end) out.push(p, start, end);
  }
  return out;
}

export class TextEngine {
  private readonly rules: Rule[];
  private readonly scanner: Scanner;
  private readonly byPattern: number[][];
  private readonly options: RuleOptions;
  private readonly userRules: readonly CompiledUserRule[];
  private readonly allow: AllowList;

  constructor(opts: TextEngineOptions = {}) {
    const keys = (opts.keys ?? []).map((k) => k.toLowerCase());
    const dirs = (opts.dirs ?? []).map((d) => normaliseDir(d));
    for (const k of keys) if (!ASCII_NAME.test(k)) throw new TypeError('redact keys are printable ASCII names of at most 128 characters');
    for (const d of dirs) if (!ASCII_NAME.test(d) && !/^[\x20-\x7e]{1,1024}$/.test(d)) throw new TypeError('redact paths are printable ASCII');
    this.options = {
      keys: new KeyClassifier(new Set(keys)),
      dirs,
      entropy: opts.entropy === false ? undefined : (opts.entropy ?? { minLength: 16, minBits: 3.0 }),
    };
    this.rules = builtinRules(keys, dirs);
    const index = new Map<string, number[]>();
    this.rules.forEach((r, ri) => {
      for (const t of r.triggers) {
        const key = t.toLowerCase();
        const list = index.get(key);
        if (!list) index.set(key, [ri]);
        else if (!list.includes(ri)) list.push(ri);
      }
    });
    // "%" and "\u" last: the scan that finds the triggers also says whether there is anything to decode (percent.ts),
    // so text without either pays nothing for it.
    this.percentPattern = index.size;
    this.scanner = buildScanner([...index.keys(), '%', '\\u']);
    this.byPattern = [...index.values()];
    this.userRules = opts.rules ?? [];
    this.allow = opts.allow ?? new AllowList();
    this.ctx = new ScanContext(this.options, this.rules.length);
  }

  /**
   * The scan state, reused (findSpans is synchronous and not re-entered) and only reset when a scan meets its
   * first trigger: text without any trigger allocates nothing.
   */
  private readonly ctx: ScanContext;
  private ctxFresh = false;
  private scanText = '';
  private readonly percentPattern: number;
  /** Where the scan met the first "%", or -1. */
  private firstPercent = -1;
  private readonly onTrigger = (p: number, start: number, end: number): void => {
    if (p >= this.percentPattern) {
      if (this.firstPercent < 0 || start < this.firstPercent) this.firstPercent = start;
      return;
    }
    const ctx = this.ctx;
    if (!this.ctxFresh) {
      ctx.reset(this.scanText);
      this.ctxFresh = true;
    }
    if (start < ctx.floor) {
      // Skipped: inside the last span it is gone; before it (a rule pushed a span that starts further on),
      // it was never looked at, and the next pass must.
      const last = ctx.spans[ctx.spans.length - 1];
      if (last && start < last.start) ctx.declined.push(-p - 1, start, end); // negative: never looked at
      return;
    }
    const list = this.byPattern[p]!;
    for (let k = 0; k < list.length; k++) {
      const ri = list[k]!;
      if (this.rules[ri]!.match(ctx, start, end, ri)) return;
    }
    ctx.declined.push(p, start, end);
  };

  /** Every span to replace in `text`, sorted and non-overlapping; `decode`: also in its percent-decoded runs. */
  findSpans(text: string, known: readonly KnownSecrets[] = [], decode = true): FoundSpans {
    this.scanText = text;
    this.ctxFresh = false;
    this.firstPercent = -1;
    this.scanner.scan(text, 0, this.onTrigger);
    const found = this.spansOf(text, known);
    if (!decode || this.firstPercent < 0) return found;
    const decoded = this.decodedSpans(text, this.firstPercent, known);
    if (decoded.length === 0) return found;
    return { spans: mergeSpans(found.spans.concat(decoded)), openPem: found.openPem, recheck: found.recheck, decoded: true };
  }

  /**
   * The spans the rules find in the percent-decoded form of each run of `text` holding an escape, mapped back onto
   * `text` (see percent.ts). Each span covers whole escapes.
   */
  private decodedSpans(text: string, from: number, known: readonly KnownSecrets[]): Span[] {
    const runs = encodedRuns(text, from);
    const out: Span[] = [];
    for (let k = 0; k < runs.length; k += 2) {
      const d = percentDecode(text, runs[k]!, runs[k + 1]!);
      if (!d) continue;
      for (const s of this.findSpans(d.text, known, false).spans) {
        const start = d.map[s.start]!;
        const end = d.map[s.end]!;
        if (end > start) out.push({ ...s, start, end });
      }
    }
    return out;
  }

  /** The spans of the scan just made (findSpans), with user rules, the allow-list and known secrets. */
  private spansOf(text: string, known: readonly KnownSecrets[]): FoundSpans {
    const touched = this.ctxFresh;
    let ruleSpans = touched ? this.ctx.spans : [];
    const openPem = touched && this.ctx.openPem;
    const declined = touched ? this.ctx.declined : NO_POSITIONS;
    if (touched) this.ctx.reset('');
    if (this.userRules.length) findUserSpans(this.userRules, text, ruleSpans);
    if (!this.allow.empty) ruleSpans = this.allow.filter(text, ruleSpans);
    let knownSpans: Span[] | undefined;
    for (const k of known) {
      if (k.size === 0) continue;
      k.find(text, (knownSpans ??= []));
    }
    if (!knownSpans?.length && this.userRules.length === 0) {
      if (ruleSpans.length === 0) return openPem ? { spans: NONE, openPem, recheck: NO_POSITIONS } : NOTHING;
      return { spans: ruleSpans, openPem, recheck: nearSpans(ruleSpans, declined) };
    }
    const spans = mergeSpans(knownSpans ? ruleSpans.concat(knownSpans) : ruleSpans);
    return { spans, openPem, recheck: nearSpans(spans, declined) };
  }

  /**
   * The second pass, cheaply: asks only the rules of the triggers in `recheck` (positions in the text before
   * `spans` were applied) again, on the output. True when one of them now finds something.
   */
  private recheckFinds(out: string, spans: readonly Span[], recheck: readonly number[]): boolean {
    const ctx = this.ctx;
    ctx.reset(out);
    try {
      let k = 0;
      let shift = 0;
      for (let i = 0; i < recheck.length; i += 3) {
        const start = recheck[i + 1]!;
        const end = recheck[i + 2]!;
        while (k < spans.length && spans[k]!.end <= start) {
          shift += spans[k]!.replacement.length - (spans[k]!.end - spans[k]!.start);
          k++;
        }
        if (k < spans.length && end > spans[k]!.start) continue; // overlaps a replaced span: gone
        if (start + shift < ctx.floor) continue;
        for (const ri of this.byPattern[recheck[i]!]!) if (this.rules[ri]!.match(ctx, start + shift, end + shift, ri)) return true;
      }
      return false;
    } finally {
      ctx.reset('');
    }
  }

  /**
   * Redacts to a fixed point: removing one secret can expose another rule's context ("mysql -pX … -pY"), so
   * the lines around each replacement are looked at again (at most MAX_PASSES in all). Only those lines: text
   * without secrets costs one pass, a 64 KiB batch with two secrets in it barely more. So
   * redact(redact(x)) === redact(x).
   */
  redact(text: string, known: readonly KnownSecrets[] = []): string {
    return this.redactState(text, known).text;
  }

  /** redact, and whether a PEM block is left open at the end (for streams that continue it). */
  redactState(text: string, known: readonly KnownSecrets[] = []): { text: string; openPem: boolean } {
    const first = this.findSpans(text, known);
    if (first.spans.length === 0) return { text, openPem: first.openPem };
    let changed: Array<[number, number]> = [];
    let out = applySpans(text, first.spans, changed);
    // Configured rules' replacements are arbitrary text: with them, always look again around the replacements. So
    // with spans found in decoded text: the rules did not see the original's context.
    if (this.userRules.length === 0 && !first.decoded && (first.recheck.length === 0 || !this.recheckFinds(out, first.spans, first.recheck))) {
      return { text: out, openPem: first.openPem };
    }
    for (let pass = 1; pass < MAX_PASSES && changed.length > 0; pass++) {
      const regions = lineRegions(out, changed);
      changed = [];
      let next = '';
      let at = 0;
      for (const [a, b] of regions) {
        next += out.slice(at, a);
        const sub = out.slice(a, b);
        const { spans } = this.findSpans(sub, known);
        if (spans.length === 0) next += sub;
        else {
          const local: Array<[number, number]> = [];
          const base = next.length;
          next += applySpans(sub, spans, local);
          for (const [x, y] of local) changed.push([base + x, base + y]);
        }
        at = b;
      }
      out = next + out.slice(at);
    }
    return { text: out, openPem: first.openPem };
  }
}

/**
 * The line around each range, with one line more on each side, merged: the context a second pass needs.
 * Ranges are sorted; each scan stops at the previous region, so the whole is linear in the text.
 */
function lineRegions(text: string, ranges: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [x, y] of ranges) {
    const last = out[out.length - 1];
    if (last && y <= last[1]) continue; // inside the previous region
    let a = x;
    const floor = last ? last[1] : 0;
    for (let nl = 0; a > floor; a--) if (text.charCodeAt(a - 1) === 10 && ++nl === 2) break;
    let b = y;
    for (let nl = 0; b < text.length; ) if (text.charCodeAt(b++) === 10 && ++nl === 2) break;
    if (last && a <= last[1]) last[1] = b;
    else out.push([a, b]);
  }
  return out;
}

function normaliseDir(d: string): string {
  let p = d.toLowerCase().replaceAll('\\', '/');
  if (!p.endsWith('/')) p += '/';
  return p;
}

/** Sorts and unions overlapping spans; a union keeps the first span's replacement. */
export function mergeSpans(spans: Span[]): Span[] {
  if (spans.length < 2) return spans;
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Span[] = [{ ...spans[0]! }];
  for (let k = 1; k < spans.length; k++) {
    const s = spans[k]!;
    const last = out[out.length - 1]!;
    if (s.start < last.end) last.end = Math.max(last.end, s.end);
    else out.push({ ...s });
  }
  return out;
}

/** Replaces each span (sorted, disjoint) with its replacement; records where the replacements landed. */
export function applySpans(text: string, spans: readonly Span[], landed?: Array<[number, number]>): string {
  if (spans.length === 0) return text;
  let out = '';
  let at = 0;
  for (const s of spans) {
    out += text.slice(at, s.start);
    landed?.push([out.length, out.length + s.replacement.length]);
    out += s.replacement;
    at = s.end;
  }
  return out + text.slice(at);
}
