import * as crypto from 'node:crypto';

/**
 * A keyed hash of a credential under a random per-process key: the key of the verified-credential caches for API keys
 * and passwords, so those caches never hold the credential itself, and a cache key means nothing outside this
 * process. SHA-256 over (process key ‖ credential) in one `crypto.hash` call: the digests never leave the process, so
 * length extension does not apply, and it costs a fifth of a createHmac call (no per-call Hmac object), which keeps
 * a cached API key verification near a Map lookup.
 */
export function keyedHasher(): (value: string) => string {
  const prefix = crypto.randomBytes(32).toString('base64url') + '\0';
  return (value) => crypto.hash('sha256', prefix + value, 'base64url');
}
