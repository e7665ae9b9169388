/**
 * Percent-encoded text (RFC 3986 §2.1) as the rules would read it decoded: `?next=%2Fapi%3Faccess_token%3Dq8Z…`
 * hides its "=" from the key/value rule, `postgres%3A%2F%2Fbob%3Ahunter2%40db` its "://" from the URL rule. The
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

/** True when a valid escape (%XX) starts at i. */
export function escapeAt(s: string, i: number): boolean {
  return s.charCodeAt(i) === 37 && hex(s.charCodeAt(i + 1)) >= 0 && hex(s.charCodeAt(i + 2)) >= 0;
}

let first = new Int32Array(256);
let second = new Int32Array(256);

/**
 * One level of decoding of s[from, to) into `map` (at least to - from + 1 long): each escape becomes the byte it
 * encodes (as one code unit); "+" stays. Undefined when there is no escape.
 */
function decodeOnce(s: string, from: number, to: number, map: Int32Array): string | undefined {
  let i = s.indexOf('%', from);
  while (i >= 0 && i + 2 < to && !escapeAt(s, i)) i = s.indexOf('%', i + 1);
  if (i < 0 || i + 2 >= to) return undefined;
  let out = '';
  let n = 0;
  let at = from; // copied up to here
  while (i >= 0 && i + 2 < to) {
    if (!escapeAt(s, i)) {
      i = s.indexOf('%', i + 1);
      continue;
    }
    out += s.slice(at, i) + String.fromCharCode(hex(s.charCodeAt(i + 1)) * 16 + hex(s.charCodeAt(i + 2)));
    while (at < i) map[n++] = at++;
    map[n++] = i;
    at = i + 3;
    i = s.indexOf('%', at);
  }
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
  let i = text.indexOf('%', from);
  while (i >= 0) {
    if (!escapeAt(text, i)) {
      i = text.indexOf('%', i + 1);
      continue;
    }
    let a = i;
    while (a > floor && !isBlank(text.charCodeAt(a - 1)) && i - a < MAX_RUN) a--;
    let b = i;
    while (b < text.length && !isBlank(text.charCodeAt(b)) && b - a < MAX_RUN) b++;
    out.push(a, b);
    floor = b;
    i = b < text.length ? text.indexOf('%', b) : -1;
  }
  return out;
}
