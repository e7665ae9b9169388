/**
 * Where a secret name is markup rather than `name: value`, for the key/value rule: an XML element with a namespace
 * prefix or attributes (WS-Security's `<wsse:Password Type="…#PasswordText">…</wsse:Password>`), and a
 * multipart/form-data part (RFC 7578) whose value comes after the part's headers and an empty line:
 *
 *     Content-Disposition: form-data; name="password"
 *
 *     hunter2
 *
 * Both scan a bounded window around the name, so a run of near-matches costs a constant per trigger.
 */
import { NAME, cls, runStart, startsAtFolded } from '../chars.js';

/** A start tag's attributes are read up to this many characters. */
const MAX_TAG = 1024;
/** A namespace prefix is at most this long. */
const MAX_PREFIX = 64;

/**
 * The index just past the ">" of the start tag whose element name is [ns, ne) — `<password>`,
 * `<wsse:Password Type="…">`, `<password type="plain">` — or -1 when the name is not one (a closing or
 * self-closing tag, an attribute, text).
 */
export function xmlStartTag(text: string, ns: number, ne: number): number {
  let lt = ns - 1;
  if (text.charCodeAt(lt) === 58 /* : */) {
    const ps = runStart(text, lt, NAME, Math.max(0, lt - MAX_PREFIX));
    if (ps === lt) return -1;
    lt = ps - 1;
  }
  if (text.charCodeAt(lt) !== 60 /* < */) return -1;
  const c = text.charCodeAt(ne);
  if (c === 62 /* > */) return ne + 1;
  if (c !== 32 && c !== 9 && c !== 10 && c !== 13) return -1;
  // Attributes: a quoted value may hold ">", none may hold "<" (XML 1.0 §3.1, AttValue).
  let quote = 0;
  const limit = Math.min(text.length, ne + MAX_TAG);
  for (let j = ne + 1; j < limit; j++) {
    const d = text.charCodeAt(j);
    if (d === 60) return -1;
    if (quote !== 0) {
      if (d === quote) quote = 0;
    } else if (d === 34 || d === 39) quote = d;
    else if (d === 62) return text.charCodeAt(j - 1) === 47 /* / */ ? -1 : j + 1;
  }
  return -1;
}

/** A part's header line is read up to this many characters; at most this many headers follow Content-Disposition. */
const MAX_HEADER_LINE = 256;
const MAX_PART_HEADERS = 4;

/**
 * The line break at i: CRLF, LF or CR (a positive length), or in a logged string literal the escapes `\r\n`,
 * `\n` or `\r` (a negative length); 0 when there is none.
 */
function breakAt(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === 13) return text.charCodeAt(i + 1) === 10 ? 2 : 1;
  if (c === 10) return 1;
  if (c !== 92) return 0;
  const d = text.charCodeAt(i + 1);
  if (d === 114 /* r */) return text.charCodeAt(i + 2) === 92 && text.charCodeAt(i + 3) === 110 ? -4 : -2;
  return d === 110 /* n */ ? -2 : 0;
}

/** "form-data" earlier on the line that ends at `before` (looking back at most MAX_HEADER_LINE characters). */
function formDataBefore(text: string, before: number): boolean {
  const floor = Math.max(0, before - MAX_HEADER_LINE);
  for (let j = before - 9; j >= floor; j--) {
    const c = text.charCodeAt(j + 8);
    if (c === 10 || c === 13) return false;
    if (startsAtFolded(text, j, 'form-data')) return true;
  }
  return false;
}

/** The end of a part's value that starts at i: its line (in a string literal, up to an escaped line break or the closing quote). */
function partValueEnd(text: string, i: number, literal: boolean, inString: boolean): number {
  let j = i;
  while (j < text.length) {
    const c = text.charCodeAt(j);
    if (c === 10 || c === 13 || (inString && c === 34)) break;
    if (literal && c === 92) {
      const d = text.charCodeAt(j + 1);
      if (d === 110 || d === 114) break;
      j += 2;
      continue;
    }
    j++;
  }
  return Math.min(j, text.length);
}

/**
 * The value of the multipart/form-data part named [ns, ne) (`Content-Disposition: form-data; name="password"`, also
 * with `\"` inside a logged JSON string, and with `\r\n` escapes in a logged string literal): the first line after
 * the part's headers and the empty line that ends them. Undefined when the name is not a part's.
 */
export function multipartValue(text: string, ns: number, ne: number): [number, number] | undefined {
  let o = ns - 1;
  if (text.charCodeAt(o) !== 34) return undefined;
  const inString = text.charCodeAt(o - 1) === 92; // name=\"password\"
  if (inString) o--;
  // name=, not filename=
  if (!startsAtFolded(text, o - 5, 'name=') || cls(text, o - 6) & NAME) return undefined;
  let p = ne;
  if (inString && text.charCodeAt(p++) !== 92) return undefined;
  if (text.charCodeAt(p++) !== 34) return undefined;
  if (!formDataBefore(text, o - 5)) return undefined;
  let literal: boolean | undefined;
  for (let line = 0; line <= MAX_PART_HEADERS; line++) {
    // To the end of this header line (the rest of Content-Disposition, then Content-Type …).
    const limit = Math.min(text.length, p + MAX_HEADER_LINE);
    let b = 0;
    while (p < limit && (b = breakAt(text, p)) === 0) p++;
    if (b === 0) return undefined;
    if (literal === undefined) literal = b < 0;
    else if (literal !== b < 0) return undefined;
    p += Math.abs(b);
    // An empty line ends the part's headers; the value follows.
    const e = breakAt(text, p);
    if (e !== 0 && (e < 0) === literal) {
      const start = p + Math.abs(e);
      const end = partValueEnd(text, start, literal, inString);
      return end > start ? [start, end] : undefined;
    }
  }
  return undefined;
}
