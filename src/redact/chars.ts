/**
 * ASCII character classes as bit flags in one table, so every rule scans with a table lookup
 * instead of a regex. Code points >= 128 have no flag (they are never part of a token).
 */
export const ALNUM = 1; // A-Z a-z 0-9
export const B64URL = 2; // A-Z a-z 0-9 _ -
export const B64 = 4; // A-Z a-z 0-9 + /
export const TOKEN68 = 8; // A-Z a-z 0-9 - . _ ~ + /   (RFC 7235 token68, without the '=' padding)
export const NAME = 16; // A-Z a-z 0-9 _ . -          (a key name: api_key, x-api-key, db.password)
export const PATH = 32; // A-Z a-z 0-9 _ . - / \ ~ + % $ (a file path, without spaces)
export const SPACE = 64; // space, tab, CR, LF
/** Ends an unquoted value: whitespace, quotes, separators and closing brackets. */
export const VALUE_STOP = 128;
export const UPPER = 256;
export const LOWER = 512;
export const DIGIT = 1024;

export const CLASS = new Uint16Array(128);
(() => {
  const add = (chars: string, flag: number) => {
    for (const c of chars) CLASS[c.charCodeAt(0)]! |= flag;
  };
  const upper = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const lower = 'abcdefghijklmnopqrstuvwxyz';
  const digits = '0123456789';
  const alnum = upper + lower + digits;
  add(upper, UPPER);
  add(lower, LOWER);
  add(digits, DIGIT);
  add(alnum, ALNUM);
  add(alnum + '_-', B64URL);
  add(alnum + '+/', B64);
  add(alnum + '-._~+/', TOKEN68);
  add(alnum + '_.-', NAME);
  add(alnum + '_.-/\\~+%$', PATH);
  add(' \t\r\n', SPACE);
  add(' \t\r\n"\'`,;&)}]<>\\', VALUE_STOP);
})();

/** The flags of the character at i (0 outside the string or for non-ASCII). */
export function cls(text: string, i: number): number {
  const c = text.charCodeAt(i);
  return c < 128 ? CLASS[c]! : 0; // NaN (out of range) compares false → 0
}

/** Index just past the run of characters having `flag`, starting at i, scanning at most `max` characters. */
export function runEnd(text: string, i: number, flag: number, max = Infinity): number {
  const n = Math.min(text.length, i + max);
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c >= 128 || (CLASS[c]! & flag) === 0) break;
    i++;
  }
  return i;
}

/** Index of the first character of the run having `flag` that ends just before i, going back at most to `floor`. */
export function runStart(text: string, i: number, flag: number, floor: number): number {
  while (i > floor) {
    const c = text.charCodeAt(i - 1);
    if (c >= 128 || (CLASS[c]! & flag) === 0) break;
    i--;
  }
  return i;
}

/** True when `text` at `at` reads `word` exactly (case-sensitive). */
export function startsAt(text: string, at: number, word: string): boolean {
  return text.startsWith(word, at);
}

/** True when `text` at `at` reads `lowerWord` ignoring ASCII case. */
export function startsAtFolded(text: string, at: number, lowerWord: string): boolean {
  if (at < 0 || at + lowerWord.length > text.length) return false;
  for (let k = 0; k < lowerWord.length; k++) {
    let c = text.charCodeAt(at + k);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lowerWord.charCodeAt(k)) return false;
  }
  return true;
}
