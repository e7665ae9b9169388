import { createHmac, randomBytes } from 'node:crypto';

/**
 * A keyed hash of a credential under a random per-process key: the key of the verified-credential caches for API keys
 * and passwords, so those caches never hold the credential itself, and the cache key means nothing outside this
 * process (an attacker who reads memory learns neither the key nor a reusable verifier).
 */
export function keyedHasher(): (value: string) => string {
  const key = randomBytes(32);
  return (value) => createHmac('sha256', key).update(value).digest('base64url');
}
