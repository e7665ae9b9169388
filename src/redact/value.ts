/**
 * Structured redaction: a copy of any value with secrets removed — by key name at any depth
 * (case-insensitive, the same names as the text rules plus configured ones), by field path, and by value
 * (every string goes through the text rules). The caller's object is never touched; plain objects and arrays
 * that need no change are returned as they are (copy on write), so treat the result as read-only. Cycles become
 * "[Circular]", nesting past the depth limit "[Depth limit]", binary data "[Binary N bytes]". Output
 * objects are plain objects whose keys are all own data properties: a "__proto__" key is copied as data
 * and never reaches a prototype.
 */
import { looksRandom, type EntropyOptions } from './entropy.js';
import { isTerminal, stepFields, NO_FIELDS, type FieldNode } from './fields.js';
import type { KeyClassifier } from './names.js';
import { holdsNoSecret } from './markers.js';
import { isBasicCredentials } from './rules/auth.js';
import { REDACTED } from './types.js';

export interface ValueOptions {
  readonly keys: KeyClassifier;
  readonly fields: FieldNode | undefined;
  readonly entropy: EntropyOptions | undefined;
  readonly maxDepth: number;
  readonly text: (s: string) => string;
  /** Key names themselves can hold secrets (a map keyed by token): redacts a key, or returns it unchanged. */
  readonly key: (k: string) => string;
}

const SCHEME = /^([A-Za-z][A-Za-z0-9-]{0,30})([ \t]+)\S/;
/**
 * Name/value entries whose value is as secret as its name: Kubernetes and ECS env ({ name, value }), SSM and other
 * AWS APIs ({ Name, Value }), header lists ({ key, value }), CloudFormation parameters ({ ParameterKey, ParameterValue }).
 */
const ENTRY_NAME_KEYS = ['name', 'Name', 'key', 'Key', 'header', 'Header', 'ParameterKey'] as const;
const ENTRY_VALUE_KEYS = new Set(['value', 'Value', 'ParameterValue']);
/** A command-line option on its own (`--password`, `-token`), with no `=value` glued to it. */
const FLAG = /^--?[A-Za-z][A-Za-z0-9_.-]{0,126}$/;
const COMMON_FIELD = /^(?:host|cookie|authorization|accept|connection|origin|referer|user-agent|via)$/i;

/** An HTTP field name (RFC 9110 §5.1, the usual subset: a letter, then letters, digits and "-"), at most 64 long. */
function isFieldName(s: string): boolean {
  if (s.length === 0 || s.length > 64) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) | 32;
    if (!((c >= 97 && c <= 122) || (i > 0 && (s.charCodeAt(i) === 45 || (c >= 48 && c <= 57))))) return false;
  }
  return true;
}

/**
 * Node's `rawHeaders` and other flat header lists: [name, value, name, value …] with field names in the even places,
 * at least one of them hyphenated or a common one (a list of two words is not taken for a header).
 */
function isHeaderList(v: readonly unknown[]): boolean {
  const n = v.length;
  if (n < 2 || (n & 1) !== 0 || n > 512) return false;
  let headerLike = false;
  for (let i = 0; i < n; i += 2) {
    const name = v[i];
    if (typeof name !== 'string' || typeof v[i + 1] !== 'string' || !isFieldName(name)) return false;
    headerLike ||= name.includes('-') || COMMON_FIELD.test(name);
  }
  return headerLike;
}

/** Sets a key on a plain object as an own data property (so "__proto__" stays data). */
function define(out: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  else out[k] = v;
}

/** Reads a property of a foreign object; a getter that throws gives "[Unreadable]" instead of failing the log line. */
function readSafely(read: () => unknown): unknown {
  try {
    return read();
  } catch {
    return '[Unreadable]';
  }
}

class Walker {
  private readonly ancestors = new Set<object>();
  constructor(private readonly o: ValueOptions) {}

