/**
 * Canonical JSON for argument hashing: object keys sorted, no whitespace (in the spirit of RFC 8785; numbers
 * use ECMAScript's serialisation as RFC 8785 does). Two calls with the same arguments in a different key order
 * hash the same; any other difference gives a different hash, so one approval never covers another argument set.
 *
 * The digests approvals carry are HMAC-SHA256 under a gateway-held key, never plain SHA-256: the arguments are shown
 * redacted, and a plain hash of them would let anyone who reads approvals (admin API, webhook, audit) test guesses
 * of a redacted password offline.
 */
import { createHash, createHmac } from 'node:crypto';

const MAX_DEPTH = 64;

export function canonicalJson(value: unknown, depth = 0): string {
  if (depth > MAX_DEPTH) throw new RangeError('arguments nested too deeply');
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('non-finite number in arguments');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v, depth + 1)).join(',')}]`;
  if (typeof value === 'object') {
    // Only plain objects: a Map, Set, Date or class instance has no enumerable own keys worth hashing, so each
    // would hash as {} and one approval would cover every other such value.
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) throw new TypeError(`cannot canonicalise a ${Object.prototype.toString.call(value).slice(8, -1)} in arguments`);
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k], depth + 1)}`).join(',')}}`;
  }
  throw new TypeError(`cannot canonicalise a ${typeof value}`);
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** HMAC-SHA256 (hex) of the canonical arguments under the approval key (absent arguments count as {}). */
export function argsDigest(key: Uint8Array, args: unknown): string {
  return createHmac('sha256', key).update('gatehouse approval args v1\0').update(canonicalJson(args ?? {})).digest('hex');
}

/** What a binding covers. */
export interface BindingParts {
  principal: string;
  tenant?: string | undefined;
  subject: string;
  /** argsDigest of the exact arguments. */
  args: string;
  realm?: string | undefined;
  route?: string | undefined;
}

/**
 * What an approval is valid for, keyed like argsDigest: principal, tenant, subject and the argument digest, and the
 * realm the principal id belongs to (see realmOf): ids are only unique within one kind of credential.
 */
export function bindingOf(key: Uint8Array, b: BindingParts): string {
  const parts: unknown[] = [b.principal, b.tenant ?? null, b.subject, b.args];
  if (b.realm !== undefined) parts.push(b.realm);
  // Tagged, so a route can never be read as a realm (or the other way round) whichever of them is absent.
  if (b.route !== undefined) parts.push({ route: b.route });
  return createHmac('sha256', key).update('gatehouse approval binding v1\0').update(canonicalJson(parts)).digest('hex');
}

/**
 * The namespace a principal id was issued in: the authentication method, and for JWT the issuer. A token subject
 * `ops`, an API key named `ops` and a partner IdP's `sub: ops` are different callers. Not the credential id: a JWT
 * caller refreshing its token between request and retry is still the caller that was approved.
 */
export function realmOf(principal: { method: string; attributes: Readonly<Record<string, unknown>> }): string {
  const issuer = principal.attributes['issuer'];
  return principal.method === 'jwt' && typeof issuer === 'string' ? `jwt ${issuer}` : principal.method;
}
