import type { StateStore } from '../core/store.js';
import { GatehouseError } from '../core/errors.js';
import { splitToken, decodeClaims, looksLikeGatehouseToken, type TokenClaims } from './token-format.js';
import { API_KEY_PREFIX } from './api-key-store.js';

/**
 * What the state store holds about tokens (never the token itself):
 *   authn.tokens   jti → issued record (agent, scopes, exp) for `token list` and analytics
 *   authn.revoked  jti → revocation, kept until the token would have expired; every gateway polls its change feed
 *   authn.usage    credential id → last use and count, written in batches
 */
export const NS_TOKENS = 'authn.tokens';
export const NS_REVOKED = 'authn.revoked';
export const NS_USAGE = 'authn.usage';

export interface IssuedToken {
  jti: string;
  agent: string;
  scopes: string[];
  tenant?: string;
  kid: string;
  iat: number;
  exp: number;
  break_glass?: boolean;
}

export interface Revocation {
  revoked_at: number;
  /** Seconds since the epoch; the revocation is kept until then. */
  exp?: number;
  reason?: string;
}

export interface Usage {
  last_used: number;
  count: number;
}

/** Revocations and records outlive the token by this much, so a clock-skewed gateway still refuses it. */
const RETENTION_MS = 24 * 3600 * 1000;

/** A jti read from a JWT's claims (any the jwt method accepts: printable ASCII, ≤ 512): part of the token, not the input. */
const JTI_RE = /^[\x20-\x7e]{1,512}$/;

/**
 * A token id given bare: what Gatehouse jtis look like (randomId(16): 22 base64url characters) and what IdPs' jtis
 * usually do (UUIDs, base64url or hex ids up to 64 characters, urn:uuid:UUID). Narrow on purpose: anything else
 * piped in is more likely a credential (a static token, an opaque IdP token) than an id, and recorded as a "revoked
 * jti" it would sit in clear in the store and the hash-chained audit log while staying valid. A JWT whose jti has
 * another form is revoked by giving the JWT itself.
 */
export const BARE_JTI_RE = /^(?:[A-Za-z0-9_-]{8,64}|urn:uuid:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$/;

export async function recordIssued(store: StateStore, claims: TokenClaims, kid: string, nowMs: number): Promise<void> {
  const rec: IssuedToken = { jti: claims.jti, agent: claims.sub, scopes: claims.scopes, kid, iat: claims.iat, exp: claims.exp };
  if (claims.tenant !== undefined) rec.tenant = claims.tenant;
  if (claims.bg) rec.break_glass = true;
  await store.put(NS_TOKENS, claims.jti, rec, { ttlMs: Math.max(1, claims.exp * 1000 - nowMs) + RETENTION_MS });
}

/**
 * Resolves `token revoke TOKEN|JTI` to a jti: a whole token is parsed (not verified — revoking a token signed by a
 * retired key must still work) and only its id is kept. A bare id is returned as given: callers do not print it back
 * (it may be a credential that merely has the shape of an id).
 */
export function revocationTarget(tokenOrJti: string): { jti: string; exp?: number } {
  if (looksLikeGatehouseToken(tokenOrJti)) {
    const claims = decodeClaims(splitToken(tokenOrJti).payload);
    return { jti: claims.jti, exp: claims.exp };
  }
  // Other credentials are refused, not taken as an id: recorded as a "revoked jti" (in clear, in the store and the
  // audit record) they would stay valid while the operator was told they were revoked. Messages never repeat them.
  if (tokenOrJti.startsWith(API_KEY_PREFIX)) {
    throw new GatehouseError('GH_USAGE', 'That is an API key, not a token: revoke it with `gatehouse apikey revoke ID` (its id is the part after gh_).');
  }
  if (JWT_RE.test(tokenOrJti)) return jwtTarget(tokenOrJti);
  if (!BARE_JTI_RE.test(tokenOrJti)) {
    throw new GatehouseError('GH_USAGE', 'That is neither a Gatehouse token, a JWT nor a token id (a jti is 8 to 64 letters, digits, - or _, or a UUID): nothing was revoked. For a JWT whose jti has another form, give the JWT itself on stdin.');
  }
  return { jti: tokenOrJti };
}

/** A compact JWS (header.payload.signature; the header starts `eyJ`, i.e. `{"`): revoked by its jti claim. */
const JWT_RE = /^eyJ[A-Za-z0-9_-]{1,4096}\.[A-Za-z0-9_-]{1,16384}\.[A-Za-z0-9_-]{0,2048}$/;

/**
 * A JWT given whole (the jwt method refuses revoked jtis): its jti and expiry, read without verifying the signature
 * (a token of a retired key must be revocable too). One without a jti cannot be revoked by id, and says so.
 */
function jwtTarget(jwt: string): { jti: string; exp?: number } {
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString('utf8'));
  } catch {
    throw new GatehouseError('GH_USAGE', 'That looks like a JWT, but its payload is not JSON: give its jti instead.');
  }
  const jti = (claims as { jti?: unknown } | null)?.jti;
  if (typeof jti !== 'string' || !JTI_RE.test(jti)) {
    throw new GatehouseError('GH_USAGE', 'That JWT has no jti claim Gatehouse can revoke: revoke it at its issuer (or lock its subject out: gatehouse limits lock principal:NAME).');
  }
  const exp = (claims as { exp?: unknown }).exp;
  return typeof exp === 'number' && Number.isSafeInteger(exp) && exp > 0 ? { jti, exp } : { jti };
}

