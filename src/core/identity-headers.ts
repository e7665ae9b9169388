/**
 * Identity headers: who the gateway authenticated, told to the upstream (ARCHITECTURE.md, transform stage), so an
 * internal service behind Gatehouse need not verify tokens itself. Optionally signed with HMAC-SHA256 under a shared
 * key, so an upstream reachable by other paths than the gateway can tell an asserted identity from a forged one.
 *
 * Values are percent-encoded (encodeURIComponent): a principal id from a JWT claim may hold any character, and a
 * header value may not (RFC 9110 §5.5). The signature binds a version label, the audience, the timestamp, the request
 * id, the method, the request target as the upstream receives it (path and query, after any prefix rewriting) and
 * every identity field; an upstream should refuse a request id it has seen within the accepted age.
 *
 * v1 signatures (before the request target was bound) are refused: captured v1 headers verified for any path on the
 * same route within their age.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { GatehouseError } from './errors.js';
import type { Principal } from './types.js';

export const IDENTITY_SIGNATURE_LABEL = 'gatehouse-identity-v2';
export const DEFAULT_IDENTITY_PREFIX = 'X-Gatehouse-';
const FIELDS = ['subject', 'principal-type', 'auth-method', 'tenant', 'scopes'] as const;

/** The header names for a prefix, lower case: subject, principal-type, auth-method, tenant, scopes, signature. */
export function upstreamIdentityHeaderNames(prefix: string): string[] {
  const p = prefix.toLowerCase();
  return [...FIELDS.map((f) => p + f), `${p}identity-signature`];
}

interface Fields {
  subject: string;
  type: string;
  method: string;
  tenant: string;
  scopes: string;
}

/**
 * The signed text. With an audience (the route, or whatever names the upstream the headers are for) the label changes
 * and the audience, percent-encoded, follows it: headers signed for one upstream then do not verify at another that
 * holds the same key, and a signature without an audience never passes for one with it, nor the other way round.
 */
function canonical(t: number, req: SignedRequest, f: Fields, audience: string | undefined): string {
  const head = audience === undefined ? [IDENTITY_SIGNATURE_LABEL] : [`${IDENTITY_SIGNATURE_LABEL}+aud`, encodeURIComponent(audience)];
  // The target is a request-target as sent on the wire: it holds no newline (Node and undici refuse one), and it is
  // percent-encoded here anyway so no field can run into the next.
  return [...head, String(t), req.id, req.method, encodeURIComponent(req.target), f.subject, f.type, f.method, f.tenant, f.scopes].join('\n');
}

/** What the signature binds of the request besides the identity. */
export interface SignedRequest {
  /** X-Request-Id. */
  id: string;
  /** Upper-case method. */
  method: string;
  /** The request target the upstream receives (its `req.url`): path and query, after prefix stripping and base path. */
  target: string;
}

const mac = (key: Uint8Array, text: string): Buffer => createHmac('sha256', key).update(text, 'utf8').digest();

function fieldsOf(p: Principal): Fields {
  return {
    subject: encodeURIComponent(p.id),
    type: p.type,
    method: p.method,
    tenant: p.tenant === undefined ? '' : encodeURIComponent(p.tenant),
    scopes: p.scopes.map(encodeURIComponent).join(','),
  };
}

/**
 * The unsigned identity headers for one request, as [name, value] pairs (names lower case). The tenant header is
 * omitted for a principal without one (its signed field is then empty).
 */
export function upstreamIdentityHeaders(p: Principal, opts: { prefix: string }): [string, string][] {
  const pre = opts.prefix.toLowerCase();
  const f = fieldsOf(p);
  const out: [string, string][] = [[`${pre}subject`, f.subject], [`${pre}principal-type`, f.type], [`${pre}auth-method`, f.method]];
  if (f.tenant !== '') out.push([`${pre}tenant`, f.tenant]);
  out.push([`${pre}scopes`, f.scopes]);
  return out;
}

/**
 * The signature header over the identity of `p` for one request: `[<prefix>identity-signature, "t=<s>,v2=<mac>"]`.
 * `nowMs` is the signing time. The gateway calls it once the upstream request target is known (the proxy).
 */
