/**
 * What an approver is shown of a request: the whole arguments, with secrets redacted one value at a time. Not the
 * log redactor's view: that one may redact across JSON structure (a PEM block "through an END on the same line")
 * and hides file paths, so an approver would read one request while another runs. Here a redaction never spans
 * beyond one string value, never crosses a character that could separate two values, and paths stay visible.
 * Redacted: values under secret key names, and token patterns (JWTs, provider keys, key=value credentials, whole
 * PEM blocks) inside one string. What cannot be shown whole — too large, binary, compressed, or JSON that parsers
 * read differently — is refused: nobody can approve what they cannot read.
 */
import { GatehouseError } from '../core/errors.js';
import { CERT_REDACTED, REDACTED, classifyKeyName, type Redactor, type Span } from '../redact/index.js';
import { AmbiguousJsonError, JsonTooDeepError, parseStrictJson } from './json.js';

/** What redacts approval views: the gateway passes its configured redactor (the `redact:` section's rules and keys). */
export type ApprovalRedactor = Pick<Redactor, 'redactText' | 'redactValue' | 'findSpans' | 'fields'>;

export interface ViewOptions {
  readonly redactor: ApprovalRedactor;
  /** redact.keys, lowercased: names whose values are secret whatever they look like. */
  readonly keys: ReadonlySet<string>;
  /** approval.max_shown_args: larger arguments are refused, never cut. */
  readonly maxBytes: number;
}

export interface ApprovalView {
  /** The arguments as shown (for HTTP: body_bytes, body_format and body). */
  args: unknown;
  /** How many values (or text tokens) were redacted. */
  redacted: number;
}

export const UNSHOWABLE = 'approval_args_unshowable';
export const AMBIGUOUS = 'approval_args_ambiguous';

function refuse(reason: typeof UNSHOWABLE | typeof AMBIGUOUS, why: string): GatehouseError {
  const what = reason === AMBIGUOUS ? 'the approver cannot be shown what the upstream will act on' : 'the approver cannot be shown them whole';
  return new GatehouseError('GH_FORBIDDEN', `Forbidden: these arguments cannot be approved: ${why}; ${what}`, { data: { reason } });
}

