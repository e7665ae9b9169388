/**
 * Fernet tokens (seed 003: "AES-128 in CBC mode with PKCS7 padding and HMAC-SHA256 for integrity"), interoperable
 * with the Fernet specification (github.com/fernet/spec, Spec.md) and Python's cryptography.fernet:
 *
 *   token = base64url( 0x80 | timestamp (u64 BE seconds) | IV (16) | AES-128-CBC ciphertext | HMAC-SHA256 (32) )
 *   key   = base64url( signing key (16) | encryption key (16) )
 *
 * Verification checks the HMAC (constant time) before decrypting, then the TTL, and refuses tokens from more than
 * 60 seconds in the future (the spec's clock skew). Several keys may be given: the first encrypts, all decrypt
 * (MultiFernet-style rotation).
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { constantTimeEqualBytes } from '../core/compare.js';
import { GatehouseError } from '../core/errors.js';

const VERSION = 0x80;
const MAX_CLOCK_SKEW_S = 60;
const MIN_TOKEN_BYTES = 1 + 8 + 16 + 16 + 32;
/** Bounds the work spent on an untrusted token. */
export const MAX_FERNET_TOKEN_CHARS = 16 * 1024 * 1024;
const TOKEN_RE = /^[A-Za-z0-9_-]+={0,2}$/;
const KEY_RE = /^[A-Za-z0-9_-]{43}=$/;

interface FernetKey {
  signing: Buffer;
  encryption: Buffer;
}

/** A new Fernet key: 32 random bytes, base64url with padding (the spec's and Python's form). */
export function generateFernetKey(): string {
  return randomBytes(32).toString('base64url') + '=';
}

function parseKey(key: string | Uint8Array): FernetKey {
  let raw: Buffer;
  if (typeof key === 'string') {
    const text = key.trim();
    const padded = text.length === 43 ? `${text}=` : text;
    if (!KEY_RE.test(padded)) throw new GatehouseError('GH_CRYPTO_KEY_INVALID', 'The key is invalid: a Fernet key is 32 bytes of url-safe base64.');
    raw = Buffer.from(padded, 'base64url');
  } else raw = Buffer.from(key);
  if (raw.length !== 32) throw new GatehouseError('GH_CRYPTO_KEY_INVALID', 'The key is invalid: a Fernet key is 32 bytes.');
  return { signing: raw.subarray(0, 16), encryption: raw.subarray(16) };
}

const malformed = (detail: string) => new GatehouseError('GH_CRYPTO_MALFORMED', undefined, { detail });
const invalid = (detail: string) => new GatehouseError('GH_CRYPTO_DECRYPT_FAILED', undefined, { detail });

function decodeToken(token: string): Buffer {
  if (typeof token !== 'string' || token.length > MAX_FERNET_TOKEN_CHARS) throw malformed('not a Fernet token');
  if (!TOKEN_RE.test(token) || token.length % 4 !== 0) throw malformed('token is not url-safe base64');
  const data = Buffer.from(token, 'base64url');
  if (data.length < MIN_TOKEN_BYTES || (data.length - MIN_TOKEN_BYTES + 16) % 16 !== 0) throw malformed('token length is invalid');
  if (data[0] !== VERSION) throw malformed('unknown Fernet version');
  return data;
}

export interface FernetOptions {
  clock?: Clock;
}

export class Fernet {
  readonly #keys: FernetKey[];
  readonly #clock: Clock;

  /** `keys`: one key, or several (the first encrypts, every one decrypts). */
  constructor(keys: string | Uint8Array | readonly (string | Uint8Array)[], opts: FernetOptions = {}) {
    const list = Array.isArray(keys) ? keys : [keys as string | Uint8Array];
    if (list.length === 0) throw new TypeError('Fernet needs at least one key');
    this.#keys = list.map(parseKey);
    this.#clock = opts.clock ?? systemClock;
  }

  /** Encrypts `data` into a token stamped with the clock's time. `iv` is for test vectors only. */
  encrypt(data: Uint8Array | string, opts: { iv?: Uint8Array; at?: number } = {}): string {
    const key = this.#keys[0] as FernetKey;
    const iv = opts.iv ? Buffer.from(opts.iv) : randomBytes(16);
    if (iv.length !== 16) throw new TypeError('a Fernet IV is 16 bytes');
    const seconds = Math.floor((opts.at ?? this.#clock.now()) / 1000);
    const cipher = createCipheriv('aes-128-cbc', key.encryption, iv);
    const ciphertext = Buffer.concat([cipher.update(typeof data === 'string' ? Buffer.from(data, 'utf8') : data), cipher.final()]);
    const head = Buffer.allocUnsafe(9);
    head[0] = VERSION;
    head.writeBigUInt64BE(BigInt(seconds), 1);
    const signed = Buffer.concat([head, iv, ciphertext]);
    const mac = createHmac('sha256', key.signing).update(signed).digest();
    // url-safe base64 with padding, as the spec's tokens are.
    return Buffer.concat([signed, mac]).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
  }

  /** The token's timestamp (ms since the epoch), after its HMAC verified. */
  extractTimestamp(token: string): number {
    const { seconds } = this.#verify(token);
    return seconds * 1000;
  }

  #verify(token: string): { data: Buffer; key: FernetKey; seconds: number } {
    const data = decodeToken(token);
    const signed = data.subarray(0, data.length - 32);
    const mac = data.subarray(data.length - 32);
    const key = this.#keys.find((k) => constantTimeEqualBytes(createHmac('sha256', k.signing).update(signed).digest(), mac));
    if (!key) throw invalid('HMAC did not verify');
    return { data, key, seconds: Number(data.readBigUInt64BE(1)) };
  }

  /**
   * Verifies and decrypts. `ttlSeconds`: refuse tokens older than this (GH_CRYPTO_EXPIRED). Tampering and a wrong key
   * give GH_CRYPTO_DECRYPT_FAILED; a token from more than 60 s in the future too; bad encoding GH_CRYPTO_MALFORMED.
   */
  decrypt(token: string, opts: { ttlSeconds?: number } = {}): Buffer {
    const ttl = opts.ttlSeconds;
    // NaN, Infinity or a fraction would make every token pass the age check below: caller misuse, refused.
    if (ttl !== undefined && (!Number.isSafeInteger(ttl) || ttl < 0)) throw new TypeError('ttlSeconds is a non-negative safe integer');
    const { data, key, seconds } = this.#verify(token);
    const now = Math.floor(this.#clock.now() / 1000);
    if (seconds > now + MAX_CLOCK_SKEW_S) throw invalid('timestamp is in the future');
    if (opts.ttlSeconds !== undefined && seconds + opts.ttlSeconds < now) throw new GatehouseError('GH_CRYPTO_EXPIRED');
    const decipher = createDecipheriv('aes-128-cbc', key.encryption, data.subarray(9, 25));
    try {
      return Buffer.concat([decipher.update(data.subarray(25, data.length - 32)), decipher.final()]);
    } catch {
      throw invalid('padding is invalid');
    }
  }
}
