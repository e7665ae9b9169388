/**
 * HTTP method overrides in parameters (routes[].method_override). Rails (Rack::MethodOverride), Laravel and Symfony,
 * Express's method-override and others run a POST as the DELETE or PUT its `_method` parameter names — in the query,
 * a form field or (Laravel) a top-level JSON key. The gateway authorizes the method it sees, so such a parameter would
 * turn an allowed POST into a forbidden DELETE behind its back. The header forms (X-HTTP-Method-Override …) are
 * removed in proxy.ts; the parameter forms cannot be removed from a body, so the request is refused.
 *
 * A name counts as the most lenient framework reads it: percent- and `+`-decoded, leading spaces dropped, cut at `[`
 * or NUL (PHP), `.` and space as `_` (PHP), in any ASCII case. Bodies are scanned as they stream, in linear time with
 * a few bytes of state: the chunk that completes such a name is withheld and the request fails, so the upstream never
 * receives a whole body that carries one. Other media types pass unread; compressed ones cannot be read as they pass
 * and are refused.
 */
import { GatehouseError } from '../core/errors.js';
import { declaresContentCoding, rawHeaderValues } from '../core/net.js';
import type { Exchange } from '../core/types.js';

const TARGET = '_method';

/** A parameter name, fed one decoded character code at a time; holds at most TARGET.length characters. */
class ParamName {
  #name = '';
  #started = false;
  #cut = false;
  #other = false;

  reset(): void {
    this.#name = '';
    this.#started = false;
    this.#cut = false;
    this.#other = false;
  }

