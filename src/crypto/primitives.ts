/** HKDF-SHA256 (RFC 5869), secure random and constant-time equality, all from node:crypto. */
import { hkdfSync, randomBytes, randomFillSync } from 'node:crypto';
import { KEY_BYTES } from './aead.js';

export { constantTimeEqual, constantTimeEqualBytes } from '../core/compare.js';

/** RFC 5869 extract-and-expand with SHA-256. `length` is at most 255 × 32 bytes. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Buffer {
  if (!Number.isInteger(length) || length < 1 || length > 255 * 32) throw new RangeError('HKDF-SHA256 output is 1 to 8160 bytes');
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
}

/** Cryptographically secure random bytes (OpenSSL's CSPRNG, seeded by the OS). */
export function secureRandom(length: number): Buffer {
  return randomBytes(length);
}

/** Fills `target` with secure random bytes in place. */
export function fillRandom(target: Uint8Array): void {
  randomFillSync(target);
}

/** A fresh 256-bit key for any of the AEAD algorithms. */
export function generateKey(): Buffer {
  return randomBytes(KEY_BYTES);
}
