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
}

const ASCII_NAME = /^[\x21-\x7e]{1,128}$/;
const MAX_PASSES = 4;

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
    this.scanner = buildScanner([...index.keys()]);
    this.byPattern = [...index.values()];
    this.userRules = opts.rules ?? [];
    this.allow = opts.allow ?? new AllowList();
  }

  /** The scan in progress (findSpans is synchronous, so one slot suffices) and its trigger callback, made once. */
  private ctx: ScanContext | undefined;
  private readonly onTrigger = (p: number, start: number, end: number): void => {
    const ctx = this.ctx!;
    if (start < ctx.floor) return;
    const list = this.byPattern[p]!;
    for (let k = 0; k < list.length; k++) {
      const ri = list[k]!;
      if (this.rules[ri]!.match(ctx, start, end, ri)) return;
    }
  };

  /** Every span to replace in `text`, sorted and non-overlapping. */
  findSpans(text: string, known: readonly KnownSecrets[] = []): FoundSpans {
    const ctx = new ScanContext(text, this.options, this.rules.length);
    this.ctx = ctx;
    try {
      this.scanner.scan(text, 0, this.onTrigger);
    } finally {
      this.ctx = undefined;
    }
    let ruleSpans = ctx.spans;
    if (this.userRules.length) {
      findUserSpans(this.userRules, text, ruleSpans);
    }
    if (!this.allow.empty) ruleSpans = this.allow.filter(text, ruleSpans);
    const knownSpans: Span[] = [];
    for (const k of known) k.find(text, knownSpans);
    if (knownSpans.length === 0 && this.userRules.length === 0) return { spans: ruleSpans, openPem: ctx.openPem };
    return { spans: mergeSpans(ruleSpans.concat(knownSpans)), openPem: ctx.openPem };
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
