/**
 * The Gatehouse stream: chunked AEAD for payloads larger than memory (docs/formats.md, "Gatehouse stream"), after
 * Tink's streaming AEAD and age's STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár: "Online
 * Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance").
 *
 *   header  = "GHS" | 0x01 | algorithm id | log2(segment size) | L | key id | salt (16) | nonce prefix (7)
 *   key     = HKDF-SHA256(ikm = key, salt, info = "gatehouse stream v1")   — a fresh key per stream
 *   nonce_i = nonce prefix | u32 BE i | last flag (0x00, or 0x01 on the final segment)
 *   AAD     = header ‖ caller context (every segment)
 *   body    = segment_0 ‖ … ‖ segment_n, each ciphertext ‖ tag; all but the last carry exactly one segment of plaintext
 *
 * The counter catches reordered, dropped and duplicated segments; the last flag catches truncation at a segment
 * boundary; memory stays at about one segment. Decryption emits a segment's plaintext only after its tag verified.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { GatehouseError } from '../core/errors.js';
import { nodeCipher, nodeDecipher, TAG_BYTES, type AeadAlgorithm } from './aead.js';
import { ALGORITHM_IDS, algorithmFromId, isValidKeyId, MAX_KEY_ID_BYTES, type MessageKey } from './message.js';
import { hkdfSha256, secureRandom } from './primitives.js';

export const STREAM_MAGIC = Buffer.from('GHS', 'latin1');
export const STREAM_VERSION = 1;
export const DEFAULT_SEGMENT_BYTES = 64 * 1024;
const MIN_SEGMENT_LOG2 = 12;
const MAX_SEGMENT_LOG2 = 24;
const SALT_BYTES = 16;
const PREFIX_BYTES = 7;
const MAX_SEGMENTS = 2 ** 32;
const INFO = Buffer.from('gatehouse stream v1', 'latin1');

type StreamAlgorithm = Exclude<AeadAlgorithm, 'xchacha20-poly1305'>;

export interface StreamHeader {
  readonly algorithm: StreamAlgorithm;
  readonly segmentBytes: number;
  readonly keyId: string;
  readonly salt: Buffer;
  readonly noncePrefix: Buffer;
  /** The raw header bytes (authenticated with every segment). */
  readonly bytes: Buffer;
}

export interface StreamOptions {
  /** Caller context bound to every segment (same bytes on both sides). */
  aad?: Uint8Array;
  /** Plaintext bytes per segment: a power of two from 4 KiB to 16 MiB. Default 64 KiB. */
  segmentBytes?: number;
}

const malformed = (detail: string) => new GatehouseError('GH_CRYPTO_MALFORMED', undefined, { detail });
const truncated = (detail: string) => new GatehouseError('GH_CRYPTO_TRUNCATED', undefined, { detail });

function segmentLog2(bytes: number): number {
  const k = Math.log2(bytes);
  if (!Number.isInteger(k) || k < MIN_SEGMENT_LOG2 || k > MAX_SEGMENT_LOG2) throw new TypeError('segmentBytes is a power of two from 4 KiB to 16 MiB');
  return k;
}

function buildHeader(key: MessageKey, segmentBytes: number): StreamHeader {
  if (key.algorithm === 'xchacha20-poly1305') throw new TypeError('the stream format uses aes-256-gcm or chacha20-poly1305');
  if (!isValidKeyId(key.id)) throw new TypeError('a key id is 1 to 64 characters of A-Z a-z 0-9 . _ : -');
  const k = segmentLog2(segmentBytes);
  const salt = secureRandom(SALT_BYTES);
  const noncePrefix = secureRandom(PREFIX_BYTES);
  const bytes = Buffer.concat([STREAM_MAGIC, Buffer.from([STREAM_VERSION, ALGORITHM_IDS[key.algorithm], k, key.id.length]), Buffer.from(key.id, 'latin1'), salt, noncePrefix]);
  return { algorithm: key.algorithm, segmentBytes, keyId: key.id, salt, noncePrefix, bytes };
}

