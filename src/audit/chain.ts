/**
 * The hash chain (docs/audit.md § Chain).
 *
 * A record line is the canonical JSON of its payload with the chain trailer appended as its last three members:
 *
 *   {<canonical payload members>,"seq":N,"prev_hash":"<64 hex>","hash":"<64 hex>"}
 *
 * `hash` = SHA-256 over the line's UTF-8 bytes with the final `,"hash":"…"` member removed, i.e. over
 * `{<payload>,"seq":N,"prev_hash":"…"}`. `prev_hash` is the previous record's `hash` (GENESIS_HASH for the first
 * record ever). Keeping the trailer at a fixed place lets verify check the chain without parsing every record.
 */
import { hash as oneShotHash } from 'node:crypto';
import { canonicalJson } from './canonical.js';

export const GENESIS_HASH = '0'.repeat(64);

/** Top-level names the chain owns; a payload must not carry them. */
export const CHAIN_FIELDS = ['seq', 'prev_hash', 'hash'] as const;

// `,"hash":"` + 64 hex + `"}`
const HASH_TAIL = 75;
// `,"prev_hash":"` + 64 hex + `"`
const PREV_TAIL = 79;
const HASH_KEY = Buffer.from(',"hash":"');
const PREV_KEY = Buffer.from(',"prev_hash":"');
const SEQ_KEY = Buffer.from(',"seq":');

export interface SerializedRecord {
  line: string;
  hash: string;
}

/** Builds one record line from an already canonical payload (`{...}` without chain fields). */
export function chainLine(canonicalPayload: string, seq: number, prevHash: string): SerializedRecord {
  if (canonicalPayload.length <= 2) throw new TypeError('an audit payload cannot be empty');
  const hashed = `${canonicalPayload.slice(0, -1)},"seq":${seq},"prev_hash":"${prevHash}"}`;
  const hash = oneShotHash('sha256', hashed, 'hex');
  return { line: `${hashed.slice(0, -1)},"hash":"${hash}"}`, hash };
}

/** Serialises a payload object canonically and chains it. */
export function serializeRecord(payload: Record<string, unknown>, seq: number, prevHash: string): SerializedRecord {
  return chainLine(canonicalJson(payload), seq, prevHash);
}

export interface Trailer {
  seq: number;
  prevHash: string;
  hash: string;
  /** SHA-256 of the line as the writer hashed it; equals `hash` when the record is intact. */
  computed: string;
}

/** Whether `buf` holds `pattern` at `at` (a JS loop: cheaper than Buffer.compare's native call for a few bytes). */
export function bytesAt(buf: Buffer, at: number, pattern: Uint8Array): boolean {
  if (at < 0 || at + pattern.length > buf.length) return false;
  for (let i = 0; i < pattern.length; i++) if (buf[at + i] !== pattern[i]) return false;
  return true;
}

/**
 * Reads the chain trailer of one line (without its newline) and recomputes the hash.
 * Returns undefined when the line does not end in a well-formed trailer (torn, truncated or not ours).
 */
export function readTrailer(buf: Buffer, start: number, end: number): Trailer | undefined {
  const len = end - start;
  if (len < HASH_TAIL + PREV_TAIL + SEQ_KEY.length + 2 || buf[start] !== 0x7b || buf[end - 1] !== 0x7d || buf[end - 2] !== 0x22) return undefined;
  const hashKeyAt = end - HASH_TAIL;
  if (!bytesAt(buf, hashKeyAt, HASH_KEY)) return undefined;
  const prevKeyAt = hashKeyAt - PREV_TAIL;
  if (buf[hashKeyAt - 1] !== 0x22 || !bytesAt(buf, prevKeyAt, PREV_KEY)) return undefined;
  const hashStart = hashKeyAt + HASH_KEY.length;
  const prevStart = prevKeyAt + PREV_KEY.length;
  // The two hashes are not checked to be hex here: a stored hash that is not equals no computed one (a break).
  // seq: digits right before `,"prev_hash":"`, preceded by `,"seq":` (payloads are never empty).
  let i = prevKeyAt - 1;
  let seq = 0;
  let mul = 1;
  while (i > start && (buf[i] as number) >= 0x30 && (buf[i] as number) <= 0x39 && mul <= 1e15) {
    seq += ((buf[i] as number) - 0x30) * mul;
    mul *= 10;
    i--;
  }
  if (mul === 1) return undefined;
  const seqKeyAt = i - SEQ_KEY.length + 1;
  if (seqKeyAt <= start || !bytesAt(buf, seqKeyAt, SEQ_KEY)) return undefined;
  // The hashed text is the line up to `,"hash":` closed by `}`: put the `}` in place of that comma for one
  // one-shot hash over a single view (about twice as fast as update + update), then put the comma back.
  buf[hashKeyAt] = 0x7d;
  const computed = oneShotHash('sha256', buf.subarray(start, hashKeyAt + 1), 'hex');
  buf[hashKeyAt] = 0x2c;
  return {
    seq,
    prevHash: buf.toString('latin1', prevStart, prevStart + 64),
    hash: buf.toString('latin1', hashStart, hashStart + 64),
    computed,
  };
}

/** Convenience for strings (tests, single lines). */
export function readTrailerOf(line: string): Trailer | undefined {
  const buf = Buffer.from(line);
  return readTrailer(buf, 0, buf.length);
}
