/**
 * AEAD primitives with explicit key, nonce and AAD (issue 7, "Primitives").
 *
 * AES-256-GCM and ChaCha20-Poly1305 come from node:crypto (OpenSSL); XChaCha20-Poly1305 — which node:crypto lacks —
 * from @noble/ciphers (audited, no hand-rolled primitive). Every sealed value is `ciphertext ‖ tag` with a 16-byte tag.
 * Opening never returns anything before the tag has verified.
 */
import { createCipheriv, createDecipheriv, type CipherGCM, type DecipherGCM } from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { GatehouseError } from '../core/errors.js';

export type AeadAlgorithm = 'aes-256-gcm' | 'chacha20-poly1305' | 'xchacha20-poly1305';

export const AEAD_ALGORITHMS: readonly AeadAlgorithm[] = ['aes-256-gcm', 'chacha20-poly1305', 'xchacha20-poly1305'];
export const KEY_BYTES = 32;
export const TAG_BYTES = 16;

/**
 * Largest plaintext one sealed value may carry here. GCM allows 2^36-32 bytes per nonce (SP 800-38D) and
 * ChaCha20-Poly1305 about 2^38 (RFC 8439 §2.8); one in-memory message is capped lower, larger data uses the stream format.
 */
export const MAX_PLAINTEXT_BYTES = 2 ** 30;

const NONCE_BYTES: Readonly<Record<AeadAlgorithm, number>> = {
  'aes-256-gcm': 12,
  'chacha20-poly1305': 12,
  'xchacha20-poly1305': 24,
};

export function isAeadAlgorithm(value: unknown): value is AeadAlgorithm {
  return typeof value === 'string' && (AEAD_ALGORITHMS as readonly string[]).includes(value);
}

export function nonceLength(alg: AeadAlgorithm): number {
  const n = NONCE_BYTES[alg];
  if (n === undefined) throw new TypeError('unknown AEAD algorithm');
  return n;
}

/** Caller misuse (wrong key or nonce length, oversized input) is a TypeError, never a GatehouseError. */
export function checkInputs(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, length: number): void {
  checkKey(alg, key, length);
  if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES[alg]) throw new TypeError(`an ${alg} nonce is ${NONCE_BYTES[alg]} bytes`);
}

/** Checks the algorithm, the key length and the plaintext size before anything is allocated. */
export function checkKey(alg: AeadAlgorithm, key: Uint8Array, length: number): void {
  if (!isAeadAlgorithm(alg)) throw new TypeError('unknown AEAD algorithm');
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) throw new TypeError(`an ${alg} key is ${KEY_BYTES} bytes`);
  if (length > MAX_PLAINTEXT_BYTES) throw new RangeError(`a sealed value holds at most ${MAX_PLAINTEXT_BYTES} bytes; use the stream format`);
}

type NodeAlgorithm = Exclude<AeadAlgorithm, 'xchacha20-poly1305'>;

/** A node:crypto cipher with `aad` parts fed in order (feeding parts is the same as feeding their concatenation). */
export function nodeCipher(alg: NodeAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: readonly Uint8Array[]): CipherGCM {
  const cipher = createCipheriv(alg as 'aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  for (const part of aad) if (part.length > 0) cipher.setAAD(part);
  return cipher;
}

export function nodeDecipher(alg: NodeAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: readonly Uint8Array[], tag: Uint8Array): DecipherGCM {
  const decipher = createDecipheriv(alg as 'aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  for (const part of aad) if (part.length > 0) decipher.setAAD(part);
  decipher.setAuthTag(tag);
  return decipher;
}

function concatAad(aad: readonly Uint8Array[]): Uint8Array {
  if (aad.length === 1) return aad[0] as Uint8Array;
  return Buffer.concat(aad);
}

const decryptFailed = (cause?: unknown): GatehouseError =>
  new GatehouseError('GH_CRYPTO_DECRYPT_FAILED', undefined, { detail: 'authentication tag did not verify', cause });

/**
 * Seals `plaintext` into `out` at `offset`: ciphertext then tag (out must have plaintext.length + 16 bytes there).
 * Used by the message format to build its output in one allocation.
 */
export function sealInto(
  alg: AeadAlgorithm,
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: readonly Uint8Array[],
  out: Uint8Array,
  offset: number,
): void {
  if (alg === 'xchacha20-poly1305') {
    out.set(xchacha20poly1305(key, nonce, concatAad(aad)).encrypt(plaintext), offset);
    return;
  }
  const cipher = nodeCipher(alg, key, nonce, aad);
  const ct = cipher.update(plaintext);
  out.set(ct, offset);
  const tail = cipher.final();
  if (tail.length > 0) out.set(tail, offset + ct.length);
  out.set(cipher.getAuthTag(), offset + plaintext.length);
}

/**
 * Opens `sealed` (ciphertext ‖ tag). The tag is checked before anything is returned; on failure the error is
 * GH_CRYPTO_DECRYPT_FAILED (wrong key, tampered ciphertext, tag, nonce or AAD) and no plaintext escapes.
 */
export function openParts(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: readonly Uint8Array[]): Buffer {
  if (sealed.length < TAG_BYTES) throw new GatehouseError('GH_CRYPTO_MALFORMED', undefined, { detail: 'shorter than the tag' });
  if (alg === 'xchacha20-poly1305') {
    try {
      const pt = xchacha20poly1305(key, nonce, concatAad(aad)).decrypt(sealed);
      return Buffer.from(pt.buffer, pt.byteOffset, pt.length);
    } catch (e) {
      throw decryptFailed(e);
    }
  }
  const ctLen = sealed.length - TAG_BYTES;
  const decipher = nodeDecipher(alg, key, nonce, aad, sealed.subarray(ctLen));
  const pt = decipher.update(sealed.subarray(0, ctLen));
  try {
    decipher.final();
  } catch (e) {
    pt.fill(0);
    throw decryptFailed(e);
  }
  return pt;
}

/** Encrypts and authenticates: returns ciphertext ‖ 16-byte tag. */
export function seal(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array = EMPTY): Buffer {
  checkInputs(alg, key, nonce, plaintext.length);
  const out = Buffer.allocUnsafe(plaintext.length + TAG_BYTES);
  sealInto(alg, key, nonce, plaintext, [aad], out, 0);
  return out;
}

/** Verifies and decrypts ciphertext ‖ tag; throws GH_CRYPTO_DECRYPT_FAILED or GH_CRYPTO_MALFORMED. */
export function open(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array = EMPTY): Buffer {
  checkInputs(alg, key, nonce, Math.max(0, sealed.length - TAG_BYTES));
  return openParts(alg, key, nonce, sealed, [aad]);
}

const EMPTY = new Uint8Array(0);