// Characters that can end a value in some format (form fields, shell words, JSON, CSV, headers): a token redaction
// stops at the first one, so it can never swallow the next field.
const SEPARATOR = /[\s&;|"'`<>{}[\],]/;
const PEM_HEAD = /^-----BEGIN [A-Z0-9 ]{1,64}-----/;
const PEM_TAIL = /-----END [A-Z0-9 ]{1,64}-----$/;
const PEM_SEP = /(?:[ \t\r\n]|\\[nrt])+/;
const B64_WORD = /^[A-Za-z0-9+/]+={0,2}$/;
const B64_LINE = /[A-Za-z0-9+/]{40,}={0,2}/g;
/** "Bearer [REDACTED]": what the log redactor makes of an Authorization-style value. */
const AUTH_FORM = /^[A-Za-z][A-Za-z0-9-]{0,30}[ \t]+\[REDACTED\]$/;

/**
 * A PEM block and nothing else: base64 lines (all but the last a full line), RFC 1421 headers first. What the PEM
 * rule's fallback also takes — words, quotes, another field — is not a block.
 */
function wholePemBlock(t: string): boolean {
  const head = PEM_HEAD.exec(t);
  if (!head) return false;
  const tail = PEM_TAIL.exec(t);
  const words = t.slice(head[0].length, tail ? tail.index : t.length).split(PEM_SEP).filter((w) => w !== '');
  let i = 0;
  while (i + 1 < words.length && /^(Proc-Type|DEK-Info):$/i.test(words[i] as string) && /^[A-Za-z0-9,-]+$/.test(words[i + 1] as string)) i += 2;
  let total = 0;
  for (let k = i; k < words.length; k++) {
    const w = words[k] as string;
    const last = k === words.length - 1;
    if (!B64_WORD.test(w) || (!last && (w.length < 40 || w.endsWith('=')))) return false;
    total += w.length;
  }
  return total >= 40;
}

/**
 * The spans to replace in `s`, each within one value: a path is shown (a credential in one of its segments is not),
 * a PEM block only when it is one, any other span cut at its first separator. What a span no longer covers is looked
 * at again: the log redactor never looked inside it.
 */
function keptSpans(s: string, o: ViewOptions, base = 0, depth = 0): Span[] {
  // Each level looks at a strict part of the one above; this deep means text built to make the scan quadratic.
  if (depth > 8) throw refuse(UNSHOWABLE, 'a value nests too many secret patterns');
  const out: Span[] = [];
  const keep = (sp: Span, start: number, end: number, replacement = sp.replacement): void => {
    if (end > start) out.push({ ...sp, start: base + start, end: base + end, replacement });
  };
  const again = (from: number, to: number): void => {
    if (to > from) out.push(...keptSpans(s.slice(from, to), o, base + from, depth + 1));
  };
  for (const sp of o.redactor.findSpans(s).spans) {
    const text = s.slice(sp.start, sp.end);
    if (sp.category === 'known') keep(sp, sp.start, sp.end); // a registered secret, matched exactly
    else if (sp.category === 'file_path') {
      if (!/[/\\]/.test(text)) continue; // a bare file name: shown
      let at = sp.start;
      for (const seg of text.split(/[/\\]/)) {
        again(at, at + seg.length);
        at += seg.length + 1;
      }
    } else if (sp.rule === 'pem') {
      if (wholePemBlock(text)) keep(sp, sp.start, sp.end);
      else {
        // Not a block: its key material (full base64 lines) is redacted, every word between them shown.
        for (const m of text.matchAll(B64_LINE)) keep(sp, sp.start + m.index, sp.start + m.index + m[0].length, CERT_REDACTED);
        again(sp.start + (PEM_HEAD.exec(text)?.[0].length ?? 0), sp.end);
      }
    } else {
      const cut = text.search(SEPARATOR);
      const end = cut < 0 ? sp.end : sp.start + cut;
      keep(sp, sp.start, end);
      again(end, sp.end);
    }
  }
  return out;
}

/** Sorted, overlapping spans united (the first one's replacement): none of them crosses a separator, nor their union. */
function union(spans: Span[]): Span[] {
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Span[] = [];
  for (const sp of spans) {
    const last = out[out.length - 1];
    if (last && sp.start < last.end) last.end = Math.max(last.end, sp.end);
    else out.push({ ...sp });
  }
  return out;
}

/** `s` with its token patterns redacted (see keptSpans), to a fixed point as the log redactor does. */
export function redactTokens(s: string, o: ViewOptions): { text: string; redacted: number } {
  let text = s;
  let redacted = 0;
  for (let pass = 0; pass < 4; pass++) {
    const spans = union(keptSpans(text, o));
    if (spans.length === 0) break;
    let out = '';
    let at = 0;
    for (const sp of spans) {
      out += text.slice(at, sp.start) + sp.replacement;
      at = sp.end;
    }
    text = out + text.slice(at);
    redacted += spans.length;
  }
  return { text, redacted };
}

const ENTRY_NAME_KEYS = ['name', 'Name', 'key', 'Key', 'ParameterKey'] as const;
const ENTRY_VALUE_KEYS = new Set(['value', 'Value', 'ParameterValue']);
const FLAG = /^--?[A-Za-z][A-Za-z0-9_.-]{0,126}$/;
const PROBE_NAME = { strong: 'password', auth: 'authorization', weak: 'signature' } as const;

function define(out: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** Walks JSON values, redacting per value; `count` is how many values were redacted. */
class Walker {
  count = 0;
  constructor(readonly o: ViewOptions) {}

  /**
   * Whether a configured field path (redact.fields, from the arguments' root) names `path`: asks the redactor about
   * a copy of the path alone, holding a harmless value, and sees whether it came back redacted on the way down.
   */
  fieldHit(path: readonly string[]): boolean {
    if (this.o.redactor.fields.length === 0) return false;
    let probe: unknown = 'x';
    for (let i = path.length - 1; i >= 0; i--) {
      const level = Object.create(null) as Record<string, unknown>;
      level[path[i] as string] = probe;
      probe = level;
    }
    let out: unknown = this.o.redactor.redactValue(probe);
    for (let i = 0; i < path.length; i++) {
      if (out === REDACTED) return true;
      if (typeof out !== 'object' || out === null) return false;
      out = Object.values(out)[0];
    }
    return out === REDACTED;
  }

  /** A value named `name` (a key, or a --flag before it in an argv array): redacted when the name says secret. */
  named(name: string, v: unknown, path: readonly string[]): unknown {
    if (this.fieldHit(path)) return this.walk(v, true, path);
    const kc = classifyKeyName(name, this.o.keys);
    if (kc === undefined) return this.walk(v, false, path);
    if (typeof v === 'string' && v !== '') {
      // The log redactor decides on one value under a name of the same class: placeholders stay, weak names only
      // redact random values. (A stand-in name: the redactor may not know the configured ones, redact.keys.)
      const out = this.o.redactor.redactValue({ [PROBE_NAME[kc]]: v })[PROBE_NAME[kc]];
      // Unchanged: a placeholder (`${DB_PASSWORD}`). A weak name keeps a value that does not look random.
      if (out === v || (kc === 'weak' && out !== REDACTED)) return this.walk(v, false, path);
      this.count++;
      return kc === 'auth' && typeof out === 'string' && AUTH_FORM.test(out) ? out : REDACTED;
    }
    return this.walk(v, kc !== 'weak', path);
  }

  /** `secret`: under a secret name, every string and number is redacted, and the structure is still shown. */
  walk(v: unknown, secret: boolean, path: readonly string[]): unknown {
    if (typeof v === 'string') {
      if (secret && v !== '') {
        this.count++;
        return REDACTED;
      }
      const r = redactTokens(v, this.o);
      if (r.redacted > 0) this.count++;
      return r.text;
    }
    if (typeof v === 'number') {
      if (!secret) return v;
      this.count++;
      return REDACTED;
    }
    if (Array.isArray(v)) {
      return v.map((item, i) => {
        const prev = i > 0 ? v[i - 1] : undefined;
        const at = [...path, String(i)];
        if (secret || this.fieldHit(at)) return this.walk(item, true, at);
        return typeof prev === 'string' && FLAG.test(prev) ? this.named(prev, item, at) : this.walk(item, false, at);
      });
    }
    if (typeof v === 'object' && v !== null) return this.object(v as Record<string, unknown>, secret, path);
    return v;
  }

  object(v: Record<string, unknown>, secret: boolean, path: readonly string[]): Record<string, unknown> {
    const out = Object.create(null) as Record<string, unknown>;
    const entrySecret = ENTRY_NAME_KEYS.some((k) => {
      const name = Object.hasOwn(v, k) ? v[k] : undefined;
      return typeof name === 'string' && classifyKeyName(name, this.o.keys) === 'strong';
    });
    for (const k of Object.keys(v)) {
      const value = v[k];
      const at = [...path, k];
      const shown = secret || (entrySecret && ENTRY_VALUE_KEYS.has(k)) ? this.walk(value, true, at) : this.named(k, value, at);
      // A key can hold a token too (a map keyed by credential); two redacted keys must stay two entries.
      let key = k;
      const r = redactTokens(k, this.o);
      if (r.redacted > 0) {
        this.count++;
        key = r.text;
        for (let n = 2; Object.hasOwn(out, key); n++) key = `${r.text}#${n}`;
      }
      define(out, key, shown);
    }
    return out;
  }
}

/** The view of tool arguments (MCP tools/call), which are JSON values already. */
export function argsView(args: unknown, canonicalBytes: number, o: ViewOptions): ApprovalView {
  if (canonicalBytes > o.maxBytes) throw refuse(UNSHOWABLE, `they are larger than approval.max_shown_args (${o.maxBytes} bytes)`);
  const w = new Walker(o);
  return { args: w.walk(args ?? {}, false, []), redacted: w.count };
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The view of an HTTP request body: JSON parsed and redacted per value, other text shown whole with its tokens
 * redacted. Refused: a compressed, binary or too large body, and JSON with duplicate keys or inexact numbers.
 */
export function bodyView(body: Uint8Array, contentEncoding: string | undefined, o: ViewOptions): ApprovalView {
  if (body.length === 0) return { args: {}, redacted: 0 };
  if (contentEncoding !== undefined && !/^\s*(identity\s*)?$/i.test(contentEncoding)) throw refuse(UNSHOWABLE, 'the body is encoded (Content-Encoding)');
  if (body.length > o.maxBytes) throw refuse(UNSHOWABLE, `the body is larger than approval.max_shown_args (${o.maxBytes} bytes)`);
  let text: string;
  try {
    text = UTF8.decode(body);
  } catch {
    throw refuse(UNSHOWABLE, 'the body is not UTF-8 text');
  }
  let json = true;
  try {
    JSON.parse(text);
  } catch {
    json = false;
  }
  if (json) {
    let value: unknown;
    try {
      value = parseStrictJson(text);
    } catch (e) {
      if (e instanceof AmbiguousJsonError) throw refuse(AMBIGUOUS, `the JSON body is ambiguous (${e.message})`);
      if (e instanceof JsonTooDeepError) throw refuse(UNSHOWABLE, 'the JSON body is nested more than 64 levels deep');
      throw e;
    }
    const w = new Walker(o);
    return { args: { body_bytes: body.length, body_format: 'json', body: w.walk(value, false, []) }, redacted: w.count };
  }
  const r = redactTokens(text, o);
  return { args: { body_bytes: body.length, body_format: 'text', body: r.text }, redacted: r.redacted };
}