/** Bytes needed before the header can be parsed, or the parsed header. Throws GH_CRYPTO_MALFORMED. */
export function parseStreamHeader(buf: Buffer): StreamHeader | number {
  const magicLen = Math.min(buf.length, 3);
  if (!buf.subarray(0, magicLen).equals(STREAM_MAGIC.subarray(0, magicLen))) throw malformed('not a Gatehouse stream');
  if (buf.length < 7) return 7;
  if (buf[3] !== STREAM_VERSION) throw malformed('unsupported stream version');
  const algorithm = algorithmFromId(buf[4] as number);
  if (algorithm !== 'aes-256-gcm' && algorithm !== 'chacha20-poly1305') throw malformed('unknown stream algorithm');
  const k = buf[5] as number;
  if (k < MIN_SEGMENT_LOG2 || k > MAX_SEGMENT_LOG2) throw malformed('segment size out of range');
  const idLen = buf[6] as number;
  if (idLen < 1 || idLen > MAX_KEY_ID_BYTES) throw malformed('key id length out of range');
  const total = 7 + idLen + SALT_BYTES + PREFIX_BYTES;
  if (buf.length < total) return total;
  const keyId = buf.toString('latin1', 7, 7 + idLen);
  if (!isValidKeyId(keyId)) throw malformed('key id has invalid characters');
  const bytes = Buffer.from(buf.subarray(0, total));
  return {
    algorithm, segmentBytes: 2 ** k, keyId, bytes,
    salt: bytes.subarray(7 + idLen, 7 + idLen + SALT_BYTES),
    noncePrefix: bytes.subarray(7 + idLen + SALT_BYTES),
  };
}

/** Writes nonce_i into `nonce` (reused per stream: createCipheriv copies the IV). */
function segmentNonce(nonce: Buffer, prefix: Buffer, index: number, last: boolean): Buffer {
  prefix.copy(nonce, 0);
  nonce.writeUInt32BE(index, PREFIX_BYTES);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

const streamKey = (material: Uint8Array, header: StreamHeader): Buffer => hkdfSha256(material, header.salt, INFO, 32);

/** Chunks queued without copying; `take(n)` hands out exactly n bytes as slices. */
class ChunkQueue {
  #chunks: Buffer[] = [];
  bytes = 0;
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.bytes += chunk.length;
  }
  take(n: number): Buffer[] {
    const out: Buffer[] = [];
    while (n > 0) {
      const head = this.#chunks[0] as Buffer;
      if (head.length <= n) {
        out.push(head);
        this.#chunks.shift();
        n -= head.length;
        this.bytes -= head.length;
      } else {
        out.push(head.subarray(0, n));
        this.#chunks[0] = head.subarray(n);
        this.bytes -= n;
        n = 0;
      }
    }
    return out;
  }
  takeAll(): Buffer[] {
    return this.take(this.bytes);
  }
}

/** Splits a segment held in pieces into its ciphertext pieces (no copy) and its 16-byte tag (copied when split). */
function splitTag(pieces: Buffer[]): { ciphertext: Buffer[]; tag: Buffer } {
  let total = 0;
  for (const p of pieces) total += p.length;
  const ctLen = total - TAG_BYTES;
  const ciphertext: Buffer[] = [];
  const tagParts: Buffer[] = [];
  let at = 0;
  for (const p of pieces) {
    const end = at + p.length;
    if (end <= ctLen) ciphertext.push(p);
    else if (at >= ctLen) tagParts.push(p);
    else {
      ciphertext.push(p.subarray(0, ctLen - at));
      tagParts.push(p.subarray(ctLen - at));
    }
    at = end;
  }
  return { ciphertext, tag: tagParts.length === 1 ? (tagParts[0] as Buffer) : Buffer.concat(tagParts) };
}

const EMPTY = new Uint8Array(0);

