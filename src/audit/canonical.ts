/**
 * Canonical JSON, the serialisation the audit hash chain is computed over (docs/audit.md § Canonical form).
 *
 * - object members sorted by key, comparing UTF-16 code units (Array.prototype.sort's default, as RFC 8785 JCS);
 * - no whitespace anywhere;
 * - strings and numbers exactly as ECMAScript JSON.stringify writes them (RFC 8785 uses the same rules);
 * - members whose value is undefined are omitted; non-finite numbers never reach it (toAuditValue maps them to null).
 *
 * We cannot just JSON.stringify an object built with sorted keys: V8 always puts integer-like keys ("9", "10")
 * first in numeric order, which is not code-unit order. So objects are serialised here member by member.
 */

/**
 * Sorts keys in place by UTF-16 code units, as Array.prototype.sort's default does. Most key lists arrive sorted or
 * nearly so and are short: they are checked, or insertion-sorted, without the work area V8's TimSort allocates on
 * every call (about 1.7 KB each, a third of an audit record's garbage on the proxy path).
 */
export function sortKeys(keys: string[]): string[] {
  const n = keys.length;
  if (n > 16) return keys.sort();
  for (let i = 1; i < n; i++) {
    const k = keys[i] as string;
    let j = i - 1;
    if ((keys[j] as string) <= k) continue;
    while (j >= 0 && (keys[j] as string) > k) {
      keys[j + 1] = keys[j] as string;
      j--;
    }
    keys[j + 1] = k;
  }
  return keys;
}

/** Serialises a JSON value canonically. The value must be JSON-safe (see toAuditValue). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const item: unknown = value[i];
      out += item === undefined ? 'null' : canonicalJson(item);
    }
    return out + ']';
  }
  const obj = value as Record<string, unknown>;
  const keys = sortKeys(Object.keys(obj));
  let out = '{';
  let first = true;
  for (const key of keys) {
    const v = obj[key];
    if (v === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += JSON.stringify(key) + ':' + canonicalJson(v);
  }
  return out + '}';
}

export interface AuditValueLimits {
  /** Deepest nesting kept; deeper values become "[depth]". */
  maxDepth: number;
  /** Longer strings are cut and marked. */
  maxString: number;
  /** Arrays keep this many items, objects this many members (the first ones, in insertion order). */
  maxItems: number;
}

export const DEFAULT_VALUE_LIMITS: AuditValueLimits = { maxDepth: 12, maxString: 4096, maxItems: 256 };

/** Set by toAuditValue when a copied object has a key starting with a digit (see copyIsStringifiable). */
export interface CopyState {
  digitKeys: boolean;
  /** Set when a string or key was cut to its limit. */
  cut?: boolean;
}

/** The audit log's redactor (record.ts), for strings that are cut: see redactedPrefix. */
export type RedactBeforeCut = (value: unknown) => unknown;

/** Past the cut, a long string is redacted over this many more characters: a secret across the cut is seen whole. */
const REDACT_AHEAD = 4096;
/** When that window cuts the string too, this many characters before its end are dropped (a secret across it). */
const WINDOW_TAIL = 256;

/**
 * The first `keep` characters of `s` after redaction. Redacting first and cutting after means a secret across the
 * cut is found whole, not left as a prefix no rule recognises (`ghp_aB3dE5…` of a 40-character token). Only long
 * strings come here, so short ones cost nothing more.
 */
export function redactedPrefix(s: string, keep: number, redact: RedactBeforeCut): string {
  const windowEnd = keep + REDACT_AHEAD;
  const windowCut = s.length > windowEnd;
  const out = redact(windowCut ? s.slice(0, windowEnd) : s);
  let r = typeof out === 'string' ? out : '';
  if (windowCut) r = r.slice(0, Math.max(0, r.length - WINDOW_TAIL));
  return r.length > keep ? r.slice(0, keep) : r;
}

/**
 * Copies anything a capability hands us into a bounded, JSON-safe tree of plain objects whose members
 * are inserted in canonical order: no cycles (depth-bounded), no functions, no huge strings, no non-finite
 * numbers, no class instances. When no copied key starts with a digit (state.digitKeys stays false), plain
 * JSON.stringify of the copy is already canonical — V8 keeps insertion order for every other key.
 */
