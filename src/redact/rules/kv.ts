/**
 * Named secrets in free text (seed 004: `api_key: <value>` → `api_key: [REDACTED]`, `password: <value>` →
 * `password: [REDACTED]`), in every common form: `key: value`, `key=value`, `"key": "value"`, `'key' => 'v'`,
 * query strings (`?api_key=…&`), headers (`X-Api-Key: …`), escaped JSON inside a JSON string
 * (`{\"password\":\"…\"}`) and command-line flags (`--password …`). The name decides (see names.ts);
 * weak names (signature, session, code …) only when the value looks random.
 *
 * The scanner finds a secret word ("pass", "token", "key" …); this rule then reads the whole name around
 * it (at most 128 characters), the separator, and the value.
 */
import { B64URL, NAME, TOKEN68, VALUE_STOP, cls, runEnd, runStart } from '../chars.js';
import { looksRandom } from '../entropy.js';
import { isBasicCredentials } from './auth.js';
import { blockScalar, closerAfter, opensStructure, scalarArrayEnd } from './kv-values.js';
import { multipartValue, xmlStartTag } from './markup.js';
import { holdsNoSecret, markerAt } from '../markers.js';
import type { KeyClass } from '../names.js';
import { REDACTED, type Category, type Rule, type ScanContext } from '../types.js';

export const KV_TRIGGERS = [
  'pass', 'pwd', 'secret', 'token', 'key', 'auth', 'cred', 'cookie', 'session', 'sig', 'hmac', 'code', 'nonce',
  'salt', 'otp', 'pin', 'sid', 'ticket', 'jwt', 'saml', 'assertion', 'value',
] as const;

const MAX_NAME = 128;

/** Authorization schemes whose credentials are a parameter list, not one token: redact to the end of the header. */
const PARAM_SCHEMES = new Set(['digest', 'aws4-hmac-sha256', 'signature', 'hmac', 'oauth', 'hoba', 'mutual', 'vapid', 'sharedkey', 'sharedaccesssignature']);

function skipBlanks(text: string, i: number): number {
  for (let k = 0; k < 16; k++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9) break;
    i++;
  }
  return i;
}

interface Value {
  start: number;
  end: number;
  quoted: boolean;
}

/** End of an unquoted value starting at i; remembers the scan so a start inside it is not scanned again. */
function unquotedEnd(ctx: ScanContext, i: number): number {
  if (i >= ctx.unquotedFrom && i < ctx.unquotedTo) return ctx.unquotedTo;
  const { text } = ctx;
  let j = i;
  while (j < text.length) {
    const d = text.charCodeAt(j);
    if (d < 128 && cls(text, j) & VALUE_STOP) break;
    j++;
  }
  ctx.unquotedFrom = i;
  ctx.unquotedTo = j;
  return j;
}

/** Index of the closing quote `q` (or the end of the line) for a value opened just before i. */
function closingQuote(ctx: ScanContext, i: number, q: number): number {
  if (q === ctx.quoteChar && i >= ctx.quotedFrom && i < ctx.quotedTo) return ctx.quotedTo;
  const { text } = ctx;
  let j = i;
  while (j < text.length) {
    const d = text.charCodeAt(j);
    if (d === 10 || d === 13) break;
    if (q === 0x5c22) {
      if (d === 92 && text.charCodeAt(j + 1) === 34) break; // \" closes an escaped-quote value
    } else if (d === q) break;
    j += d === 92 && q === 34 ? 2 : 1;
  }
  j = Math.min(j, text.length);
  ctx.quoteChar = q;
  ctx.quotedFrom = i;
  ctx.quotedTo = j;
  return j;
}

/** Reads the value at i: "double" (with \ escapes), 'single', `back`, \"escaped\", <tag>text</tag> or unquoted. */
function readValue(ctx: ScanContext, i: number, xml: boolean): Value {
  const { text } = ctx;
  if (xml) return { start: i, end: closingQuote(ctx, i, 60 /* < */), quoted: true };
  const c = text.charCodeAt(i);
  if (c === 92 /* \ */ && text.charCodeAt(i + 1) === 34) return { start: i + 2, end: closingQuote(ctx, i + 2, 0x5c22), quoted: true };
  if (c === 34 || c === 39 || c === 96) return { start: i + 1, end: closingQuote(ctx, i + 1, c), quoted: true };
  if (c === 60 /* < */ && text.charCodeAt(i + 1) !== 47) {
    // password=<Sup3rS3cret>: "<" stops other values (XML, HTML), here it opens one.
    const e = unquotedEnd(ctx, i + 1);
    if (e > i + 1 && text.charCodeAt(e) === 62) return { start: i, end: e + 1, quoted: false };
  }
  return { start: i, end: unquotedEnd(ctx, i), quoted: false };
}

