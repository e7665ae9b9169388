import { jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import type { JwtIssuerConfig } from '../../config/schema/auth.js';
import type { Clock } from '../../core/clock.js';
import { isTenantId } from '../../core/ids.js';
import type { Exchange, Logger, Principal } from '../../core/types.js';
import { VerifiedCache } from '../cache.js';
import { KeySource, type KeyHandle } from '../jwks.js';
import { CredentialError, credentialError, type AuthMethodImpl } from '../method.js';
import type { RevocationWatcher } from '../revocation.js';
import { scopesFromClaim } from '../scopes.js';
import { registerAuthSecret } from '../secret-registry.js';

/**
 * JWTs through jose (issue 3): HS256 with a shared secret (seed 001's SYSTEMMANAGER_JWT_SECRET), or RS/PS/ES/EdDSA
 * keys from a JWKS URL or OIDC discovery — Kubernetes service-account tokens (seed 002) and Supabase (seed 003) are
 * issuers like any other. iss, aud, exp (required), nbf checked; an algorithm allow-list per issuer, enforced before
 * any key is looked up. Verified tokens are cached (bounded, expiry checked on every hit), so repeat requests do not
 * pay for WebCrypto.
 */
interface Issuer {
  cfg: JwtIssuerConfig;
  algorithms: string[];
  /** Accepted `typ` values, normalised (normaliseTyp); undefined: any. */
  types: ReadonlySet<string> | undefined;
  secret: Uint8Array | undefined;
  keys: KeySource | undefined;
  options: JWTVerifyOptions;
}

interface Cached {
  template: Omit<Principal, 'network' | 'attributes'>;
  issuer: Issuer;
  kid: string | undefined;
  /** The JWKS key that verified it: a hit re-checks that this key, not just its kid, is still current. */
  key: KeyHandle | undefined;
  /** That key's RFC 7638 thumbprint (JWKS issuers only), in the principal for the credential watch (keyStillValid). */
  thumbprint: string | undefined;
  jti: string | undefined;
  /** exp, or iat + max_token_age when that comes first: past it (plus clock_skew) a hit is refused. */
  validUntilMs: number;
}

// Three base64url segments; the signature may be empty so that `alg: none` tokens are recognised and refused.
const JWS_COMPACT = /^eyJ[A-Za-z0-9_-]{2,16384}\.[A-Za-z0-9_-]{0,65536}\.[A-Za-z0-9_-]{0,1024}$/;
const DEFAULT_ASYMMETRIC = ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'];
const SAFE_CLAIM = /^[\x20-\x7e]{1,512}$/;

/** RFC 7515 §4.1.9: media types compare case-insensitively, and `application/` may be left out. */
function normaliseTyp(typ: string): string {
  const t = typ.toLowerCase();
  return t.startsWith('application/') ? t.slice(12) : t;
}

function claimAt(payload: JWTPayload, path: string): unknown {
  let cur: unknown = payload;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function decodeSegment(segment: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function mapJoseError(e: unknown): CredentialError {
  if (e instanceof CredentialError) return e;
  const err = e as { code?: string; claim?: string };
  switch (err.code) {
    case 'ERR_JWT_EXPIRED':
      return credentialError('GH_TOKEN_EXPIRED', 'expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (err.claim === 'nbf') return credentialError('GH_TOKEN_NOT_YET_VALID', 'not_yet_valid');
      if (err.claim === 'iat') return credentialError('GH_TOKEN_INVALID', 'iat_invalid');
      if (err.claim === 'iss') return credentialError('GH_TOKEN_INVALID', 'wrong_issuer');
      if (err.claim === 'aud') return credentialError('GH_TOKEN_INVALID', 'wrong_audience');
      return credentialError('GH_TOKEN_INVALID', `claim_${String(err.claim).replace(/[^a-z_]/g, '').slice(0, 20) || 'invalid'}`);
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return credentialError('GH_TOKEN_INVALID', 'alg_not_allowed');
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return credentialError('GH_TOKEN_INVALID', 'bad_signature');
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return credentialError('GH_TOKEN_MALFORMED', 'jwt_malformed');
    default:
      return credentialError('GH_TOKEN_INVALID', 'jwt_invalid');
  }
}

export interface JwtMethodOptions {
  issuers: readonly JwtIssuerConfig[];
  maxLength: number;
  clock: Clock;
  logger: Logger;
  revocations: RevocationWatcher;
  cache: { maxEntries: number; ttlMs: number };
}

export async function jwtMethod(opts: JwtMethodOptions): Promise<AuthMethodImpl<string>> {
  const { clock, revocations } = opts;
  const issuers: Issuer[] = opts.issuers.map((cfg, i) => {
    const algorithms = cfg.algorithms ?? (cfg.secret !== undefined ? ['HS256'] : DEFAULT_ASYMMETRIC);
    if (cfg.secret !== undefined) registerAuthSecret(cfg.secret, true);
    const keys =
      cfg.secret === undefined
        ? new KeySource({ ...cfg, discovery: cfg.discovery ?? cfg.jwks_url === undefined }, { clock, logger: opts.logger, path: `auth.jwt.issuers[${i}].tls` })
        : undefined;
    const options: JWTVerifyOptions = {
      algorithms,
      clockTolerance: Math.floor(cfg.clock_skew / 1000),
      requiredClaims: ['exp'],
      ...(cfg.issuer !== undefined ? { issuer: cfg.issuer } : {}),
      ...(cfg.audience !== undefined ? { audience: cfg.audience } : {}),
      ...(cfg.max_token_age !== undefined ? { maxTokenAge: Math.floor(cfg.max_token_age / 1000) } : {}),
    };
    const types = cfg.types !== undefined ? new Set(cfg.types.map(normaliseTyp)) : undefined;
    return { cfg, algorithms, types, secret: cfg.secret !== undefined ? new TextEncoder().encode(cfg.secret) : undefined, keys, options };
  });
  await Promise.all(issuers.map((i) => i.keys?.init()));
  const byIssuer = new Map<string, Issuer>();
  for (const i of issuers) if (i.cfg.issuer !== undefined && !byIssuer.has(i.cfg.issuer)) byIssuer.set(i.cfg.issuer, i);
  const anonymousSecretIssuer = issuers.filter((i) => i.cfg.issuer === undefined);
  const cache = new VerifiedCache<Cached>(opts.cache.maxEntries);
  revocations.onRevoked((kind, id) => {
    if (kind === 'token') cache.deleteWhere((c) => c.jti === id);
  });

  const pickIssuer = (payload: Record<string, unknown>): Issuer => {
    const iss = payload['iss'];
    if (typeof iss === 'string') {
      const hit = byIssuer.get(iss);
      if (hit) return hit;
    }
    if (anonymousSecretIssuer.length === 1) return anonymousSecretIssuer[0] as Issuer;
    throw credentialError('GH_TOKEN_INVALID', 'unknown_issuer');
  };

  const principalFrom = (issuer: Issuer, payload: JWTPayload): Cached['template'] => {
    const cfg = issuer.cfg;
    const sub = claimAt(payload, cfg.subject_claim);
    if (typeof sub !== 'string' || !SAFE_CLAIM.test(sub)) throw credentialError('GH_TOKEN_INVALID', 'subject_missing');
    const fromClaims = cfg.scopes_claim !== undefined ? scopesFromClaim(claimAt(payload, cfg.scopes_claim)) : scopesFromClaim(payload['scope']) ?? scopesFromClaim(payload['scp']);
    const scopes = [...new Set([...cfg.default_scopes, ...(fromClaims ?? [])])];
    const tenant = cfg.tenant_claim !== undefined ? claimAt(payload, cfg.tenant_claim) : undefined;
    // A missing tenant claim is not "no tenant": a principal bound to no tenant matches `principal: "*"` rules in
    // every tenant, so an issuer that puts tenants in its tokens must not mint one without (seed 002 isolation).
    if (tenant === undefined && cfg.tenant_claim !== undefined && !cfg.tenant_claim_optional) throw credentialError('GH_TOKEN_INVALID', 'tenant_claim_missing');
    if (tenant !== undefined && !isTenantId(tenant)) throw credentialError('GH_TOKEN_INVALID', 'tenant_claim_invalid');
    const jti = typeof payload.jti === 'string' && SAFE_CLAIM.test(payload.jti) ? payload.jti : undefined;
    return { id: sub, type: cfg.principal_type, method: 'jwt', scopes, tenant, credential_id: jti };
  };

  const toPrincipal = (ex: Exchange, c: Cached): Principal => {
    const t = c.template;
    return {
      id: t.id, type: t.type, method: 'jwt', scopes: t.scopes, tenant: t.tenant, network: ex.network, credential_id: t.credential_id,
      valid_until: c.validUntilMs + c.issuer.cfg.clock_skew,
      // Public values only (attributes reach audit records): never the token, never an HS256 secret or a digest of it.
      attributes: { issuer: c.issuer.cfg.issuer, kid: c.kid, ...(c.thumbprint !== undefined ? { key_thumbprint: c.thumbprint } : {}) },
    };
  };

  const verifyFirstSight = async (token: string, now: number): Promise<Cached> => {
    const [h, p, sig] = token.split('.') as [string, string, string];
    // One spelling per signature: jose decodes base64url leniently, so a changed final character whose dropped bits
    // differ would still verify. Canonical encoding only (RFC 7515 §2, RFC 4648 §3.5).
    if (Buffer.from(sig, 'base64url').toString('base64url') !== sig) throw credentialError('GH_TOKEN_MALFORMED', 'signature_encoding');
    const header = decodeSegment(h);
    const payload = decodeSegment(p);
    if (header === undefined || payload === undefined) throw credentialError('GH_TOKEN_MALFORMED', 'jwt_malformed');
    const issuer = pickIssuer(payload);
    const alg = header['alg'];
    // The allow-list first: `none`, and HS* against a JWKS issuer (key confusion), never reach a key.
    if (typeof alg !== 'string' || !issuer.algorithms.includes(alg)) throw credentialError('GH_TOKEN_INVALID', 'alg_not_allowed');
    // Explicit typing (RFC 8725 §3.11), before any key is looked up: an ID token is not an access token.
    if (issuer.types !== undefined && (typeof header['typ'] !== 'string' || !issuer.types.has(normaliseTyp(header['typ'])))) throw credentialError('GH_TOKEN_INVALID', 'wrong_type');
    const kid = header['kid'];
    if (kid !== undefined && typeof kid !== 'string') throw credentialError('GH_TOKEN_INVALID', 'kid_invalid');
    let result;
    let key: KeyHandle | undefined;
    let thumbprint: string | undefined;
    try {
      const options = { ...issuer.options, currentDate: new Date(now) };
      result = issuer.secret !== undefined
        ? await jwtVerify(token, issuer.secret, options)
        : await jwtVerify(token, async (hdr) => {
          const found = await (issuer.keys as KeySource).keyFor(hdr.kid, hdr.alg);
          key = found.handle;
          thumbprint = found.thumbprint;
          return found.key;
        }, options);
    } catch (e) {
      throw mapJoseError(e);
    }
    const template = principalFrom(issuer, result.payload);
    if (template.credential_id !== undefined && revocations.isTokenRevoked(template.credential_id)) throw credentialError('GH_TOKEN_REVOKED', 'revoked');
    registerAuthSecret(token);
    // jose checked max_token_age now; the cache must not carry the token past it.
    const maxAge = issuer.cfg.max_token_age;
    const iat = result.payload.iat;
    const validUntilMs = Math.min((result.payload.exp as number) * 1000, maxAge !== undefined && typeof iat === 'number' ? iat * 1000 + maxAge : Number.POSITIVE_INFINITY);
    const cached: Cached = { template, issuer, kid, key, thumbprint, jti: template.credential_id, validUntilMs };
    cache.set(token, cached, Math.min(validUntilMs + issuer.cfg.clock_skew, now + opts.cache.ttlMs));
    return cached;
  };

  return {
    name: 'jwt',
    failure: 'token',
    async close() {
      await Promise.all(issuers.map((i) => i.keys?.close()));
    },
    /**
     * For the credential watch's sweep of running requests: the issuer's cached JWKS still holds the kid and the key
     * material that verified this JWT (never a fetch; see KeySource.stillHolds). A key the IdP rotated out or replaced
     * after a leak ends the requests its tokens opened. HS256 secrets change only with the configuration (a restart).
     */
    keyStillValid(p: Principal): boolean {
      const thumbprint = p.attributes['key_thumbprint'];
      if (p.method !== 'jwt' || thumbprint === undefined) return true;
      const issuer = typeof p.attributes['issuer'] === 'string' ? byIssuer.get(p.attributes['issuer']) : undefined;
      const kid = p.attributes['kid'];
      // Attributes this method did not write (no such issuer, a key source gone, odd types): fail closed.
      if (issuer?.keys === undefined || typeof thumbprint !== 'string' || (kid !== undefined && typeof kid !== 'string')) return false;
      return issuer.keys.stillHolds(kid, thumbprint);
    },
    carrier: (_ex, creds) => (creds.bearer !== undefined ? 'authorization' : undefined),
    recognise: (_ex, creds) => (creds.bearer !== undefined && creds.bearer.startsWith('eyJ') ? creds.bearer : undefined),
    authenticate(ex: Exchange, token: string): Principal | Promise<Principal> {
      if (token.length > opts.maxLength) throw credentialError('GH_TOKEN_MALFORMED', 'token_too_long');
      const now = clock.now();
      // A hit is a string that verified before, so the syntax check belongs to the miss path only.
      const hit = cache.get(token, now);
      if (hit !== undefined) {
        if (now > hit.validUntilMs + hit.issuer.cfg.clock_skew) throw credentialError('GH_TOKEN_EXPIRED', 'expired');
        if (hit.jti !== undefined && revocations.isTokenRevoked(hit.jti)) throw credentialError('GH_TOKEN_REVOKED', 'revoked');
        if (hit.issuer.keys !== undefined && !hit.issuer.keys.hasKey(hit.kid, hit.key)) {
          cache.delete(token);
          return verifyFirstSight(token, now).then((c) => toPrincipal(ex, c));
        }
        return toPrincipal(ex, hit);
      }
      if (!JWS_COMPACT.test(token)) throw credentialError('GH_TOKEN_MALFORMED', 'jwt_syntax');
      return verifyFirstSight(token, now).then((c) => toPrincipal(ex, c));
    },
  };
}