export function toAuditValue(value: unknown, limits: AuditValueLimits = DEFAULT_VALUE_LIMITS, depth = 0, state?: CopyState, redact?: RedactBeforeCut): unknown {
  switch (typeof value) {
    case 'string':
      return value.length > limits.maxString ? cutString(value, limits.maxString, state, redact) : value;
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    default:
      break;
  }
  if (value === null) return null;
  if (depth >= limits.maxDepth) return '[depth]';
  if (value instanceof Date) return Number.isFinite(value.getTime()) ? value.toISOString() : null;
  if (value instanceof Uint8Array) return `[binary ${value.byteLength} bytes]`;
  if (Array.isArray(value)) {
    const n = Math.min(value.length, limits.maxItems);
    const out: unknown[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const v = toAuditValue(value[i], limits, depth + 1, state, redact);
      out[i] = v === undefined ? null : v;
    }
    if (value.length > n) out.push(`…[${value.length - n} more items]`);
    return out;
  }
  const all = Object.keys(value as object);
  const keys = all.length > limits.maxItems ? all.slice(0, limits.maxItems) : all;
  const copied = Object.create(null) as Record<string, unknown>;
  for (const key of keys) {
    const member = (value as Record<string, unknown>)[key];
    if (key.length > MAX_KEY) {
      // The redactor judges the value under its whole name before the name is cut: cut first, "x…x_password" would
      // lose the word that makes its value secret.
      const v = toAuditValue(redact ? redactUnderKey(key, member, redact) : member, limits, depth + 1, state, redact);
      if (v !== undefined) copied[cutKey(key, state, redact)] = v;
      continue;
    }
    const v = toAuditValue(member, limits, depth + 1, state, redact);
    if (v !== undefined) copied[key] = v;
  }
  if (all.length > keys.length) copied['…'] = `[${all.length - keys.length} more keys]`;
  const sorted = sortKeys(Object.keys(copied));
  // A plain object (JSON.stringify is faster on it than on a dictionary-mode null-prototype one); "__proto__" is
  // defined as an own property, never assigned, so no key can reach the prototype.
  const out: Record<string, unknown> = {};
  for (const key of sorted) {
    const c = key.charCodeAt(0);
    if (state && c >= 0x30 && c <= 0x39) state.digitKeys = true;
    if (key === '__proto__') Object.defineProperty(out, key, { value: copied[key], enumerable: true, writable: true, configurable: true });
    else out[key] = copied[key];
  }
  return out;
}

/** A string longer than `max`: redacted (when a redactor is given) and cut, with the count of what is left out. */
function cutString(s: string, max: number, state: CopyState | undefined, redact: RedactBeforeCut | undefined): string {
  if (state) state.cut = true;
  return `${redact ? redactedPrefix(s, max, redact) : s.slice(0, max)}…[${s.length - max} more]`;
}

/** Longer keys are cut to this many characters (after redaction: see redactUnderKey and redactedPrefix). */
const MAX_KEY = 256;

function cutKey(key: string, state: CopyState | undefined, redact: RedactBeforeCut | undefined): string {
  if (state) state.cut = true;
  return redact ? redactedPrefix(key, MAX_KEY, redact) : key.slice(0, MAX_KEY);
}

/**
 * The value of a member whose key is about to be cut, as the redactor leaves it under the whole key: the redactor
 * is given `{ [key]: value }` and its one member is taken back. Anything else back (a redactor that does not keep
 * objects) is not trusted with the value: "[REDACTED]".
 */
function redactUnderKey(key: string, value: unknown, redact: RedactBeforeCut): unknown {
  const out = redact({ [key]: value });
  if (out !== null && typeof out === 'object' && !Array.isArray(out)) {
    const members = Object.values(out);
    if (members.length === 1) return members[0];
  }
  return '[REDACTED]';
}

/**
 * True when toAuditValue would return an equal tree and JSON.stringify of the value is already canonical: plain
 * objects (keys in code-unit order, none starting with a digit, none "__proto__") and arrays within the limits,
 * holding only short strings, finite numbers, booleans, null and undefined.
 */
function isCanonicalPlain(value: object, limits: AuditValueLimits, depth: number): boolean {
  if (depth >= limits.maxDepth) return false;
  if (Array.isArray(value)) {
    if (value.length > limits.maxItems) return false;
    for (let i = 0; i < value.length; i++) if (!isCanonicalMember(value[i], limits, depth)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  const keys = Object.keys(value);
  if (keys.length > limits.maxItems) return false;
  let prev = '';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const c = key.charCodeAt(0);
    if (key <= prev || key.length > MAX_KEY || (c >= 0x30 && c <= 0x39) || key === '__proto__') return false;
    prev = key;
    if (!isCanonicalMember((value as Record<string, unknown>)[key], limits, depth)) return false;
  }
  return true;
}

function isCanonicalMember(v: unknown, limits: AuditValueLimits, depth: number): boolean {
  switch (typeof v) {
    case 'string':
      return v.length <= limits.maxString;
    case 'number':
      return Number.isFinite(v);
    case 'boolean':
      return true;
    case 'object':
      return v === null || isCanonicalPlain(v, limits, depth + 1);
    case 'undefined':
      // Omitted from objects and null in arrays, by JSON.stringify and toAuditValue alike.
      return true;
    default:
      return false;
  }
}

/**
 * toAuditValue without the copy when it would change nothing: nested plain objects whose keys are already in
 * canonical order (none starting with a digit) and arrays, holding short strings, finite numbers, booleans, null or
 * undefined — the usual tool arguments and record metadata. Only for values serialised right away and never edited.
 */
export function toAuditValueShared(value: unknown, state: CopyState, limits: AuditValueLimits = DEFAULT_VALUE_LIMITS, redact?: RedactBeforeCut): unknown {
  if (value !== null && typeof value === 'object' && !(value instanceof Date) && !(value instanceof Uint8Array) && isCanonicalPlain(value, limits, 0)) return value;
  return toAuditValue(value, limits, 0, state, redact);
}
