/**
 * Canonical JSON for argument hashing: object keys sorted, no whitespace (in the spirit of RFC 8785; numbers
 * use ECMAScript's serialisation as RFC 8785 does). Two calls with the same arguments in a different key order
 * hash the same; any other difference gives a different hash, so one approval never covers another argument set.
 */
import { createHash } from 'node:crypto';

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

/** SHA-256 of the canonical arguments (absent arguments hash as {}). */
export function argsHash(args: unknown): string {
  return sha256Hex(canonicalJson(args ?? {}));
}

/**
 * What an approval is valid for: principal, tenant, subject and the argument hash, and the realm the principal id
 * belongs to (see realmOf): ids are only unique within one kind of credential.
 */
export function bindingOf(principal: string, tenant: string | undefined, subject: string, argsSha256: string, realm?: string, route?: string): string {
  const parts: unknown[] = [principal, tenant ?? null, subject, argsSha256];
  if (realm !== undefined) parts.push(realm);
  // Tagged, so a route can never be read as a realm (or the other way round) whichever of them is absent.
  if (route !== undefined) parts.push({ route });
  return sha256Hex(canonicalJson(parts));
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