/** A Transform that encrypts plaintext into the stream format. */
export function createEncryptStream(key: MessageKey, opts: StreamOptions = {}): Transform {
  const header = buildHeader(key, opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES);
  const segKey = streamKey(key.material, header);
  const aad = opts.aad ?? EMPTY;
  const queue = new ChunkQueue();
  const nonce = Buffer.alloc(12);
  let index = 0;
  let started = false;

  const sealSegment = (t: Transform, pieces: Buffer[], last: boolean): void => {
    if (index >= MAX_SEGMENTS) throw new RangeError('the stream exceeds 2^32 segments');
    const cipher = nodeCipher(header.algorithm, segKey, segmentNonce(nonce, header.noncePrefix, index++, last), [header.bytes, aad]);
    for (const piece of pieces) t.push(cipher.update(piece));
    cipher.final();
    t.push(cipher.getAuthTag());
  };
  const start = (t: Transform): void => {
    if (!started) {
      started = true;
      t.push(header.bytes);
    }
  };

  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      try {
        start(this);
        queue.push(chunk);
        // A segment is sealed as non-final only once a byte beyond it exists: the final flag must be right.
        while (queue.bytes > header.segmentBytes) sealSegment(this, queue.take(header.segmentBytes), false);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
    flush(cb: TransformCallback) {
      try {
        start(this);
        sealSegment(this, queue.takeAll(), true);
        segKey.fill(0);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
  });
}

/** Resolves the key a stream header names (GH_CRYPTO_KEY_UNKNOWN / GH_CRYPTO_KEY_RETIRED from the resolver). */
export type StreamKeyResolver = (header: StreamHeader) => MessageKey;

/**
 * A Transform that decrypts the stream format. Each segment's plaintext is pushed only after its tag verified; a
 * stream that ends without its final segment errors with GH_CRYPTO_TRUNCATED, a tampered, reordered, dropped or
 * duplicated segment with GH_CRYPTO_DECRYPT_FAILED, a bad header with GH_CRYPTO_MALFORMED.
 */
export function createDecryptStream(keyOrResolver: MessageKey | StreamKeyResolver, opts: Pick<StreamOptions, 'aad'> = {}): Transform {
  const aad = opts.aad ?? EMPTY;
  const queue = new ChunkQueue();
  let header: StreamHeader | undefined;
  let segKey: Buffer | undefined;
  const nonce = Buffer.alloc(12);
  let index = 0;

  const resolveKey = (h: StreamHeader): Buffer => {
    const key = typeof keyOrResolver === 'function' ? keyOrResolver(h) : keyOrResolver;
    if (typeof keyOrResolver !== 'function' && key.id !== h.keyId) {
      throw new GatehouseError('GH_CRYPTO_KEY_UNKNOWN', undefined, { detail: 'the stream names another key' });
    }
    if (key.algorithm !== h.algorithm) throw new GatehouseError('GH_CRYPTO_DECRYPT_FAILED', undefined, { detail: 'algorithm does not match the key' });
    return streamKey(key.material, h);
  };

  /** Verifies one segment; returns its plaintext pieces, or undefined when the tag does not verify. */
  const openSegment = (pieces: Buffer[], last: boolean, at: number): Buffer[] | undefined => {
    const h = header as StreamHeader;
    const { ciphertext, tag } = splitTag(pieces);
    const decipher = nodeDecipher(h.algorithm, segKey as Buffer, segmentNonce(nonce, h.noncePrefix, at, last), [h.bytes, aad], tag);
    const out = ciphertext.map((c) => decipher.update(c));
    try {
      decipher.final();
      return out;
    } catch {
      for (const b of out) b.fill(0);
      return undefined;
    }
  };

  const emitSegment = (t: Transform, pieces: Buffer[], last: boolean): void => {
    if (index >= MAX_SEGMENTS) throw malformed('more than 2^32 segments');
    const plain = openSegment(pieces, last, index);
    if (!plain) {
      // A full segment that verifies as non-final but was the end of input: the stream was cut after it.
      if (last && pieces.reduce((n, p) => n + p.length, 0) === (header as StreamHeader).segmentBytes + TAG_BYTES && openSegment(pieces, false, index)) {
        throw truncated('the final segment is missing');
      }
      throw new GatehouseError('GH_CRYPTO_DECRYPT_FAILED', undefined, { detail: `segment ${index} did not verify` });
    }
    index++;
    for (const p of plain) if (p.length > 0) t.push(p);
  };

  const readHeader = (): boolean => {
    if (header) return true;
    const peek = Buffer.concat(queue.takeAll());
    const parsed = parseStreamHeader(peek);
    if (typeof parsed === 'number') {
      queue.push(peek);
      return false;
    }
    header = parsed;
    queue.push(peek.subarray(parsed.bytes.length));
    segKey = resolveKey(parsed);
    return true;
  };

  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      try {
        queue.push(chunk);
        if (!readHeader()) return cb();
        const full = (header as StreamHeader).segmentBytes + TAG_BYTES;
        while (queue.bytes > full) emitSegment(this, queue.take(full), false);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
    flush(cb: TransformCallback) {
      try {
        if (!header) {
          if (queue.bytes > 0) readHeader();
          if (!header) throw truncated('the stream ends inside its header');
        }
        if (queue.bytes < TAG_BYTES) throw truncated('the final segment is missing');
        emitSegment(this, queue.takeAll(), true);
        segKey?.fill(0);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
  });
}