/**
 * The end of a header value that runs to the end of its line, or to the quote that encloses the whole
 * header (`-H "Cookie: a=b; c=d"`), when `enclosing` is that quote's code.
 */
function restOfHeader(text: string, i: number, enclosing: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 10 || c === 13 || c === enclosing) break;
    // An escape inside a double-quoted header (-H "Authorization: Token token=\"…\"", a JSON string) is part of
    // the value: \" does not close it.
    if (c === 92 && enclosing === 34 && text.charCodeAt(i + 1) !== 10 && text.charCodeAt(i + 1) !== 13) i++;
    i++;
  }
  return Math.min(i, text.length);
}

/** Unquoted literals that hold no secret: YAML/JSON null and booleans, and the words logs write for "none". */
const LITERALS = new Set(['null', 'nil', 'none', 'undefined', 'true', 'false', 'redacted', 'n/a', '-', 'yes', 'no', 'on', 'off']);

function categoryOf(lowerName: string, kc: KeyClass): Category {
  if (kc === 'weak') return 'entropy';
  if (kc === 'auth') return 'authorization';
  if (lowerName.includes('pass') || lowerName.includes('pwd')) return 'password';
  if (/api.?key/.test(lowerName)) return 'api_key';
  return 'secret_kv';
}

/** Blanks, or "%20" / "+" as URL-encoded in a query string. */
function skipSchemeSpace(text: string, i: number): number {
  if (text.startsWith('%20', i)) return i + 3;
  if (text.charCodeAt(i) === 43 /* + */) return i + 1;
  return skipBlanks(text, i);
}

/**
 * Authorization: <scheme> <credentials> → keeps the scheme. Returns the credentials' span, 'done' when they
 * are already a [REDACTED] marker, or undefined for a value without a scheme.
 */
function authorizationSpan(text: string, v: Value, enclosing: number): [number, number] | 'done' | undefined {
  const w = runEnd(text, v.start, B64URL, 40);
  const scheme = text.slice(v.start, w).toLowerCase();
  if (!/^[a-z][a-z0-9-]{1,39}$/.test(scheme)) return undefined;
  // "%20" and "+" stand for the space only after a known scheme (Bearer+abc in a query string).
  const sp = SCHEMES.has(scheme) ? skipSchemeSpace(text, w) : skipBlanks(text, w);
  const limit = v.quoted ? v.end : text.length;
  if (sp === w || sp >= limit) return undefined;
  if (text.charCodeAt(sp) === 91 /* [ */) {
    // Credentials in brackets are still credentials; only an earlier pass's marker is done.
    let e = sp + 1;
    while (e < limit && !(cls(text, e) & VALUE_STOP)) e++;
    if (text.charCodeAt(e) === 93) e++;
    return markerAt(text, sp, e) ? 'done' : [sp, e];
  }
  if (!(cls(text, sp) & TOKEN68)) return undefined;
  const rest = (): [number, number] => [sp, v.quoted ? v.end : restOfHeader(text, sp, enclosing)];
  if (PARAM_SCHEMES.has(scheme)) return rest();
  let e = runEnd(text, sp, TOKEN68);
  const run = e;
  while (text.charCodeAt(e) === 61) e++;
  // "=" then a value: not token68 padding but an auth-param list (Rails' `Token token="…", email="…"`,
  // `Bearer token=…`), credentials to the end of the header like a parameter scheme's.
  if (e > run && e < limit && paramValueAt(text, e, enclosing)) return rest();
  return [sp, e];
}

/** Does an auth-param's value start at i: a token character, or a quote other than the header's enclosing one? */
function paramValueAt(text: string, i: number, enclosing: number): boolean {
  const c = text.charCodeAt(i);
  if (c === 34) return enclosing !== 34;
  if (c === 92 /* \ */) return text.charCodeAt(i + 1) === 34; // \"…\" inside a quoted string
  return (cls(text, i) & TOKEN68) !== 0;
}

/** Authorization scheme words: a bare one ("Authorization: basic ***") is not a credential. */
const SCHEMES = new Set(['bearer', 'basic', 'token', 'digest', 'negotiate', 'ntlm', 'apikey', 'jwt', ...PARAM_SCHEMES]);

/**
 * `{name: DB_PASSWORD, value: "…"}` (Kubernetes env entries, and their JSON form): the value's secret-ness
 * is in the sibling name just before it. Looks at most 160 characters back.
 */