export function identitySignatureHeader(p: Principal, req: SignedRequest, opts: { prefix: string; key: Uint8Array; nowMs: number; audience?: string }): [string, string] {
  if (typeof req.target !== 'string' || req.target === '') throw new TypeError('identity signature: the request target is required');
  const t = Math.floor(opts.nowMs / 1000);
  const text = canonical(t, { id: req.id, method: req.method.toUpperCase(), target: req.target }, fieldsOf(p), opts.audience);
  return [`${opts.prefix.toLowerCase()}identity-signature`, `t=${t},v2=${mac(opts.key, text).toString('base64url')}`];
}

export interface VerifiedIdentity {
  subject: string;
  principal_type: string;
  auth_method: string;
  tenant?: string;
  scopes: string[];
  /** When the gateway signed it (ms). */
  signed_at: number;
}

type HeaderBag = Record<string, string | string[] | undefined>;

const refused = (detail: string): GatehouseError => new GatehouseError('GH_IDENTITY_SIGNATURE_INVALID', undefined, { detail });

/**
 * For upstream services: checks the identity headers' signature (constant-time) and age, and returns the identity.
 * `headers` as Node gives them (lower-case names). Throws GH_IDENTITY_SIGNATURE_INVALID, naming what failed.
 */
export function verifyIdentityHeaders(
  headers: HeaderBag,
  key: Uint8Array,
  opts: { method: string; target: string; prefix?: string; nowMs?: number; maxAgeMs?: number; audience?: string },
): VerifiedIdentity {
  if (typeof opts.target !== 'string' || opts.target === '') throw new TypeError('verifyIdentityHeaders: opts.target (the request\'s req.url) is required');
  const pre = (opts.prefix ?? DEFAULT_IDENTITY_PREFIX).toLowerCase();
  const one = (name: string): string | undefined => {
    const v = headers[name];
    if (Array.isArray(v)) throw refused(`${name} appears more than once`);
    return v;
  };
  const sig = one(`${pre}identity-signature`);
  const requestId = one('x-request-id');
  if (sig === undefined) throw refused('no signature header');
  if (requestId === undefined) throw refused('no x-request-id');
  if (/^t=[0-9]{1,12},v1=/.test(sig)) throw refused('a v1 signature (it does not bind the request target): upgrade the gateway');
  const m = /^t=([0-9]{1,12}),v2=([A-Za-z0-9_-]{43})$/.exec(sig);
  if (!m) throw refused('malformed signature header');
  const t = Number(m[1]);
  const f: Fields = {
    subject: one(`${pre}subject`) ?? '',
    type: one(`${pre}principal-type`) ?? '',
    method: one(`${pre}auth-method`) ?? '',
    tenant: one(`${pre}tenant`) ?? '',
    scopes: one(`${pre}scopes`) ?? '',
  };
  // Compared as text, not as decoded bytes: 43 base64url characters carry 258 bits, and the last character's two spare
  // bits are ignored by a decoder, so four spellings would decode to one MAC (a replay cache keyed by the header misses).
  const expected = Buffer.from(mac(key, canonical(t, { id: requestId, method: opts.method.toUpperCase(), target: opts.target }, f, opts.audience)).toString('base64url'), 'latin1');
  if (!timingSafeEqual(expected, Buffer.from(m[2] as string, 'latin1'))) throw refused('signature mismatch');
  const now = opts.nowMs ?? Date.now();
  const maxAge = opts.maxAgeMs ?? 300_000;
  if (Math.abs(now - t * 1000) > maxAge) throw refused('signature too old or from the future');
  const decode = (s: string): string => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw refused('malformed field encoding');
    }
  };
  return {
    subject: decode(f.subject), principal_type: f.type, auth_method: f.method,
    ...(f.tenant !== '' ? { tenant: decode(f.tenant) } : {}),
    scopes: f.scopes === '' ? [] : f.scopes.split(',').map(decode),
    signed_at: t * 1000,
  };
}
