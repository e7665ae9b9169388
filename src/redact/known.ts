/**
 * Known secrets: values Gatehouse itself holds (config secrets, signing keys, tokens it minted or verified)
 * are redacted wherever they appear verbatim, even where no pattern matches (issue 6).
 *
 * One process-wide registry (registerSecret) that every redactor consults, plus per-redactor values
 * (Redactor.addKnownSecret). Values shorter than MIN_KNOWN_LENGTH are ignored: redacting every "admin" or
 * "1234" would destroy the text. Each value is also registered in the forms it takes in a log line or a header
 * (variants: JSON-escaped, with "\/", URL-encoded …). The registry is bounded (oldest evicted first).
 *
 * Matching: a few values are found with indexOf; many with a rolling hash over the first 8 characters
 * (Rabin–Karp), so the cost stays one pass over the text however many tokens the process has minted.
 */
import { InsertionQueue } from '../core/fifo.js';
import type { Span } from './types.js';
import { REDACTED } from './types.js';

export const MIN_KNOWN_LENGTH = 8;
export const MAX_KNOWN_SECRETS = 10_000;
/**
 * Pinned values (signing keys, static tokens, configured header secrets) are never evicted: ten thousand freshly
 * verified tokens must not push out the secrets that stay valid for the life of the process. Bounded apart.
 */
export const MAX_PINNED_SECRETS = 1_000;
const MAX_KNOWN_LENGTH = 65_536;
const WINDOW = MIN_KNOWN_LENGTH;
const INDEXOF_LIMIT = 16;

/** Characters that JSON and URL encoding both leave as they are (tokens, API keys, base64url). */
const PLAIN = /^[A-Za-z0-9._~-]+$/;

/**
 * The forms a secret takes in a log line, an error body or a response header: as it is; JSON-escaped, also with
 * "/" written "\/" (PHP's json_encode, many Java libraries); percent-encoded. Every other escaping is read by
 * decoding, not by listing it here: the text engine (and scrubEchoes) also reads each run holding a %XX or \uXXXX
 * escape decoded (percent.ts), so lowercase hex, partly encoded values, form encoding and \u-escaped JSON are found
 * through two forms of what they decode to: the value with "+" for its spaces (form encoding keeps "+" as the
 * space), and its UTF-8 bytes one character each (a decoded "%c3%a9", a header read as latin1). Literal strings
 * only: no pattern is built from a secret. Base64 of a secret is not one of its forms.
 */
export function variants(value: string): string[] {
  if (value.length < MIN_KNOWN_LENGTH || value.length > MAX_KNOWN_LENGTH) return [];
  // The common case (a token): one form, without building the others only to find them equal.
  if (PLAIN.test(value)) return [value];
  const out = new Set([value]);
  const json = JSON.stringify(value).slice(1, -1);
  out.add(json);
  if (json.includes('/')) out.add(json.replaceAll('/', '\\/'));
  try {
    out.add(encodeURIComponent(value));
  } catch {
    // lone surrogate: no URL form
  }
  if (value.includes(' ')) out.add(value.replaceAll(' ', '+'));
  if (!ASCII.test(value)) out.add(Buffer.from(value, 'utf8').toString('latin1'));
  return [...out].filter((v) => v.length <= MAX_KNOWN_LENGTH);
}

const ASCII = /^[\x00-\x7f]*$/;

/** A set of known values with an incrementally maintained matcher. */
export class KnownSecrets {
  private readonly values = new Set<string>();
  private readonly pinned = new Set<string>();
  /** Eviction order (core/fifo.ts): the oldest value in O(1), not by walking the set. */
  private readonly order = new InsertionQueue<string>(MAX_KNOWN_SECRETS);
  private matcher: Matcher | undefined;
  /** Bumped on every change (caches of redacted text compare it). */
  version = 0;

  /** `pinned`: never evicted (up to MAX_PINNED_SECRETS forms; past that it is added like any other value). */
  add(value: string, opts: { pinned?: boolean } = {}): boolean {
    if (typeof value !== 'string') throw new TypeError('a known secret must be a string');
    const forms = variants(value);
    if (forms.length === 0) return false;
    for (const f of forms) {
      const pin = opts.pinned === true && this.pinned.size < MAX_PINNED_SECRETS;
      if (this.values.has(f)) {
        if (pin) this.pinned.add(f);
        continue;
      }
      if (this.values.size >= MAX_KNOWN_SECRETS + this.pinned.size) this.evictOldest();
      this.values.add(f);
      if (pin) this.pinned.add(f);
      else this.order.push(f, () => this.values);
      this.matcher?.add(f);
      this.version++;
    }
    return true;
  }

  delete(value: string): void {
    for (const f of variants(value)) {
      this.pinned.delete(f);
      if (this.values.delete(f)) this.matcher?.delete(f);
    }
    this.version++;
  }

  private evictOldest(): void {
    const oldest = this.order.takeOldest((v) => this.values.has(v) && !this.pinned.has(v));
    if (oldest === undefined) return;
    this.values.delete(oldest);
    this.matcher?.delete(oldest); // in place: a full registry must not rebuild its matcher for every new token
  }

  clear(): void {
    this.values.clear();
    this.pinned.clear();
    this.order.clear();
    this.matcher = undefined;
    this.version++;
  }

  get size(): number {
    return this.values.size;
  }

  /** Appends a span for every occurrence of a known value in `text`. */
  find(text: string, out: Span[]): void {
    if (this.values.size === 0) return;
    this.matcher ??= new Matcher(this.values.keys());
    this.matcher.find(text, out);
  }
}