  /** The replacement for a value under a secret key, or undefined to walk it normally. */
  private byKey(key: string, v: unknown, fieldHit: boolean): unknown {
    if (v === null || v === undefined || typeof v === 'boolean') return undefined;
    if (fieldHit) return REDACTED;
    const kc = this.o.keys.classify(key);
    if (!kc) return undefined;
    if (typeof v === 'string') {
      if (holdsNoSecret(v)) return v;
      if (kc === 'weak') return this.weak(v);
      if (kc === 'auth') {
        const m = SCHEME.exec(v);
        return m ? `${m[1]}${m[2]}${REDACTED}` : REDACTED;
      }
      return REDACTED;
    }
    if (kc === 'weak') return undefined;
    return REDACTED;
  }

  /**
   * A string under a weak name (signature, session, code …): redacted whole when it looks random, before or
   * after the text rules. Judging the text-redacted form too keeps redaction idempotent: a "[REDACTED]" marker
   * the text rules put in adds letters and symbols, and the result must not look random on a second pass.
   */
  private weak(v: string): string {
    const e = this.o.entropy;
    if (e && looksRandom(v.slice(0, 256), e, v.length)) return REDACTED;
    // base64 of user:password (docker's "auth", npm's "_auth"), as the text rule judges it.
    if (v.length <= 256 && isBasicCredentials(v)) return REDACTED;
    const t = this.o.text(v);
    return e && t !== v && looksRandom(t.slice(0, 256), e, t.length) ? REDACTED : t;
  }

  /** `fromToJSON`: v is what a toJSON returned, serialised as it is (JSON.stringify calls toJSON once per value). */
  walk(v: unknown, depth: number, fields: readonly FieldNode[], fromToJSON = false): unknown {
    if (typeof v === 'string') return this.o.text(v);
    if (typeof v !== 'object' || v === null) return v;
    if (this.ancestors.has(v)) return '[Circular]';
    if (depth >= this.o.maxDepth) return '[Depth limit]';
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return `[Binary ${v.byteLength} bytes]`;
    if (v instanceof Date) return v;
    this.ancestors.add(v);
    try {
      if (Array.isArray(v)) return this.array(v, depth, fields);
      if (v instanceof Map) return this.map(v, depth, fields);
      if (v instanceof Set) {
        const items = [...v];
        const out = this.array(items, depth, fields);
        return out === items ? items : out; // always a plain array: JSON has no sets
      }
      if (v instanceof Error) return this.error(v, depth, fields);
      const toJSON = readSafely(() => (v as { toJSON?: unknown }).toJSON);
      // A copy that kept the function would call it again when it is serialised, and hand out what it returns.
      if (typeof toJSON === 'function' && fromToJSON) return this.object(v as Record<string, unknown>, Object.keys(v).filter((k) => k !== 'toJSON'), depth, fields, true);
      if (typeof toJSON === 'function') {
        let j: unknown;
        try {
          j = toJSON.call(v);
        } catch {
          return '[Unserializable]';
        }
        if (j !== v) return this.walk(j, depth, fields, true);
      }
      return this.object(v as Record<string, unknown>, Object.keys(v), depth, fields);
    } finally {
      this.ancestors.delete(v);
    }
  }

  /** The (possibly redacted) value of one entry. */
  private entryValue(key: string, value: unknown, depth: number, fields: readonly FieldNode[]): unknown {
    const next = fields.length ? stepFields(fields, key) : NO_FIELDS;
    const replaced = this.byKey(key, value, next.length > 0 && isTerminal(next));
    return replaced !== undefined ? replaced : this.walk(value, depth + 1, next);
  }

