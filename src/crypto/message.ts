/**
 * The Gatehouse message: a versioned, self-describing AEAD ciphertext (docs/formats.md, "Gatehouse message").
 *
 *   "GHM" | version 0x01 | algorithm id | key id length L | key id (L bytes) | nonce | ciphertext | tag (16)
 *
 * Everything before the ciphertext is the header; it is authenticated as the first part of the AAD, followed by the
 * caller's context (for example tenant and stream), so a message whose header was edited, or which was moved to
 * another context, fails to open. Parsing is bounded: no length field is trusted beyond the buffer.
 */
import { GatehouseError } from '../core/errors.js';
import { checkInputs, checkKey, nonceLength, openParts, sealInto, TAG_BYTES, type AeadAlgorithm, nodeCipher } from './aead.js';
import { fillRandom } from './primitives.js';

export const MESSAGE_MAGIC = Buffer.from('GHM', 'latin1');
export const MESSAGE_VERSION = 1;
export const MAX_KEY_ID_BYTES = 64;

/** Algorithm ids on the wire, shared with the stream format. */
export const ALGORITHM_IDS: Readonly<Record<AeadAlgorithm, number>> = {
  'aes-256-gcm': 0x01,
  'chacha20-poly1305': 0x02,
  'xchacha20-poly1305': 0x03,
};

export function algorithmFromId(id: number): AeadAlgorithm | undefined {
  for (const [name, value] of Object.entries(ALGORITHM_IDS)) if (value === id) return name as AeadAlgorithm;
  return undefined;
}

// Key ids are printable and short: they travel in clear in every header and appear in `keys list`.
const KEY_ID_RE = /^[A-Za-z0-9._:-]{1,64}$/;
export function isValidKeyId(id: unknown): id is string {
  return typeof id === 'string' && KEY_ID_RE.test(id);
}

/** A key as the message layer needs it. `material` is 32 bytes. */
export interface MessageKey {
  readonly id: string;
  readonly algorithm: AeadAlgorithm;
  readonly material: Uint8Array;
}

export interface MessageHeader {
  readonly version: number;
  readonly algorithm: AeadAlgorithm;
  readonly keyId: string;
  readonly nonce: Buffer;
  /** Bytes of header; the ciphertext starts here. */
  readonly length: number;
}

const malformed = (detail: string): GatehouseError => new GatehouseError('GH_CRYPTO_MALFORMED', undefined, { detail });

/** Reads and checks the header of a message. Throws GH_CRYPTO_MALFORMED; never reads past the buffer. */
const ALGORITHM_BY_ID: readonly (AeadAlgorithm | undefined)[] = [undefined, 'aes-256-gcm', 'chacha20-poly1305', 'xchacha20-poly1305'];

/** A-Z a-z 0-9 . _ : - (the key id alphabet), checked byte by byte. */
function isKeyIdByte(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x3a) || b === 0x2e || b === 0x5f || b === 0x2d;
}

export const asBuffer = (bytes: Uint8Array): Buffer => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));

/** Reads and checks the header of a message. Throws GH_CRYPTO_MALFORMED; never reads past the buffer. */
export function parseMessageHeader(message: Uint8Array): MessageHeader {
  if (!(message instanceof Uint8Array)) throw new TypeError('a message is a Buffer or Uint8Array');
  const buf = asBuffer(message);
  if (buf.length < 6 || buf[0] !== 0x47 || buf[1] !== 0x48 || buf[2] !== 0x4d) throw malformed('not a Gatehouse message');
  const version = buf[3] as number;
  if (version !== MESSAGE_VERSION) throw malformed('unsupported message version');
  const algorithm = ALGORITHM_BY_ID[buf[4] as number];
  if (!algorithm) throw malformed('unknown algorithm id');
  const idLen = buf[5] as number;
  if (idLen < 1 || idLen > MAX_KEY_ID_BYTES) throw malformed('key id length out of range');
  const headerLength = 6 + idLen + (algorithm === 'xchacha20-poly1305' ? 24 : 12);
  // The header, then at least a tag: anything shorter is cut or forged.
  if (buf.length < headerLength + TAG_BYTES) throw malformed('shorter than its header and tag');
  for (let i = 6; i < 6 + idLen; i++) if (!isKeyIdByte(buf[i] as number)) throw malformed('key id has invalid characters');
  return { version, algorithm, keyId: buf.toString('latin1', 6, 6 + idLen), nonce: buf.subarray(6 + idLen, headerLength), length: headerLength };
}

