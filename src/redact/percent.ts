/**
 * Percent-encoded text (RFC 3986 §2.1), and JSON or JavaScript \uXXXX escapes, as the rules would read them decoded:
 * `?next=%2Fapi%3Faccess_token%3Dq8Z…` hides its "=" from the key/value rule, `postgres%3A%2F%2Fbob%3Ahunter2%40db` its "://" from the URL rule. The
 * text engine decodes each blank-free run holding an escape (at most two levels: %253D → %3D → =), runs the rules on
 * the decoded copy, and maps what they find back onto the original, escapes and all: the output keeps its encoding
 * and loses only the secret (`%3Faccess_token%3D[REDACTED]`).
 */

/**
 * A decoded run: `map[i]` is the offset in the source of decoded character i, `map[text.length]` its end. The map
 * is scratch space, valid until the next percentDecode (the text engine reads it at once).
 */
export interface Decoded {
  readonly text: string;
  readonly map: Int32Array;
}

/** Runs longer than this are decoded in pieces of this size (the map costs 4 bytes a character). */
export const MAX_RUN = 65536;

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 32;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/**
 * The length of the escape that starts at i — 3 for %XX (RFC 3986), 6 for \uXXXX (a JSON or JavaScript string
 * escape: `"pass\u0077ord"`, `ghp\u005f…` hide a key or a token prefix the same way) — or 0.
 */
export function escapeLength(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 37) return hex(s.charCodeAt(i + 1)) >= 0 && hex(s.charCodeAt(i + 2)) >= 0 ? 3 : 0;
  if (c === 92 && s.charCodeAt(i + 1) === 117) {
    for (let k = 2; k < 6; k++) if (hex(s.charCodeAt(i + k)) < 0) return 0;
    return 6;
  }
  return 0;
}

/** True when a valid escape (%XX or \uXXXX) starts at i. */
export function escapeAt(s: string, i: number): boolean {
  return escapeLength(s, i) > 0;
}

/** The code unit the escape at i (of length len) stands for. */
function escapeValue(s: string, i: number, len: number): number {
  let v = 0;
  for (let k = len === 3 ? 1 : 2; k < len; k++) v = v * 16 + hex(s.charCodeAt(i + k));
  return v;
}

/**
 * The "%" and "\" of a text, in order: each kind is searched for once past the last one found, so walking a whole
 * text costs one pass per kind (two indexOf calls from every position would be quadratic on a long run of one kind
 * with the other rare: 800 KB of "%" took 2.6 s).
 */
class Marks {
  #pct = -2;
  #bs = -2;
  readonly #s: string;
  constructor(s: string) {
    this.#s = s;
  }

  /** The next mark at or after i, or -1. */
  next(i: number): number {
    if (this.#pct !== -1 && this.#pct < i) this.#pct = this.#s.indexOf('%', i);
    if (this.#bs !== -1 && this.#bs < i) this.#bs = this.#s.indexOf('\\', i);
    const p = this.#pct;
    const b = this.#bs;
    return p < 0 ? b : b < 0 ? p : Math.min(p, b);
  }
}

let first = new Int32Array(256);
let second = new Int32Array(256);

/**
 * One level of decoding of s[from, to) into `map` (at least to - from + 1 long): each escape becomes the code unit it
 * encodes; "+" stays. Undefined when there is no escape.
 */
function decodeOnce(s: string, from: number, to: number, map: Int32Array): string | undefined {
  let out: string | undefined;
  let n = 0;
  let at = from; // copied up to here
  // A plain walk of the run (at most MAX_RUN long, and runs do not overlap): no search past `to`.
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c !== 37 && c !== 92) continue;
    const len = escapeLength(s, i);
    if (len === 0 || i + len > to) continue;
    out = (out ?? '') + s.slice(at, i) + String.fromCharCode(escapeValue(s, i, len));
    while (at < i) map[n++] = at++;
    map[n++] = i;
    at = i + len;
    i = at - 1;
  }
  if (out === undefined) return undefined;
  out += s.slice(at, to);
  while (at < to) map[n++] = at++;
  map[n] = to;
  return out;
}

/** s[from, to) decoded up to two levels, or undefined when it holds no valid escape. */
export function percentDecode(s: string, from: number, to: number): Decoded | undefined {
  if (first.length <= to - from) {
    first = new Int32Array(to - from + 1);
    second = new Int32Array(to - from + 1);
  }
  const one = decodeOnce(s, from, to, first);
  if (one === undefined) return undefined;
  const two = decodeOnce(one, 0, one.length, second);
  if (two === undefined) return { text: one, map: first };
  for (let k = 0; k <= two.length; k++) second[k] = first[second[k]!]!;
  return { text: two, map: second };
}

const isBlank = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13;

/**
 * The blank-free runs of `text` that hold a valid escape, from `from` on, as [start, end) pairs, each at most
 * MAX_RUN long (a longer run is split).
 */
export function encodedRuns(text: string, from: number): number[] {
  const out: number[] = [];
  let floor = 0; // the end of the last run: no character is looked at twice
  const marks = new Marks(text);
  let i = marks.next(from);
  while (i >= 0) {
    if (!escapeAt(text, i)) {
      i = marks.next(i + 1);
      continue;
    }
    let a = i;
    while (a > floor && !isBlank(text.charCodeAt(a - 1)) && i - a < MAX_RUN) a--;
    let b = i;
    while (b < text.length && !isBlank(text.charCodeAt(b)) && b - a < MAX_RUN) b++;
    out.push(a, b);
    floor = b;
    i = b < text.length ? marks.next(b) : -1;
  }
  return out;
}