export async function revokeTokenId(store: StateStore, jti: string, opts: { now: number; exp?: number; reason?: string }): Promise<Revocation> {
  const issued = await store.get<IssuedToken>(NS_TOKENS, jti);
  // The expiry this gateway recorded when it issued the token, over one read from a token's unverified claims.
  const exp = issued?.exp ?? opts.exp;
  const rec: Revocation = { revoked_at: opts.now };
  if (exp !== undefined) rec.exp = exp;
  if (opts.reason !== undefined) rec.reason = opts.reason.slice(0, 200);
  // Without a known expiry the revocation is kept for the longest default lifetime plus retention.
  const ttlMs = exp !== undefined ? Math.max(1, exp * 1000 - opts.now) + RETENTION_MS : 91 * 24 * 3600 * 1000;
  await store.put(NS_REVOKED, jti, rec, { ttlMs });
  return rec;
}

export async function isRevokedInStore(store: StateStore, jti: string): Promise<boolean> {
  return (await store.get(NS_REVOKED, jti)) !== undefined;
}

export interface TokenListEntry extends IssuedToken {
  last_used?: number;
  uses?: number;
}

/** Active tokens (not expired, not revoked), grouped by agent, each with its last use (seed 001's token usage analytics). */
export async function listActiveTokens(store: StateStore, nowMs: number): Promise<Map<string, TokenListEntry[]>> {
  const [issued, revoked] = await Promise.all([store.list<IssuedToken>(NS_TOKENS), store.list<Revocation>(NS_REVOKED)]);
  const revokedIds = new Set(revoked.map((r) => r.key));
  const byAgent = new Map<string, TokenListEntry[]>();
  for (const { value } of issued) {
    if (value.exp * 1000 <= nowMs || revokedIds.has(value.jti)) continue;
    const usage = await store.get<Usage>(NS_USAGE, value.jti);
    const entry: TokenListEntry = { ...value, ...(usage ? { last_used: usage.last_used, uses: usage.count } : {}) };
    const list = byAgent.get(value.agent) ?? [];
    list.push(entry);
    byAgent.set(value.agent, list);
  }
  for (const list of byAgent.values()) list.sort((a, b) => b.iat - a.iat);
  return new Map([...byAgent.entries()].sort(([a], [b]) => a.localeCompare(b)));
}
