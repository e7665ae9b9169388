/**
 * Value shapes the key/value rule reads beyond one run of characters: structure that opens after a name
 * (`{"a": …}`, `[…]`), YAML block scalars (`password: |` and the indented lines under it) and bracketed values
 * (`${DB_PASSWORD}`, `{Xk9…}`, `<Sup3r>`), whose closing bracket belongs to the value.
 */
import { NAME, runEnd } from '../chars.js';

const isBlank = (c: number): boolean => c === 32 || c === 9;
const isEol = (c: number): boolean => c === 10 || c === 13 || Number.isNaN(c);

/**
 * True when an unquoted value at i opens a JSON/YAML object or array (`{"user": …}`, `{user: bob}`, `["a"]`,
 * `[{…}]`, `{}`): its members are judged by their own names. `{Xk9#mP2$vL}` or `[Xk9…` is a string, not structure.
 */
export function opensStructure(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  if (c !== 91 /* [ */ && c !== 123 /* { */) return false;
  const d = text.charCodeAt(i + 1);
  if (isEol(d) || isBlank(d) || d === 34 || d === 39 || d === 92 || d === 91 || d === 93 || d === 123 || d === 125) return true;
  if (c !== 123) return false;
  // A YAML flow mapping: {name: value}
  const e = runEnd(text, i + 1, NAME, 128);
  const after = text.charCodeAt(e + 1);
  return e > i + 1 && text.charCodeAt(e) === 58 && (isBlank(after) || after === 34 || after === 39);
}

/** At most this many characters of a one-line array are read to find its end. */
const MAX_ARRAY = 256;

/**
 * The end (after "]") of a one-line array of scalars at i (`["a","b"]`, `[hunter2, hunter3]`), or -1 for
 * anything else (nested structure, no "]" within MAX_ARRAY characters or on the line). Stops at the next "[", "{"
 * or "}", so consecutive tries never read the same characters twice.
 */
export function scalarArrayEnd(text: string, i: number): number {
  const limit = Math.min(text.length, i + MAX_ARRAY);
  if (text.charCodeAt(i + 1) === 93) return -1; // [] holds nothing
  let j = i + 1;
  while (j < limit) {
    const c = text.charCodeAt(j);
    if (c === 93 /* ] */) return j + 1;
    if (c === 91 || c === 123 || c === 125 || c === 10 || c === 13) return -1;
    if (c === 34 || c === 39) {
      j++;
      while (j < limit && text.charCodeAt(j) !== c && !isEol(text.charCodeAt(j))) j += text.charCodeAt(j) === 92 ? 2 : 1;
      if (text.charCodeAt(j) !== c) return -1;
    }
    j++;
  }
  return -1;
}

/**
 * A YAML block scalar (`password: |`, `key: >-` then indented lines, YAML 1.2 §8.1): the span of its content,
 * from the first character of its first line to the end of its last non-blank line, or undefined when there is no
 * indicator at `at` or the block is empty. Content lines are indented further than the name at `nameStart`.
 */
export function blockScalar(text: string, nameStart: number, at: number): [number, number] | undefined {
  const c = text.charCodeAt(at);
  if (c !== 124 /* | */ && c !== 62 /* > */) return undefined;
  let i = at + 1;
  // Chomping and indentation indicators: |-  >+  |2  |2-
  for (let k = 0; k < 2; k++) {
    const d = text.charCodeAt(i);
    if (d === 43 || d === 45 || (d >= 49 && d <= 57)) i++;
  }
  while (isBlank(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) === 35 /* # */ && i > at + 1) while (i < text.length && text.charCodeAt(i) !== 10) i++;
  if (text.charCodeAt(i) === 13) i++;
  if (text.charCodeAt(i) !== 10) return undefined;
  let ls = nameStart;
  while (ls > 0 && text.charCodeAt(ls - 1) !== 10) ls--;
  const column = nameStart - ls;
  let start = -1;
  let end = -1;
  for (let line = i + 1; line < text.length; ) {
    let k = line;
    while (isBlank(text.charCodeAt(k))) k++;
    let eol = k;
    while (eol < text.length && text.charCodeAt(eol) !== 10) eol++;
    const last = text.charCodeAt(eol - 1) === 13 ? eol - 1 : eol;
    if (last > k) {
      if (k - line <= column) break; // back at the name's level: the block is over
      if (start < 0) start = k;
      end = last;
    }
    line = eol + 1;
  }
  return start < 0 ? undefined : [start, end];
}

/** For a bracketed unquoted value [start, end): end + 1 when the closer of its opening bracket is at end. */
export function closerAfter(text: string, start: number, end: number): number {
  const open = text.charCodeAt(start);
  const close = text.charCodeAt(end);
  if (close === 125 /* } */ && (open === 123 || (open === 36 && text.charCodeAt(start + 1) === 123))) return end + 1;
  if (close === 93 /* ] */ && open === 91) return end + 1;
  return end;
}