  push(c: number): void {
    if (this.#cut || this.#other) return;
    // PHP drops leading spaces; Rack 2 drops leading and trailing brackets (`[_method]`, `]_method` read as `_method`).
    if (!this.#started && (c === 0x20 || c === 0x5b || c === 0x5d)) return;
    this.#started = true;
    // `_method[]`, `_method[x]`, `_method]` (Rack 2), `_method\0…` (PHP cuts names at NUL; a body in a charset with
    // NULs in every character is refused by its declared charset): read as `_method`.
    if (c === 0x5b /* [ */ || c === 0x5d /* ] */ || c === 0) {
      this.#cut = true;
      return;
    }
    // No non-ASCII character folds to one of `_method`'s (the long s and the Kelvin sign fold to s and k).
    if (c >= 0x80 || this.#name.length === TARGET.length) {
      this.#other = true;
      return;
    }
    const folded = c === 0x2e || c === 0x20 ? 0x5f : c >= 0x41 && c <= 0x5a ? c + 32 : c;
    if (folded !== TARGET.charCodeAt(this.#name.length)) this.#other = true;
    else this.#name += String.fromCharCode(folded);
  }

  get matches(): boolean {
    return !this.#other && this.#name === TARGET;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

const HEX = '0123456789abcdef';

/**
 * Percent-decoding as a stream: `%XX` becomes its byte, a stray `%` stays itself. Each byte goes to `emit` with
 * whether it came as it was (`raw`: a raw `=` or `+` means something in a form, a decoded one does not). Returns
 * true as soon as `emit` does.
 */
class PercentDecoder {
  /** 0: no escape; 1: after `%`; 2: after `%` and one hex digit. */
  #state = 0;
  #hi = 0;

  readonly #emit: (byte: number, raw: boolean) => boolean;

  constructor(emit: (byte: number, raw: boolean) => boolean) {
    this.#emit = emit;
  }

  push(c: number): boolean {
    if (this.#state === 1) {
      const h = hexValue(c);
      if (h >= 0) {
        this.#hi = h;
        this.#state = 2;
        return false;
      }
      this.#state = 0;
      if (this.#emit(0x25, false)) return true;
    } else if (this.#state === 2) {
      const h = hexValue(c);
      this.#state = 0;
      if (h >= 0) return this.#emit(this.#hi * 16 + h, false);
      if (this.#emit(0x25, false) || this.#emit(HEX.charCodeAt(this.#hi), false)) return true;
    }
    if (c === 0x25 /* % */) {
      this.#state = 1;
      return false;
    }
    return this.#emit(c, true);
  }

  /** An escape left open gives its `%` (and digit) back as they were. */
  flush(): boolean {
    const state = this.#state;
    this.#state = 0;
    if (state === 0) return false;
    return this.#emit(0x25, false) || (state === 2 && this.#emit(HEX.charCodeAt(this.#hi), false));
  }

  /** Drops an escape left open. */
  reset(): void {
    this.#state = 0;
  }
}

/** Reads a body (or text) chunk by chunk; `feed` returns true once a method override has been seen. */
export interface OverrideScanner {
  feed(chunk: Uint8Array): boolean;
  /** The end of the input: a name left open counts too (a query's last parameter). */
  end(): boolean;
}

/** application/x-www-form-urlencoded (and a query string): names split at `&` and `;`, up to `=`. */
class FormScanner implements OverrideScanner {
  readonly #name = new ParamName();
  #inValue = false;
  readonly #decoder = new PercentDecoder((b, raw) => {
    if (raw && b === 0x3d /* = */) {
      if (this.#name.matches) return true;
      this.#inValue = true;
    } else this.#name.push(raw && b === 0x2b /* + */ ? 0x20 : b);
    return false;
  });

  feed(chunk: Uint8Array): boolean {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as number;
      if (c === 0x26 /* & */ || c === 0x3b /* ; */) {
        if (this.#nameEnds()) return true;
        this.#inValue = false;
        this.#name.reset();
        continue;
      }
      if (!this.#inValue && this.#decoder.push(c)) return true;
    }
    return false;
  }

  end(): boolean {
    return this.#nameEnds();
  }

  #nameEnds(): boolean {
    if (this.#inValue) return false;
    this.#decoder.flush(); // a stray `%` ends the name as itself: it is no longer `_method`
    return this.#name.matches;
  }
}

const METHOD = [0x6d, 0x65, 0x74, 0x68, 0x6f, 0x64]; // "method"
const isAlnum = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39);

/**
 * A `_method` or `.method` token in a stream of lower-case characters: not preceded by a letter or digit, not followed
 * by a letter, digit or `_` (PHP reads `.method` as `_method`; Rack 2 drops brackets around a name, `[_method]`).
 * Constant state, one step a character.
 */
class TokenMatcher {
  #prevAlnum = false;
  /** The last character was `_`, `.` or `[`, not joined to a letter or digit before it. */
  #lead = false;
  /** Characters of "method" matched after a lead. */
  #k = 0;
  /** "method" is complete: the next character decides. */
  #pending = false;

  push(c: number): boolean {
    if (this.#pending) {
      this.#pending = false;
      if (!isAlnum(c) && c !== 0x5f) return true;
    }
    if (this.#k > 0) this.#k = c === METHOD[this.#k] ? this.#k + 1 : 0;
    else if (this.#lead && c === METHOD[0]) this.#k = 1;
    if (this.#k === METHOD.length) {
      this.#k = 0;
      this.#pending = true;
    }
    this.#lead = (c === 0x5f || c === 0x2e) && !this.#prevAlnum;
    this.#prevAlnum = isAlnum(c);
    return false;
  }

  end(): boolean {
    return this.#pending;
  }
}

/**
 * multipart/*: the part headers — from each `--boundary` wherever it stands (a parser finds the first one after any
 * preamble) to the next CRLF CRLF (Rack's end of headers; PHP's, a blank line of bare LFs, comes no later) — read
 * for a `_method` token (TokenMatcher), percent-escapes decoded (RFC 2231 `name*=`), in any ASCII case, eight times
 * over, for each way a parser may read three kinds of bytes: line ends dropped (PHP joins a header line without a
 * colon to the one before, `name="_me` + `thod"`; a blank line still ends the headers) or separating; NULs dropped (a
 * UTF-16 name, percent-encoded) or separating (PHP cuts names at NUL); backslashes dropped (quoted-pair escapes,
 * `"\_method"`) or separating (Rack's token ends at one). Following Content-Disposition and Content-ID syntax as Rack
 * and PHP read them missed spellings (a Content-ID value on the next line, a name inside another parameter's quoted
 * value, Rack's token delimiters). Without one boundary the Content-Type names unambiguously, the whole body is read
 * so (a file holding such a token is refused too). Part contents are not read: a source file using `this._method`
 * passes.
 */
class MultipartScanner implements OverrideScanner {
  /** Matcher m drops line ends when m & 1, NULs when m & 2, backslashes when m & 4. */
  readonly #matchers = Array.from({ length: 8 }, () => new TokenMatcher());
  readonly #decoder = new PercentDecoder((b) => this.#emit(b));
  /** The last line end was a LF with nothing but CRs after it: another LF makes a blank line. */
  #lastLf = false;
  /** `--boundary`, its KMP failure table and how much of it was matched; undefined: every byte is read. */
  readonly #delimiter: Uint8Array | undefined;
  readonly #fail: Int32Array | undefined;
  #at = 0;
  #inHeaders: boolean;
  /** The last four bytes after the delimiter line, for CRLF CRLF. */
  #tail = 0;
  /** Still on the line a delimiter began. */
  #delimiterLine = false;

  constructor(boundary?: string) {
    if (boundary === undefined) {
      this.#inHeaders = true;
      return;
    }
    const d = Buffer.from(`--${boundary}`, 'latin1');
    const fail = new Int32Array(d.length);
    for (let i = 1, k = 0; i < d.length; i++) {
      while (k > 0 && d[i] !== d[k]) k = fail[k - 1] as number;
      if (d[i] === d[k]) k++;
      fail[i] = k;
    }
    this.#delimiter = d;
    this.#fail = fail;
    this.#inHeaders = false;
  }

  feed(chunk: Uint8Array): boolean {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as number;
      if (this.#delimiter !== undefined) {
        const d = this.#delimiter;
        const fail = this.#fail as Int32Array;
        while (this.#at > 0 && c !== d[this.#at]) this.#at = fail[this.#at - 1] as number;
        if (c === d[this.#at]) this.#at++;
        if (this.#at === d.length) {
          this.#at = fail[this.#at - 1] as number;
          // A part's headers begin: a separator, so nothing read before joins what follows.
          this.#decoder.reset();
          this.#inHeaders = true;
          this.#delimiterLine = true;
          this.#tail = 0;
          if (this.#emit(0x0a)) return true;
          continue;
        }
        if (this.#delimiterLine) {
          // The rest of the delimiter line (padding, the `--` of a close delimiter) is read, but the headers' end is
          // looked for only after it: Rack searches CRLF CRLF from the next line, so `--b` CRLF CRLF `Content-…` is
          // a header line to it.
          if (c === 0x0a) this.#delimiterLine = false;
        } else this.#tail = ((this.#tail << 8) | c) >>> 0;
        if (!this.#inHeaders) continue;
        if (this.#tail === 0x0d0a0d0a) {
          this.#inHeaders = false;
          if (this.#emit(0x0a) || this.#emit(0x0a)) return true;
          continue;
        }
      }
      if (this.#decoder.push(c)) return true;
    }
    return false;
  }

  end(): boolean {
    return this.#matchers.some((m) => m.end());
  }

  #emit(byte: number): boolean {
    const c = byte >= 0x41 && byte <= 0x5a ? byte + 32 : byte;
    // A blank line separates even where line ends are dropped: it ends a part's headers.
    const blank = c === 0x0a && this.#lastLf;
    if (c === 0x0a) this.#lastLf = true;
    else if (c !== 0x0d) this.#lastLf = false;
    const kind = c === 0x0d || c === 0x0a ? 1 : c === 0 ? 2 : c === 0x5c ? 4 : 0;
    for (let m = 0; m < 8; m++) {
      const dropped = (m & kind) !== 0 && !(kind === 1 && blank);
      if (!dropped && (this.#matchers[m] as TokenMatcher).push(kind === 1 ? 0x0a : c)) return true;
    }
    return false;
  }
}

/**
 * JSON: a key of the top-level object (Laravel reads the request's JSON as its input). Strings are read with their
 * escapes (`\u005fmethod`); a key is a string followed by `:`.
 */
class JsonScanner implements OverrideScanner {
  readonly #name = new ParamName();
  #depth = 0;
  #inString = false;
  /** 0: none; 1: after `\`; 2–5: reading the hex digits of `\u`. */
  #escape = 0;
  #code = 0;
  /** The string just closed reads `_method` at depth 1: a `:` next makes it a key. */
  #candidate = false;
  /**
   * Comments, which lenient parsers take (Ruby's JSON, behind rack-contrib's JSON body parser): 0 none; 1 after `/`;
   * 2 in a block comment; 3 after `*` in one; 4 in a line comment. Skipped, even between a key and its `:`.
   */
  #comment = 0;

  feed(chunk: Uint8Array): boolean {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as number;
      if (this.#inString) {
        if (this.#escape === 1) {
          if (c === 0x75 /* u */) {
            this.#escape = 2;
            this.#code = 0;
            continue;
          }
          this.#escape = 0;
          this.#name.push(ESCAPES[c] ?? c);
        } else if (this.#escape >= 2) {
          const h = hexValue(c);
          if (h < 0) {
            this.#escape = 0;
            this.#name.push(0xfffd);
            continue;
          }
          this.#code = this.#code * 16 + h;
          if (++this.#escape === 6) {
            this.#escape = 0;
            this.#name.push(this.#code);
          }
        } else if (c === 0x5c) this.#escape = 1;
        else if (c === 0x22) {
          this.#inString = false;
          this.#candidate = this.#depth === 1 && this.#name.matches;
        } else this.#name.push(c);
        continue;
      }
      if (this.#comment >= 2) {
        if (this.#comment === 4) {
          if (c === 0x0a || c === 0x0d) this.#comment = 0;
        } else if (c === 0x2a /* * */) this.#comment = 3;
        else if (this.#comment === 3) this.#comment = c === 0x2f ? 0 : 2;
        continue;
      }
      if (this.#comment === 1) {
        this.#comment = c === 0x2a ? 2 : c === 0x2f ? 4 : 0;
        if (this.#comment !== 0) continue;
      }
      if (c === 0x2f /* / */) {
        this.#comment = 1;
        continue;
      }
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
      if (c === 0x3a /* : */ && this.#candidate) return true;
      this.#candidate = false;
      if (c === 0x22) {
        this.#inString = true;
        this.#name.reset();
      } else if (c === 0x7b || c === 0x5b) this.#depth++;
      else if (c === 0x7d || c === 0x5d) this.#depth--;
    }
    return false;
  }

  end(): boolean {
    return false;
  }
}

const ESCAPES: Record<number, number> = Object.assign(Object.create(null) as Record<number, number>, {
  0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09,
});

export type BodyKind = 'form' | 'multipart' | 'json';

/** Charsets that spell ASCII as ASCII, one byte a character: `_method` looks the same in them as in the scan. */
function asciiCharset(charset: string): boolean {
  const c = charset.trim().toLowerCase();
  return c === '' || c === 'utf-8' || c === 'utf8' || c === 'us-ascii' || c === 'ascii' || c === 'latin1' || /^(?:iso-?8859-\d{1,2}|windows-125\d|cp125\d)$/.test(c);
}

/** Media types no framework parses parameters from: passed unread (the scan would cost a large upload for nothing). */
const OPAQUE = /^(?:image|audio|video|font)\/|^application\/(?:octet-stream|zip|gzip|x-gzip|pdf|wasm|grpc|x-protobuf|protobuf)$/;

/**
 * The scanners a request body of this Content-Type gets, read as the most lenient framework reads the header: the
 * media type cut at `;`, `,` or white space (Rack splits at `;` and `,`, PHP also at a space), JSON wherever `/json` or
 * `+json` appears in the header (Laravel's isJson), and none at all a form (Rack parses a POST without one as form
 * data). A type that names neither is read as a form and as JSON unless it is opaque (images, archives …): fail
 * closed for text/plain and the unknown. Throws (refused) for a charset that does not spell ASCII as ASCII (UTF-16 or
 * UTF-32: Express's JSON parser and servlet containers decode by it, and every byte of `_method` would move).
 */
export function overrideBodyKinds(contentType: string | undefined): BodyKind[] {
  if (contentType === undefined) return ['form'];
  const ct = contentType.toLowerCase();
  const media = ct.trim().split(/[;,\s]/, 1)[0] as string;
  const json = ct.includes('/json') || ct.includes('+json');
  // Opaque only when nothing in the header makes Laravel read it as JSON (`image/png; a=/json` is JSON to isJson()).
  if (OPAQUE.test(media) && !json) return [];
  for (const m of ct.matchAll(/charset\s*=\s*"?\s*([^";,\s]*)/g)) if (!asciiCharset(m[1] as string)) throw methodOverrideRefused(undefined, 'encoded_body');
  const kinds: BodyKind[] = [];
  if (media === '' || media === 'application/x-www-form-urlencoded') kinds.push('form');
  else if (media.startsWith('multipart/')) kinds.push('multipart');
  if (json) kinds.push('json');
  return kinds.length > 0 ? kinds : ['form', 'json'];
}

export function overrideScanner(kind: BodyKind, boundary?: string): OverrideScanner {
  // A multipart body is also read as a form: Rack parses it as one when it cannot use the boundary.
  return kind === 'form' ? new FormScanner() : kind === 'multipart' ? new AnyScanner([new MultipartScanner(boundary), new FormScanner()]) : new JsonScanner();
}

/**
 * The one boundary a multipart Content-Type names, read as leniently as parsers read it (any `boundary=`, even inside
 * another parameter's name, as Rack 2's regex and PHP's strstr find it; quoted or bare); undefined when there is none,
 * or several that differ (Rack takes the last, PHP the first), or one with a character parsers read differently.
 */
export function multipartBoundary(contentType: string): string | undefined {
  const lower = contentType.toLowerCase();
  let found: string | undefined;
  for (let at = lower.indexOf('boundary='); at >= 0; at = lower.indexOf('boundary=', at + 9)) {
    const start = at + 9;
    let value: string;
    if (contentType[start] === '"') {
      const end = contentType.indexOf('"', start + 1);
      value = end < 0 ? contentType.slice(start + 1) : contentType.slice(start + 1, end);
    } else {
      let end = start;
      while (end < contentType.length && !';,'.includes(contentType[end] as string)) end++;
      value = contentType.slice(start, end);
    }
    // Only RFC 2046 boundary characters that every parser reads alike: Rack 2 stops a boundary at `;` or `,` even
    // inside quotes, Rack 3 splits parameters at them, PHP takes a quoted value whole.
    if (value.length > 200 || !/^[A-Za-z0-9'()+_\-./:=?]+$/.test(value)) return undefined;
    if (found !== undefined && found !== value) return undefined;
    found = value;
  }
  return found;
}

/** Several scanners over one body: an override any of them finds counts. */
class AnyScanner implements OverrideScanner {
  constructor(readonly scanners: readonly OverrideScanner[]) {}
  feed(chunk: Uint8Array): boolean {
    for (const s of this.scanners) if (s.feed(chunk)) return true;
    return false;
  }
  end(): boolean {
    for (const s of this.scanners) if (s.end()) return true;
    return false;
  }
}

/** The refusal: 400, nothing (or no whole body) forwarded; where the override was goes to the audit record (meta). */
export function methodOverrideRefused(ex: Exchange | undefined, where: 'query' | 'body' | 'compressed_body' | 'encoded_body'): GatehouseError {
  if (ex !== undefined) ex.meta['method_override'] = where;
  return new GatehouseError('GH_METHOD_OVERRIDE', undefined, { detail: `method_override_${where}` });
}

/**
 * The scanner for a request body, from its raw headers; undefined when its media type carries no `_method` any
 * framework reads. Throws when it cannot be read as it passes: compressed (Express inflates gzip bodies before
 * reading `_method`), or with two Content-Types (which one the upstream reads is its choice).
 */
export function bodyOverrideScanner(rawHeaders: readonly string[]): OverrideScanner | undefined {
  const types = rawHeaderValues(rawHeaders, 'content-type');
  if (types.length > 1) throw new GatehouseError('GH_HEADER_INVALID', 'Content-Type must appear once.');
  const kinds = overrideBodyKinds(types[0]);
  if (kinds.length === 0) return undefined;
  if (declaresContentCoding(rawHeaders)) throw methodOverrideRefused(undefined, 'compressed_body');
  const boundary = kinds.includes('multipart') ? multipartBoundary(types[0] as string) : undefined;
  const scanners = kinds.map((k) => overrideScanner(k, boundary));
  return scanners.length === 1 ? scanners[0] : new AnyScanner(scanners);
}

/** Whether a raw query string (without `?`) carries a `_method` parameter under any spelling a framework reads. */
export function queryOverridesMethod(query: string): boolean {
  if (query === '') return false;
  const s = new FormScanner();
  return s.feed(Buffer.from(query, 'latin1')) || s.end();
}
