/**
 * Structured redaction: a copy of any value with secrets removed — by key name at any depth
 * (case-insensitive, the same names as the text rules plus configured ones), by field path, and by value
 * (every string goes through the text rules). The caller's object is never touched. Cycles become
 * "[Circular]", nesting past the depth limit "[Depth limit]", binary data "[Binary N bytes]". Output
 * objects are plain objects whose keys are all own data properties: a "__proto__" key is copied as data
 * and never reaches a prototype.
 */
import { looksRandom, type EntropyOptions } from './entropy.js';
import { isTerminal, stepFields, NO_FIELDS, type FieldNode } from './fields.js';
import type { KeyClassifier } from './names.js';
import { isPlaceholder } from './rules/kv.js';
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

/** Sets a key on a plain object as an own data property (so "__proto__" stays data). */
function define(out: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  else out[k] = v;
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
      if (isPlaceholder(v.slice(0, 64)) && v.length <= 64) return v;
      if (kc === 'weak') return this.o.entropy && looksRandom(v.slice(0, 256), this.o.entropy, v.length) ? REDACTED : undefined;
      if (kc === 'auth') {
        const m = SCHEME.exec(v);
        return m ? `${m[1]}${m[2]}${REDACTED}` : REDACTED;
      }
      return REDACTED;
    }
    if (kc === 'weak') return undefined;
    return REDACTED;
  }

  walk(v: unknown, depth: number, fields: readonly FieldNode[]): unknown {
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
      if (v instanceof Set) return this.array([...v], depth, fields);
      if (v instanceof Error) return this.error(v, depth, fields);
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') {
        let j: unknown;
        try {
          j = toJSON.call(v);
        } catch {
          return '[Unserializable]';
        }
        if (j !== v) return this.walk(j, depth, fields);
      }
      return this.object(v as Record<string, unknown>, Object.keys(v), depth, fields);
    } finally {
      this.ancestors.delete(v);
    }
  }

  private entry(out: Record<string, unknown>, key: string, value: unknown, depth: number, fields: readonly FieldNode[]): void {
    const next = stepFields(fields, key);
    const replaced = this.byKey(key, value, next.length > 0 && isTerminal(next));
    define(out, this.o.key(key), replaced !== undefined ? replaced : this.walk(value, depth + 1, next));
  }

  private object(v: Record<string, unknown>, keys: string[], depth: number, fields: readonly FieldNode[]): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    // { name: "DB_PASSWORD", value: "…" } (Kubernetes env entries): the value is as secret as its name says.
    let siblingSecret = false;
    for (const k of keys) {
      let value: unknown;
      try {
        value = v[k];
      } catch {
        value = '[Unreadable]'; // a throwing getter
      }
      if (k === 'value' && (siblingSecret ||= this.nameIsSecret(v)) && typeof value === 'string' && value !== '' && !isPlaceholder(value)) {
        define(out, k, REDACTED);
        continue;
      }
      this.entry(out, k, value, depth, fields);
    }
    return out;
  }

  private nameIsSecret(v: Record<string, unknown>): boolean {
    try {
      const name = v['name'];
      return typeof name === 'string' && this.o.keys.classify(name) === 'strong';
    } catch {
      return false;
    }
  }

  private array(v: readonly unknown[], depth: number, fields: readonly FieldNode[]): unknown[] {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) {
      const next = fields.length ? stepFields(fields, String(i)) : NO_FIELDS;
      out[i] = next.length && isTerminal(next) ? REDACTED : this.walk(v[i], depth + 1, next);
    }
    return out;
  }

  private map(v: Map<unknown, unknown>, depth: number, fields: readonly FieldNode[]): unknown {
    if ([...v.keys()].every((k) => typeof k === 'string')) {
      const out: Record<string, unknown> = {};
      for (const [k, value] of v) this.entry(out, k as string, value, depth, fields);
      return out;
    }
    return [...v].map(([k, value]) => [this.walk(k, depth + 1, NO_FIELDS), this.walk(value, depth + 1, NO_FIELDS)]);
  }

  /** Errors: name, code, message and stack (redacted), and own enumerable fields, like pino's err serializer. */
  private error(e: Error, depth: number, fields: readonly FieldNode[]): Record<string, unknown> {
    const out = this.object(e as unknown as Record<string, unknown>, Object.keys(e), depth, fields);
    define(out, 'type', e.name);
    define(out, 'message', this.o.text(String(e.message)));
    if (typeof e.stack === 'string') define(out, 'stack', this.o.text(e.stack));
    if (e.cause !== undefined && !('cause' in out)) define(out, 'cause', this.walk(e.cause, depth + 1, NO_FIELDS));
    return out;
  }

  start(v: unknown, fields: FieldNode | undefined): unknown {
    return this.walk(v, 0, fields ? [fields] : NO_FIELDS);
  }
}

export function redactStructured(v: unknown, o: ValueOptions): unknown {
  return new Walker(o).start(v, o.fields);
}
