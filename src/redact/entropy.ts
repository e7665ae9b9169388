/**
 * "High entropy" for values after secret-ish names (signature=, session=, code= …), where a short or
 * word-like value is not a secret but a random one is. Shannon entropy in bits per character over the
 * first 256 characters, plus a shape test, so that words, numbers, UUIDs and paths stay.
 */
export interface EntropyOptions {
  minLength: number;
  minBits: number;
}

export const DEFAULT_ENTROPY: EntropyOptions = { minLength: 16, minBits: 3.0 };

const counts = new Int32Array(128);
const seen = new Int32Array(256);

/** Shannon entropy in bits per character of the first 256 characters (non-ASCII counted as one symbol). */
export function shannonBits(value: string): number {
  const n = Math.min(value.length, 256);
  if (n === 0) return 0;
  let distinct = 0;
  let other = 0;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c >= 128) other++;
    else if (counts[c]!++ === 0) seen[distinct++] = c;
  }
  let bits = 0;
  for (let k = 0; k < distinct; k++) {
    const c = seen[k]!;
    const p = counts[c]! / n;
    bits -= p * Math.log2(p);
    counts[c] = 0; // reset only what was touched
  }
  if (other > 0) bits -= (other / n) * Math.log2(other / n);
  return bits;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A random credential carries at least this many bits (16 hex characters, 64 bits, is an id, not a key). */
const MIN_TOTAL_BITS = 72;

/** True for a value that looks random enough to be a credential. */
export function looksRandom(value: string, opts: EntropyOptions = DEFAULT_ENTROPY, length = value.length): boolean {
  if (length < opts.minLength) return false;
  if (value.length === 36 && UUID.test(value)) return false;
  let digits = 0;
  let upper = 0;
  let lower = 0;
  const n = Math.min(value.length, 256);
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c >= 65 && c <= 90) upper++;
    else if (c >= 97 && c <= 122) lower++;
  }
  // Words and identifiers (snake_case, kebab-case, CamelCase) have no digits; timestamps and ids have no letters.
  const letters = upper + lower;
  const mixed = (digits > 0 && letters > 0) || (upper > 0 && lower > 0 && n >= 32);
  if (!mixed) return false;
  const bits = shannonBits(value);
  return bits >= opts.minBits && bits * Math.min(length, 256) >= MIN_TOTAL_BITS;
}