  /**
   * Copy on write: a plain object none of whose entries changed is returned as it is (most objects in a log
   * line hold no secret); otherwise a new plain object is built.
   */
  private object(v: Record<string, unknown>, keys: string[], depth: number, fields: readonly FieldNode[], copy = false): Record<string, unknown> {
    const proto = Object.getPrototypeOf(v) as unknown;
    let changed = copy || (proto !== Object.prototype && proto !== null);
    const outKeys = new Array<string>(keys.length);
    const outVals = new Array<unknown>(keys.length);
    // { name: "DB_PASSWORD", value: "…" } (ENTRY_NAME_KEYS): the value is as secret as its name says.
    let entryName: string | null | undefined;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      let value: unknown;
      let readable = true;
      try {
        value = v[k];
      } catch {
        value = '[Unreadable]'; // a throwing getter
        readable = false;
      }
      let out: unknown;
      const byName = ENTRY_VALUE_KEYS.has(k) && (entryName ??= this.secretEntryName(v)) !== null ? this.byKey(entryName, value, false) : undefined;
      out = byName !== undefined ? byName : this.entryValue(k, value, depth, fields);
      const outKey = this.o.key(k);
      if (!readable || outKey !== k || out !== value) changed = true;
      outKeys[i] = outKey;
      outVals[i] = out;
    }
    if (!changed) return v;
    const out: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) define(out, outKeys[i]!, outVals[i]);
    return out;
  }

  /** The entry's name (ENTRY_NAME_KEYS) when it names a secret or an Authorization header, else null. */
  private secretEntryName(v: Record<string, unknown>): string | null {
    try {
      for (const k of ENTRY_NAME_KEYS) {
        if (!Object.hasOwn(v, k)) continue;
        const name = v[k];
        const kc = typeof name === 'string' ? this.o.keys.classify(name) : undefined;
        if (kc === 'strong' || kc === 'auth') return name as string;
      }
      return null;
    } catch {
      return null;
    }
  }

  /**
   * Copy on write, like object(). In an argv array (an exec tool's args, a process listing) a secret option and its
   * value are separate strings: the item after `--password` is judged as the value of a key of that name, as the
   * text rule judges "--password x" on one line.
   */
  private array(v: readonly unknown[], depth: number, fields: readonly FieldNode[]): readonly unknown[] {
    let out: unknown[] | undefined;
    const headers = isHeaderList(v);
    for (let i = 0; i < v.length; i++) {
      const next = fields.length ? stepFields(fields, String(i)) : NO_FIELDS;
      const prev = i > 0 ? v[i - 1] : undefined;
      // In a header list the item after a name is its value; elsewhere, the item after a lone --flag.
      const named = headers ? i % 2 === 1 : typeof prev === 'string' && FLAG.test(prev);
      const asFlag = named ? this.byKey(prev as string, v[i], false) : undefined;
      const x = next.length && isTerminal(next) ? REDACTED : asFlag !== undefined ? asFlag : this.walk(v[i], depth + 1, next);
      if (out) out[i] = x;
      else if (x !== v[i]) {
        out = v.slice(0, i);
        out[i] = x;
      }
    }
    return out ?? v;
  }

  private map(v: Map<unknown, unknown>, depth: number, fields: readonly FieldNode[]): unknown {
    if ([...v.keys()].every((k) => typeof k === 'string')) {
      const out: Record<string, unknown> = {};
      for (const [k, value] of v) define(out, this.o.key(k as string), this.entryValue(k as string, value, depth, fields));
      return out;
    }
    // Entries as pairs when some key is not a string; a string key still names its value ({password} among them).
    return [...v].map(([k, value]) =>
      typeof k === 'string' ? [this.o.key(k), this.entryValue(k, value, depth, NO_FIELDS)] : [this.walk(k, depth + 1, NO_FIELDS), this.walk(value, depth + 1, NO_FIELDS)],
    );
  }

  /** Errors: name, code, message and stack (redacted), and own enumerable fields, like pino's err serializer. */
  private error(e: Error, depth: number, fields: readonly FieldNode[]): Record<string, unknown> {
    const own = this.object(e as unknown as Record<string, unknown>, Object.keys(e), depth, fields);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(own)) define(out, k, own[k]);
    // Foreign errors may have getters that throw (or a message whose toString throws): the line is logged anyway.
    define(out, 'type', readSafely(() => String(e.name)));
    define(out, 'message', this.o.text(readSafely(() => String(e.message)) as string));
    const stack = readSafely(() => e.stack);
    if (typeof stack === 'string') define(out, 'stack', this.o.text(stack));
    const cause = readSafely(() => e.cause);
    if (cause !== undefined && !('cause' in out)) define(out, 'cause', this.walk(cause, depth + 1, NO_FIELDS));
    return out;
  }

  start(v: unknown, fields: FieldNode | undefined): unknown {
    return this.walk(v, 0, fields ? [fields] : NO_FIELDS);
  }
}

export function redactStructured(v: unknown, o: ValueOptions): unknown {
  return new Walker(o).start(v, o.fields);
}