/** Finds every occurrence of a set of strings: indexOf for a few, a rolling hash over the first 8 characters for many. */
export class Matcher {
  private small: string[] | undefined = [];
  /** Window hash → values with the offset of that window inside them. */
  private readonly buckets = new Map<number, Array<{ value: string; offset: number }>>();
  private readonly filter = new Uint8Array(8192); // a 65536-bit filter on the low 16 bits of the window hash
  private readonly pow: number; // BASE^(WINDOW-1) mod 2^32
  /** The window hash each hashed value is indexed under (for delete). */
  private readonly indexedAt = new Map<string, number>();

  constructor(values: Iterable<string>) {
    let pow = 1;
    for (let k = 0; k < WINDOW - 1; k++) pow = Math.imul(pow, BASE);
    this.pow = pow;
    for (const v of values) this.add(v);
  }

  add(v: string): void {
    if (v.length < MIN_KNOWN_LENGTH) return;
    if (this.small) {
      this.small.push(v);
      if (this.small.length <= INDEXOF_LIMIT) return;
      const all = this.small;
      this.small = undefined;
      for (const x of all) this.addHashed(x);
      return;
    }
    this.addHashed(v);
  }

  /** Removes a value (the bit of its window in the filter stays: a filter hit only leads to a bucket lookup). */
  delete(v: string): void {
    if (this.small) {
      const i = this.small.indexOf(v);
      if (i >= 0) this.small.splice(i, 1);
      return;
    }
    const h = this.indexedAt.get(v);
    if (h === undefined) return;
    this.indexedAt.delete(v);
    const list = this.buckets.get(h);
    if (!list) return;
    const i = list.findIndex((e) => e.value === v);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.buckets.delete(h);
  }

  /**
   * Indexes a value by one 8-character window: of its end, start and middle, the one shared with the fewest
   * other values. Tokens of one format share a prefix (every gh1.k2025. token), so indexing by the prefix
   * alone would check every minted token at every occurrence of that prefix.
   */
  private addHashed(v: string): void {
    let offset = v.length - WINDOW;
    let h = windowHash(v, offset);
    let load = this.buckets.get(h)?.length ?? 0;
    for (const at of [0, (v.length - WINDOW) >> 1]) {
      if (load === 0) break;
      const hh = windowHash(v, at);
      const l = this.buckets.get(hh)?.length ?? 0;
      if (l < load) {
        offset = at;
        h = hh;
        load = l;
      }
    }
    this.indexedAt.set(v, h);
    this.filter[(h & 0xffff) >>> 3]! |= 1 << (h & 7);
    const list = this.buckets.get(h);
    if (!list) this.buckets.set(h, [{ value: v, offset }]);
    else list.push({ value: v, offset });
  }

  /** Appends a span for every occurrence (unordered, possibly overlapping: the caller merges). */
  find(text: string, out: Span[]): void {
    if (this.small) {
      for (const v of this.small) {
        for (let i = text.indexOf(v); i >= 0; i = text.indexOf(v, i + v.length)) {
          out.push({ start: i, end: i + v.length, replacement: REDACTED, category: 'known', rule: 'known' });
        }
      }
      return;
    }
    const n = text.length;
    if (n < WINDOW) return;
    let h = windowHash(text, 0);
    for (let i = 0; ; i++) {
      if (this.filter[(h & 0xffff) >>> 3]! & (1 << (h & 7))) {
        const list = this.buckets.get(h);
        if (list) {
          for (const { value, offset } of list) {
            const start = i - offset;
            if (start >= 0 && text.startsWith(value, start)) {
              out.push({ start, end: start + value.length, replacement: REDACTED, category: 'known', rule: 'known' });
            }
          }
        }
      }
      if (i + WINDOW >= n) break;
      // Roll the window: drop text[i], add text[i + WINDOW].
      h = (Math.imul(h - Math.imul(text.charCodeAt(i), this.pow), BASE) + text.charCodeAt(i + WINDOW)) | 0;
    }
  }
}

const BASE = 0x01000193;

function windowHash(s: string, at: number): number {
  let h = 0;
  for (let k = 0; k < WINDOW; k++) h = (Math.imul(h, BASE) + s.charCodeAt(at + k)) | 0;
  return h;
}

/** The process-wide registry, shared even if this module is loaded twice (src and dist). */
const GLOBAL_KEY = Symbol.for('gatehouse.redact.knownSecrets');
type GlobalWithRegistry = typeof globalThis & { [GLOBAL_KEY]?: KnownSecrets };
export const globalKnownSecrets: KnownSecrets = ((globalThis as GlobalWithRegistry)[GLOBAL_KEY] ??= new KnownSecrets());

/**
 * Registers a value Gatehouse holds (a config secret, a signing key, a token it minted or verified), so every
 * redactor in the process removes it wherever it appears verbatim. Values shorter than 8 characters are ignored.
 * The registry keeps the newest MAX_KNOWN_SECRETS; `pinned` values (secrets that stay valid as long as the process
 * runs) are kept besides them. Returns whether the value was registered.
 */
export function registerSecret(value: string, opts: { pinned?: boolean } = {}): boolean {
  return globalKnownSecrets.add(value, opts);
}

/** Removes a value from the process-wide registry (e.g. a revoked token that will never be logged again). */
export function forgetSecret(value: string): void {
  globalKnownSecrets.delete(value);
}

/** Number of values in the process-wide registry (each secret counts once per form). */
export function knownSecretCount(): number {
  return globalKnownSecrets.size;
}
