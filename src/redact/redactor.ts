/**
 * createRedactor: the one object the rest of Gatehouse uses to make text and values safe to write.
 */
import type { RedactConfig } from '../config/schema/redact.js';
import { DEFAULT_ENTROPY, type EntropyOptions } from './entropy.js';
import { compileFields } from './fields.js';
import { KnownSecrets, globalKnownSecrets } from './known.js';
import { KeyClassifier } from './names.js';
import { TextEngine, type FoundSpans } from './text.js';
import { AllowList, compileUserRules, type AllowInput, type UserRuleInput } from './user-rules.js';
import { redactStructured, type ValueOptions } from './value.js';
import { safeError, type SafeError } from './errors.js';

/** The redact config section, or any part of it (library users may pass a plain object). */
export interface RedactorOptions {
  rules?: readonly UserRuleInput[];
  allow?: readonly AllowInput[];
  keys?: readonly string[];
  fields?: readonly string[];
  paths?: readonly string[];
  entropy?: Partial<RedactConfig['entropy']>;
  /** Objects nested deeper than this become "[Depth limit]". Default 32. */
  maxDepth?: number;
  /** Skip the process-wide registry of known secrets (tests). Default false. */
  isolated?: boolean;
  /** Where rules and allow entries came from, for error messages (default "redact": redact.rules[2]). */
  source?: string;
}

export interface Redactor {
  /** Free text: seed 004's outputs (Bearer [REDACTED], password: [REDACTED], [CERTIFICATE REDACTED] …). */
  redactText(s: string): string;
  /** A redacted copy of any value (by key name, field path and value); the argument is never mutated. */
  redactValue<T>(v: T): T;
  /** Like redactValue but by key name and field path only: strings are left to a later text pass (the logger). */
  redactKeys<T>(v: T): T;
  /** Any thrown value → { name, code?, message, detail?, stack? } with every string redacted. */
  redactError(err: unknown, opts?: { stack?: boolean }): SafeError;
  /** Registers a value this redactor removes wherever it appears verbatim (ignored below 8 characters). */
  addKnownSecret(value: string): boolean;
  /** The spans redactText's first pass replaces, and whether a PEM block is left open at the end (tests, tooling). */
  findSpans(s: string): FoundSpans;
  /** redactText, also saying whether a PEM block is left open at the end (streams continue it in the next chunk). */
  redactChunk(s: string): { text: string; openPem: boolean };
  /** Configured field paths (pino syntax). */
  readonly fields: readonly string[];
}

function entropyOf(e: RedactorOptions['entropy']): EntropyOptions | false {
  if (e?.enabled === false) return false;
  return { minLength: e?.min_length ?? DEFAULT_ENTROPY.minLength, minBits: e?.min_bits ?? DEFAULT_ENTROPY.minBits };
}

/**
 * Builds a redactor from the redact config section (all of it optional). Throws GH_REDACT_RULE_UNSAFE
 * naming the rule (redact.rules[i], redact.allow[i]) when a configured pattern fails the safety check,
 * and TypeError for malformed options.
 */
export function createRedactor(cfg: RedactorOptions | RedactConfig = {}): Redactor {
  const opts = cfg as RedactorOptions;
  const entropy = entropyOf(opts.entropy);
  const keys = [...(opts.keys ?? [])];
  const engine = new TextEngine({
    keys,
    dirs: opts.paths ?? [],
    entropy,
    rules: compileUserRules(opts.rules ?? [], `${opts.source ?? 'redact'}.rules`),
    allow: new AllowList(opts.allow ?? [], `${opts.source ?? 'redact'}.allow`),
  });
  const own = new KnownSecrets();
  const known = opts.isolated ? [own] : [globalKnownSecrets, own];
  const fields = [...(opts.fields ?? [])];
  const maxDepth = opts.maxDepth ?? 32;
  if (!Number.isInteger(maxDepth) || maxDepth < 1 || maxDepth > 1000) throw new TypeError('maxDepth is an integer from 1 to 1000');
  const redactText = (s: string): string => (typeof s === 'string' ? engine.redact(s, known) : s);
  const base = {
    keys: new KeyClassifier(new Set(keys.map((k) => k.toLowerCase()))),
    fields: compileFields(fields),
    entropy: entropy === false ? undefined : entropy,
    maxDepth,
  };
  const redactKey = keyRedactor(redactText, known);
  const full: ValueOptions = { ...base, text: cleanMemo(redactText, known), key: redactKey };
  const keysOnly: ValueOptions = { ...base, text: (s) => s, key: (k) => k };
  const redactor: Redactor = {
    redactText,
    redactValue: <T>(v: T) => redactStructured(v, full) as T,
    redactKeys: <T>(v: T) => redactStructured(v, keysOnly) as T,
    redactError: (err, o) => safeError(err, redactText, o),
    addKnownSecret: (value) => own.add(value),
    findSpans: (s) => engine.findSpans(s, known),
    redactChunk: (s) => engine.redactState(s, known),
    fields,
  };
  return redactor;
}

/**
 * Key names through the text rules, memoised (keys repeat): a map keyed by a token must not carry it out.
 * Keys shorter than 8 characters hold no secret the rules or the registry would match. The memo is dropped
 * when a known secret is added.
 */
function keyRedactor(text: (s: string) => string, known: readonly KnownSecrets[]): (k: string) => string {
  const memo = new Map<string, string>();
  let version = -1;
  return (k) => {
    if (k.length < 8) return k;
    const v = known.reduce((n, s) => n + s.version, 0);
    if (v !== version || memo.size >= 4096) {
      memo.clear();
      version = v;
    }
    let out = memo.get(k);
    if (out === undefined) memo.set(k, (out = text(k)));
    return out;
  };
}

/** Strings up to this length are remembered once they are found clean (field values repeat across log lines). */
const MEMO_MAX_LENGTH = 96;
const MEMO_MAX_ENTRIES = 4096;

/**
 * The text rules for structured values, remembering the short strings found clean: in logged objects most values
 * ("GET", "application/json", a route name) repeat on every line. Only clean strings are kept (never a string that
 * held a secret), and the memory is dropped when a known secret is added, since a string clean before may not be.
 */
function cleanMemo(text: (s: string) => string, known: readonly KnownSecrets[]): (s: string) => string {
  const clean = new Set<string>();
  let version = -1;
  return (s) => {
    if (typeof s !== 'string' || s.length > MEMO_MAX_LENGTH) return text(s);
    let v = 0;
    for (let i = 0; i < known.length; i++) v += (known[i] as KnownSecrets).version;
    if (v !== version || clean.size >= MEMO_MAX_ENTRIES) {
      clean.clear();
      version = v;
    }
    if (clean.has(s)) return s;
    const out = text(s);
    if (out === s) clean.add(s);
    return out;
  };
}

let shared: Redactor | undefined;

/** A redactor with the built-in rules only (and the process-wide known secrets), built once. */
export function defaultRedactor(): Redactor {
  return (shared ??= createRedactor());
}