const SIBLING_NAME = /name["']?[ \t]{0,4}[:=][ \t]{0,4}["']?([A-Za-z0-9_.-]{1,128})["']?[ \t\r\n]{0,40},?[ \t\r\n]{0,40}["']?$/i;
function siblingIsSecret(ctx: ScanContext, ns: number): boolean {
  const m = SIBLING_NAME.exec(ctx.text.slice(Math.max(ctx.floor, ns - 160), ns));
  return m !== null && ctx.options.keys.classify(m[1]!) === 'strong';
}

/** Config formats that separate a name from its value with a space (redis.conf, CONFIG SET). */
const SPACE_NAMES = new Set(['requirepass', 'masterauth', 'rpcpassword']);

/** Prose: "password is x", "password was x", "password to x". Returns the index after the linking word, or i. */
function linkingWord(text: string, i: number): number {
  for (const w of ['is ', 'was ', 'to ', 'set to ', 'changed to ']) if (text.startsWith(w, i)) return i + w.length;
  return i;
}

/** Words after "password is" that say something about it rather than being it. */
const PROSE_STOP = new Set(['required', 'invalid', 'incorrect', 'wrong', 'missing', 'expired', 'empty', 'weak', 'too', 'not', 'set', 'changed', 'reset', 'valid', 'correct', 'the', 'a', 'an', 'now', 'being', 'null', 'blank']);

/**
 * Values that are not secrets even under a secret name: nothing, a mask, an earlier pass's marker, an unquoted
 * literal (null, true …), structure whose members have their own names. Not placeholder shapes: `${DB_PASSWORD}`
 * and `$ecretPassw0rd` look alike (the effective config `config check` shows has its references resolved).
 */
function notASecret(ctx: ScanContext, v: Value, raw: string, lowerName: string, opener: number, nameClosed: boolean, kc: KeyClass): boolean {
  const { text } = ctx;
  const length = v.end - v.start;
  if (markerAt(text, v.start, v.end) || (length <= 64 && holdsNoSecret(raw))) return true;
  if (!v.quoted && length <= 9 && LITERALS.has(raw.toLowerCase())) return true;
  if (!v.quoted && opensStructure(text, v.start) && !(kc === 'strong' && text.charCodeAt(v.start) === 91 && scalarArrayEnd(text, v.start) > 0)) return true;
  if (raw.startsWith('-----BEGIN ')) return true; // the PEM rule takes it: [CERTIFICATE REDACTED]
  if ((lowerName === 'pwd' || lowerName === 'oldpwd') && (raw[0] === '/' || raw[0] === '~')) return true; // working directory
  // A prompt or label inside a string: getpass("Password: ") — the quote after the separator closes the string.
  if (v.quoted && !nameClosed && (opener === 34 || opener === 39) && text.charCodeAt(v.start - 1) === opener && text.charCodeAt(v.start - 2) !== 92) {
    const between = text.charCodeAt(v.start - 2);
    if (between === 32 || between === 58 || between === 61) return true;
  }
  if (!v.quoted) {
    if (/^[A-Za-z_][\w.]{0,63}\(/.test(raw)) return true; // code: password = getpass.getpass(
    // A secret pair as the value ("credentials: token=…") is judged on its own; any other "a=b" is the secret.
    const inner = kc === 'strong' && !lowerName.endsWith('cookie') ? /^([A-Za-z_][\w.-]{0,63})=[^=\s]/.exec(raw) : null;
    if (inner) {
      const c = ctx.options.keys.classify(inner[1]!);
      if (c === 'strong' || c === 'auth') return true;
    }
  }
  return false;
}

export const keyValue: Rule = {
  id: 'key-value',
  category: 'secret_kv',
  triggers: KV_TRIGGERS,
  match(ctx: ScanContext, start: number, end: number, index: number) {
    const { text } = ctx;
    if (end <= ctx.until[index]!) return false;
    // The whole name around the secret word, at most MAX_NAME characters.
    const ne = runEnd(text, end, NAME, MAX_NAME);
    ctx.until[index] = ne;
    if (ne < text.length && cls(text, ne) & NAME) return false;
    const ns = runStart(text, start, NAME, Math.max(ctx.floor, ne - MAX_NAME));
    if (ns > ctx.floor && cls(text, ns - 1) & NAME) return false;
    // Separator: optional closing quote of the name, blanks, then = => : := (or a space after a --flag).
    let i = ne;
    const q = text.charCodeAt(i);
    const opener = text.charCodeAt(ns - 1);
    const jsonKey = q === 34 && opener === 34;
    // <password>…</password>, also <wsse:Password Type="…">…</wsse:Password>: the value follows the start tag.
    const tagEnd = opener === 60 /* < */ || opener === 58 /* : */ ? xmlStartTag(text, ns, ne) : -1;
    const xml = tagEnd >= 0;
    if (xml) i = tagEnd;
    else if (q === 34 || q === 39) i++;
    else if (q === 92 && text.charCodeAt(i + 1) === 34) i += 2;
    const afterQuote = i;
    i = skipBlanks(text, i);
    const sep = text.charCodeAt(i);
    let separator = xml;
    if (!xml && sep === 61 /* = */) {
      i++;
      if (text.charCodeAt(i) === 62 /* > */) i++;
      separator = true;
    } else if (!xml && sep === 58 /* : */) {
      if (text.charCodeAt(i + 1) === 58) return false; // Token::new, not a key
      i++;
      if (text.charCodeAt(i) === 61) i++;
      separator = true;
    }
    const flag = text.charCodeAt(ns) === 45 /* - */;
    // Content-Disposition: form-data; name="password", the part's headers, an empty line, then the value.
    const part = !separator && !flag && opener === 34 ? multipartValue(text, ns, ne) : undefined;
    if (part) separator = true;
    const spaced = i > afterQuote;
    // Without a separator: a --flag and its value, or prose ("WITH PASSWORD 'x'", "new password is x", "requirepass x").
    let prose = 0; // 0: not prose; 1: a quoted literal must follow; 2: a word with a digit or symbol may follow
    if (!separator && !flag) {
      if (!spaced) return false;
      const link = linkingWord(text, i);
      if (link > i) {
        i = link;
        prose = 2;
      } else prose = SPACE_NAMES.has(text.slice(ns, ne).toLowerCase()) ? 3 : 1;
    }
    if (!xml) i = skipBlanks(text, i);
    const name = text.slice(ns, ne);
    const lowerName = name.toLowerCase();
    let kc = ctx.options.keys.classify(name);
    if (!kc) {
      if (lowerName !== 'value' || prose || !siblingIsSecret(ctx, ns)) return false;
      kc = 'strong';
    }
    // In prose, "secret" names an object (Kubernetes: secret "api-tls" not found), "password 'x'" is the value.
    if (prose && (kc !== 'strong' || lowerName === 'secret' || lowerName === 'secrets')) return false;
    let v = part ? { start: part[0], end: part[1], quoted: true } : readValue(ctx, i, xml);
    // password: |  and the indented lines under it (a YAML block scalar): the lines are the value.
    const block = sep === 58 && !xml && !part ? blockScalar(text, ns, i) : undefined;
    if (block) v = { start: block[0], end: block[1], quoted: true };
    if (v.end <= v.start) return false;
    const raw = text.slice(v.start, Math.min(v.end, v.start + 64));
    if (prose === 1 && !v.quoted) return false;
    if (prose === 2 && !v.quoted && (!/[0-9!@#$%^&*+=?~]/.test(raw) || PROSE_STOP.has(raw.toLowerCase()))) return false;
    if (notASecret(ctx, v, raw, lowerName, opener, q === opener || (q === 92 && opener === 34), kc)) {
      if (markerAt(text, v.start, v.end)) ctx.until[index] = Math.max(ctx.until[index]!, v.end);
      return false;
    }
    let span: [number, number] = [v.start, v.end];
    if (!v.quoted) {
      // `${DB_PASSWORD}` and `{Xk9…}` go whole; a one-line array under a secret name too (`passwords: [a, b]`).
      const arrayEnd = kc === 'strong' && raw.charCodeAt(0) === 91 ? scalarArrayEnd(text, v.start) : -1;
      span[1] = arrayEnd > 0 ? Math.max(arrayEnd, v.end) : closerAfter(text, v.start, v.end);
    }
    const enclosing = !jsonKey && (opener === 34 || opener === 39) ? opener : -1;
    if (kc === 'auth' || (kc === 'strong' && !v.quoted && SCHEMES.has(raw.toLowerCase()))) {
      const a = authorizationSpan(text, v, enclosing);
      if (a === 'done') return false;
      if (a) span = a;
      else if (SCHEMES.has(raw.toLowerCase())) return false;
    } else if (kc === 'weak') {
      const sample = text.slice(v.start, Math.min(v.end, v.start + 256));
      const random = ctx.options.entropy !== undefined && looksRandom(sample, ctx.options.entropy, v.end - v.start);
      if (!random && !(v.end - v.start <= 256 && isBasicCredentials(sample))) return false;
    } else if (lowerName.endsWith('cookie')) {
      span = [v.start, v.quoted ? v.end : restOfHeader(text, v.start, enclosing)];
    }
    const replacement = !v.quoted && jsonKey && sep === 58 ? `"${REDACTED}"` : REDACTED;
    ctx.push(span[0], span[1], replacement, categoryOf(lowerName, kc), 'key-value');
    return true;
  },
};
