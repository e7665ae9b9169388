import * as argon2 from 'argon2';
import { bcryptPool, type BcryptTicket } from './bcrypt-pool.js';

/**
 * Password and API key hashing: argon2id for everything Gatehouse creates; bcrypt (`$2a$`/`$2b$`/`$2y$`) accepted
 * for imported hashes (seed 002's api_key_hash). Parameters: OWASP's argon2id minimum (19 MiB, t=2, p=1), enough
 * for passwords and generous for 256-bit API keys, and cheap enough that a burst of logins does not exhaust memory.
 */
const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** Longest secret hashed: bounds the work an unauthenticated request can cause. */
export const MAX_SECRET_LENGTH = 1024;

export function isSupportedHash(hash: string): boolean {
  return /^\$argon2id\$/.test(hash) || /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/.test(hash);
}

/** A bcrypt hash (`$2a$`/`$2b$`/`$2y$`): verified in the capped worker pool (bcrypt-pool.ts). */
export function isBcryptHash(hash: string): boolean {
  return /^\$2[aby]\$/.test(hash);
}

export async function hashSecret(secret: string): Promise<string> {
  if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('secret must be a non-empty string');
  if (secret.length > MAX_SECRET_LENGTH) throw new TypeError(`secret longer than ${MAX_SECRET_LENGTH} characters`);
  return argon2.hash(secret, ARGON2_OPTIONS);
}

let verified = 0;

/** How many hashes verifySecret was asked to check in this process (a test seam: refusals must pay for one too). */
export function secretVerifications(): number {
  return verified;
}

/**
 * Verifies `secret` against an argon2id or bcrypt hash. Both libraries compare in constant time; argon2 runs on
 * libuv's pool, bcrypt (bcryptjs, pure JavaScript) in worker threads (bcrypt-pool.ts). Anything else (unknown hash
 * format, oversized input, a library error) is false: fail closed — after the work of a real verification, so that
 * a known user or key sent an over-long secret answers as slowly as an unknown one (burnVerification) instead of
 * revealing that it exists. Throws GH_RATE_LIMITED when too many bcrypt verifications already wait (nothing verified).
 *
 * `ticket`: a bcrypt slot reserved before the hash was looked up (bcrypt-admission.ts). A bcrypt hash is verified in
 * it, past no cap (nothing is refused after the lookup). Any other path gives the process-wide slot back before its
 * argon2 work (which must not fill the pool) but keeps the client's share until the caller releases the ticket: given
 * back whole, an unknown or argon2 name left the client's share free while a bcrypt one held it, and the client's next
 * request told which it was (429 or not).
 */
export async function verifySecret(hash: string, secret: string, ticket?: BcryptTicket): Promise<boolean> {
  verified++;
  if (typeof secret !== 'string' || secret.length === 0 || secret.length > MAX_SECRET_LENGTH) {
    ticket?.yieldGlobal();
    return burnVerification(typeof secret === 'string' ? secret : '');
  }
  if (isBcryptHash(hash)) {
    // bcrypt reads only the first 72 bytes; longer inputs would collide, so they are refused outright.
    if (Buffer.byteLength(secret) > 72) {
      ticket?.yieldGlobal();
      return burnVerification(secret);
    }
    // Without a ticket, throws GH_RATE_LIMITED past the cap: not a "no".
    const pending = ticket !== undefined ? ticket.compare(secret, hash) : bcryptPool().compare(secret, hash);
    try {
      return await pending;
    } catch {
      return false;
    }
  }
  ticket?.yieldGlobal();
  try {
    if (hash.startsWith('$argon2id$')) return await argon2.verify(hash, secret);
  } catch {
    return false;
  }
  return burnVerification(secret);
}

let dummyHash: Promise<string> | undefined;
let burned = 0;

/** How many verifications were spent on a dummy hash in this process (a test seam: their timing is the point). */
export function burnedVerifications(): number {
  return burned;
}

/** Spends the same work as a real verification, so an unknown user or key id is not revealed by timing. */
export async function burnVerification(secret: string): Promise<false> {
  burned++;
  dummyHash ??= argon2.hash('gatehouse-dummy-secret', ARGON2_OPTIONS);
  const hash = await dummyHash;
  try {
    await argon2.verify(hash, secret.slice(0, MAX_SECRET_LENGTH) || 'x');
  } catch {
    // the work was spent (or argon2 failed): either way the answer is no
  }
  return false;
}