function headerLength(key: MessageKey): number {
  if (!isValidKeyId(key.id)) throw new TypeError('a key id is 1 to 64 characters of A-Z a-z 0-9 . _ : -');
  return 6 + key.id.length + nonceLength(key.algorithm);
}

/** Writes the header for `key` with a fresh random nonce into `out`; returns the header length. */
function writeHeader(key: MessageKey, out: Buffer): number {
  out.set(MESSAGE_MAGIC, 0);
  out[3] = MESSAGE_VERSION;
  out[4] = ALGORITHM_IDS[key.algorithm];
  out[5] = key.id.length;
  out.write(key.id, 6, 'latin1');
  const nonceAt = 6 + key.id.length;
  const end = nonceAt + nonceLength(key.algorithm);
  fillRandom(out.subarray(nonceAt, end));
  return end;
}

const EMPTY = new Uint8Array(0);

/**
 * Encrypts `plaintext` into one Gatehouse message, allocated once. `aad` is the caller's context (not stored in the
 * message): the same bytes must be given to open it. The nonce is random, so the key ring counts encryptions per key.
 */
export function sealMessage(key: MessageKey, plaintext: Uint8Array, aad: Uint8Array = EMPTY): Buffer {
  const hl = headerLength(key);
  checkKey(key.algorithm, key.material, plaintext.length);
  const out = Buffer.allocUnsafe(hl + plaintext.length + TAG_BYTES);
  writeHeader(key, out);
  const header = out.subarray(0, hl);
  const nonce = out.subarray(hl - nonceLength(key.algorithm), hl);
  sealInto(key.algorithm, key.material, nonce, plaintext, [header, aad], out, hl);
  return out;
}

/**
 * The same message as three buffers (header, ciphertext, tag) without assembling them: for writev-style sinks
 * (sockets, files) that would otherwise pay one more copy. Concatenated, they equal a `sealMessage` output.
 */
export function sealMessageParts(key: MessageKey, plaintext: Uint8Array, aad: Uint8Array = EMPTY): [Buffer, Buffer, Buffer] {
  const hl = headerLength(key);
  checkKey(key.algorithm, key.material, plaintext.length);
  if (key.algorithm === 'xchacha20-poly1305') {
    const whole = sealMessage(key, plaintext, aad);
    return [whole.subarray(0, hl), whole.subarray(hl, whole.length - TAG_BYTES), whole.subarray(whole.length - TAG_BYTES)];
  }
  const header = Buffer.allocUnsafe(hl);
  writeHeader(key, header);
  const nonce = header.subarray(hl - nonceLength(key.algorithm));
  const cipher = nodeCipher(key.algorithm, key.material, nonce, [header, aad]);
  const ct = cipher.update(plaintext);
  cipher.final();
  return [header, ct, cipher.getAuthTag()];
}

/** Finds the key for a header; throws GH_CRYPTO_KEY_UNKNOWN / GH_CRYPTO_KEY_RETIRED / GH_CRYPTO_KEY_SHREDDED itself. */
export type KeyResolver = (header: MessageHeader) => MessageKey;

/**
 * Opens a Gatehouse message. Errors, each with its own code and never with partial plaintext:
 * GH_CRYPTO_MALFORMED (bad header), the resolver's key errors, GH_CRYPTO_DECRYPT_FAILED (wrong key, tampering,
 * wrong context).
 */
export function openMessage(keyOrResolver: MessageKey | KeyResolver, message: Uint8Array, aad: Uint8Array = EMPTY): Buffer {
  const header = parseMessageHeader(message);
  const key = typeof keyOrResolver === 'function' ? keyOrResolver(header) : keyOrResolver;
  if (typeof keyOrResolver !== 'function' && key.id !== header.keyId) {
    throw new GatehouseError('GH_CRYPTO_KEY_UNKNOWN', undefined, { detail: 'the message names another key' });
  }
  if (key.algorithm !== header.algorithm) {
    throw new GatehouseError('GH_CRYPTO_DECRYPT_FAILED', undefined, { detail: 'the message algorithm does not match the key' });
  }
  const buf = asBuffer(message);
  checkInputs(key.algorithm, key.material, header.nonce, 0);
  return openParts(key.algorithm, key.material, header.nonce, buf.subarray(header.length), [buf.subarray(0, header.length), aad]);
}
