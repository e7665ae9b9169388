/**
 * File readers aligned to the stream format's segments: plaintext read in segment-sized chunks for encryption, and
 * ciphertext read as the header followed by whole segments (segment + tag) for decryption, so every segment is one
 * chunk — one cipher call and no split pieces (about 10–15% faster than 64 KiB reads when decrypting).
 */
import { closeSync, createReadStream, openSync, readSync, type ReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { collectYoungGarbage } from '../core/gc.js';
import { TAG_BYTES } from './aead.js';
import { DEFAULT_SEGMENT_BYTES, parseStreamHeader } from './stream.js';

/** Largest stream header: 7 fixed bytes, a 64-byte key id, a 16-byte salt and a 7-byte nonce prefix. */
const MAX_HEADER_BYTES = 7 + 64 + 16 + 7;

export function openPlaintextFile(path: string, segmentBytes = DEFAULT_SEGMENT_BYTES): ReadStream {
  return createReadStream(path, { highWaterMark: segmentBytes });
}

/** Reads a stream-format file header-first, then segment by segment. A file that does not parse is read plainly and left to the decryptor to refuse. */
export function openCiphertextFile(path: string): ReadStream {
  const head = Buffer.alloc(MAX_HEADER_BYTES);
  const fd = openSync(path, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  let parsed: ReturnType<typeof parseStreamHeader> | undefined;
  try {
    parsed = parseStreamHeader(head.subarray(0, n));
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || typeof parsed === 'number') return createReadStream(path);
  const rest = createReadStream(path, { start: parsed.bytes.length, highWaterMark: parsed.segmentBytes + TAG_BYTES });
  rest.unshift(parsed.bytes);
  return rest;
}

/** Default spacing of the collections a memory bound runs: 2 MiB, 32 default segments. */
export const MEMORY_BOUND_BYTES = 2 * 1024 * 1024;

/**
 * A pass-through stage that keeps a long file stream's memory flat. Every segment read and every segment sealed is a
 * fresh Buffer whose backing store V8 frees only after about 64 MiB of them are dead (its external-memory heuristic);
 * this stage runs a minor collection every `everyBytes` that pass through it (core/gc.ts), so at most a few MiB of spent
 * buffers exist at once. Measured by bench/crypto: a 1 GiB encryption peaks at about 58 MiB RSS instead of about 84,
 * and runs faster (fewer fresh pages to fault in). Chunks pass unchanged and uncopied.
 */
export function createMemoryBound(everyBytes = MEMORY_BOUND_BYTES): Transform {
  if (!Number.isSafeInteger(everyBytes) || everyBytes < 64 * 1024) throw new RangeError('everyBytes is an integer of at least 64 KiB');
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      seen += chunk.length;
      if (seen >= everyBytes) {
        seen = 0;
        collectYoungGarbage();
      }
      cb(null, chunk);
    },
  });
}
