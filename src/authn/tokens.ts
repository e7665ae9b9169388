import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { formatDuration } from '../core/durations.js';
import { GatehouseError } from '../core/errors.js';
import { randomId } from '../core/ids.js';
import type { StateStore } from '../core/store.js';
import type { AuditEmitter } from '../core/types.js';
import { VerifiedCache } from './cache.js';
import { parseScopes, validateAgent, validateTenant } from './scopes.js';
import { registerAuthSecret } from './secret-registry.js';
import {
  DEFAULT_MAX_TOKEN_LENGTH, decodeClaims, encodeToken, keyLookup, splitToken, tokenError, verifyTokenString,
  type KeyLookup, type TokenClaims, type VerifiedToken,
} from './token-format.js';
import { keyFileStamp, reloadTokenSecrets, type TokenKeyring } from './token-keys.js';
import { recordIssued, revocationTarget, revokeTokenId, isRevokedInStore, type Revocation } from './token-store.js';
import { RevocationWatcher } from './revocation.js';

export interface MaxTtl {
  admin: number;
  default: number;
  break_glass: number;
}
export const DEFAULT_MAX_TTL: MaxTtl = { admin: 86_400_000, default: 90 * 86_400_000, break_glass: 3_600_000 };

/** admin, *:admin and * are admin-level (seed 001: admin tokens short-lived). */
export function isAdminScope(scope: string): boolean {
  return scope === 'admin' || scope === '*' || scope.endsWith(':admin') || scope.endsWith(':*');
}

/** The longest lifetime allowed for these scopes, and which limit applies. */
export function maxTtlFor(scopes: readonly string[], breakGlass: boolean, limits: MaxTtl = DEFAULT_MAX_TTL): { ms: number; limit: string } {
  if (breakGlass) return { ms: Math.min(limits.break_glass, limits.admin), limit: 'auth.token.max_ttl.break_glass' };
  if (scopes.some(isAdminScope)) return { ms: limits.admin, limit: 'auth.token.max_ttl.admin' };
  return { ms: limits.default, limit: 'auth.token.max_ttl.default' };
}

export interface MintOptions {
  agent: string;
  /** A comma/space separated list or an array (seed 001: "container:read,container:write,network:read"). */
  scopes: string | readonly string[];
  ttlMs: number;
  tenant?: string;
  breakGlass?: boolean;
  /** Who minted it (the OS user for the CLI), for the audit record. */
  actor?: string;
}

export interface TokenServiceOptions {
  keyring: TokenKeyring;
  store?: StateStore;
  clock?: Clock;
  skewMs?: number;
  maxLength?: number;
  maxTtl?: MaxTtl;
  cache?: { maxEntries: number; ttlMs: number };
  revocations?: RevocationWatcher;
  /** token.mint and token.revoke are audited through it; a failed emit fails the operation (fail closed). */
  audit?: AuditEmitter;
}

export type TokenStatus = 'active' | 'expired' | 'not_yet_valid' | 'revoked' | 'invalid';

interface CachedToken {
  verified: VerifiedToken;
  expMs: number;
}

/**
 * Mints and verifies Gatehouse tokens. Verification is synchronous: a cache hit costs one Map lookup plus the expiry,
 * revocation and key checks, which run on every hit; a first sight costs one HMAC and a small JSON.parse.
 */
export class TokenService {
  #keyring: TokenKeyring;
  #lookup: KeyLookup;
  readonly #store: StateStore | undefined;
  readonly #clock: Clock;
  readonly #skewMs: number;
  readonly #maxLength: number;
  readonly #maxTtl: MaxTtl;
  readonly #cache: VerifiedCache<CachedToken>;
  readonly #cacheTtlMs: number;
  readonly #revocations: RevocationWatcher | undefined;
  readonly #audit: AuditEmitter | undefined;
  #keyStamp: string | undefined;
  #lastReload = 0;

  constructor(opts: TokenServiceOptions) {
    this.#keyring = opts.keyring;
    this.#lookup = keyLookup(opts.keyring.keys);
    this.#store = opts.store;
    this.#clock = opts.clock ?? systemClock;
    this.#skewMs = opts.skewMs ?? 60_000;
    this.#maxLength = opts.maxLength ?? DEFAULT_MAX_TOKEN_LENGTH;
    this.#maxTtl = opts.maxTtl ?? DEFAULT_MAX_TTL;
    this.#cache = new VerifiedCache(opts.cache?.maxEntries ?? 10_000);
    this.#cacheTtlMs = opts.cache?.ttlMs ?? 300_000;
    // Without a shared watcher (library, CLI) verify() must still refuse what this service revoked: an unstarted
    // watcher holds those ids. Revocations made by other processes need a started one (createAuthenticator's).
    this.#revocations = opts.revocations ?? (opts.store ? new RevocationWatcher(opts.store, { intervalMs: 250 }) : undefined);
    this.#audit = opts.audit;
    this.#keyStamp = opts.keyring.path ? keyFileStamp(opts.keyring.path) : undefined;
    this.#revocations?.onRevoked((kind, id) => {
      if (kind === 'token') this.#cache.deleteWhere((c) => c.verified.claims.jti === id);
    });
  }

  /** Whether a token signed with `kid` still verifies now (a key retired by `token rotate-secret` no longer does). */
  verifiesKid(kid: string): boolean {
    return typeof this.#lookup(kid, this.#clock.now()) === 'object';
  }

  /** The clock skew verify() allows past a token's exp, in ms. */
  get skewMs(): number {
    return this.#skewMs;
  }

  get keyring(): TokenKeyring {
    return this.#keyring;
  }

  /** Mints a token (and records it in the store when there is one). Refuses a lifetime beyond the scope level's limit. */
  async mint(opts: MintOptions): Promise<{ token: string; claims: TokenClaims; kid: string }> {
    validateAgent(opts.agent);
    const scopes = parseScopes(opts.scopes);
    if (opts.tenant !== undefined) validateTenant(opts.tenant);
    if (!Number.isSafeInteger(opts.ttlMs) || opts.ttlMs < 1000) throw new GatehouseError('GH_USAGE', 'The lifetime must be at least 1s.');
    const max = maxTtlFor(scopes, opts.breakGlass === true, this.#maxTtl);
    if (opts.ttlMs > max.ms) {
      throw new GatehouseError('GH_TOKEN_TTL_EXCEEDED', `The requested lifetime ${formatDuration(opts.ttlMs)} exceeds ${max.limit} (${formatDuration(max.ms)}).`, {
        data: { limit: max.limit, max_ttl: formatDuration(max.ms) },
      });
    }
    const now = this.#clock.now();
    const iat = Math.floor(now / 1000);
    const claims: TokenClaims = { sub: opts.agent, scopes, iat, exp: iat + Math.ceil(opts.ttlMs / 1000), jti: randomId(16) };
    if (opts.tenant !== undefined) claims.tenant = opts.tenant;
    if (opts.breakGlass) claims.bg = true;
    const key = this.#keyring.signing;
    const token = encodeToken(claims, key);
    registerAuthSecret(token);
    if (this.#store) await recordIssued(this.#store, claims, key.kid, now);
    await this.#audit?.emit({
      event_type: 'token.mint',
      result_status: 'success',
      subject: claims.sub,
      principal_type: 'agent',
      scopes: claims.scopes,
      ...(claims.tenant !== undefined ? { tenant: claims.tenant } : {}),
      metadata: { jti: claims.jti, kid: key.kid, iat: claims.iat, exp: claims.exp, ttl: formatDuration(opts.ttlMs), break_glass: claims.bg === true, ...(opts.actor ? { actor: opts.actor } : {}) },
    });
    return { token, claims, kid: key.kid };
  }

  /**
   * Verifies a token: bounded syntax, kid, MAC in constant time, claims, expiry (always), revocation.
   * Throws GatehouseError with the precise code (GH_TOKEN_MALFORMED/INVALID/EXPIRED/NOT_YET_VALID/REVOKED).
   */
  verify(token: string): VerifiedToken {
    const now = this.#clock.now();
    const hit = this.#cache.get(token, now);
    if (hit !== undefined) {
      if (now > hit.expMs + this.#skewMs) {
        this.#cache.delete(token);
        throw tokenError('GH_TOKEN_EXPIRED', 'expired');
      }
      if (this.#revocations?.isTokenRevoked(hit.verified.claims.jti)) throw tokenError('GH_TOKEN_REVOKED', 'revoked');
      if (typeof this.#lookup(hit.verified.kid, now) !== 'object') {
        this.#cache.delete(token);
        throw tokenError('GH_TOKEN_INVALID', 'kid_retired');
      }
      return hit.verified;
    }
    return this.#verifyFirstSight(token, now);
  }

  #verifyFirstSight(token: string, now: number): VerifiedToken {
    let verified: VerifiedToken;
    try {
      verified = verifyTokenString(token, this.#lookup, { nowMs: now, skewMs: this.#skewMs, maxLength: this.#maxLength });
    } catch (e) {
      // A kid minted after a `token rotate-secret` elsewhere: reload the key file (at most once a second) and retry.
      if ((e as GatehouseError).detail === 'unknown_kid' && this.#maybeReloadKeys(now)) {
        verified = verifyTokenString(token, this.#lookup, { nowMs: now, skewMs: this.#skewMs, maxLength: this.#maxLength });
      } else throw e;
    }
    if (this.#revocations?.isTokenRevoked(verified.claims.jti)) throw tokenError('GH_TOKEN_REVOKED', 'revoked');
    registerAuthSecret(token);
    const expMs = verified.claims.exp * 1000;
    this.#cache.set(token, { verified, expMs }, Math.min(expMs + this.#skewMs, now + this.#cacheTtlMs));
    return verified;
  }

  /** Re-reads the state key file when it changed (rotation or retirement by the CLI). True when keys were reloaded. */
  #maybeReloadKeys(now: number): boolean {
    const path = this.#keyring.path;
    if (path === undefined || now - this.#lastReload < 1000) return false;
    this.#lastReload = now;
    return this.reloadKeysIfChanged();
  }

  reloadKeysIfChanged(): boolean {
    const path = this.#keyring.path;
    if (path === undefined) return false;
    const stamp = keyFileStamp(path);
    if (stamp === undefined || stamp === this.#keyStamp) return false;
    this.#keyring = reloadTokenSecrets(path, this.#clock);
    this.#lookup = keyLookup(this.#keyring.keys);
    this.#keyStamp = stamp;
    return true;
  }

  /** Revokes by token or jti in the shared store; this process refuses it at once, others within a poll. */
  async revoke(tokenOrJti: string, reason?: string): Promise<{ jti: string; revocation: Revocation }> {
    if (!this.#store) throw new TypeError('revocation needs a state store');
    const target = revocationTarget(tokenOrJti);
    const now = this.#clock.now();
    const revocation = await revokeTokenId(this.#store, target.jti, { now, ...(target.exp !== undefined ? { exp: target.exp } : {}), ...(reason ? { reason } : {}) });
    this.#revocations?.noteTokenRevoked(target.jti, revocation.exp);
    this.#cache.deleteWhere((c) => c.verified.claims.jti === target.jti);
    await this.#audit?.emit({
      event_type: 'token.revoke',
      result_status: 'success',
      metadata: { jti: target.jti, ...(revocation.exp !== undefined ? { exp: revocation.exp } : {}), ...(reason ? { reason: reason.slice(0, 200) } : {}) },
    });
    return { jti: target.jti, revocation };
  }

  /**
   * `token inspect`: the claims (never the signature) and a status, even for an expired, revoked or foreign token.
   * The payload of a token whose MAC does not verify is still shown, marked invalid, for the operator's diagnosis.
   */
  async inspect(token: string): Promise<{ claims: TokenClaims; kid: string; status: TokenStatus; reason?: string }> {
    const parts = splitToken(token, this.#maxLength);
    const claims = decodeClaims(parts.payload);
    const now = this.#clock.now();
    const result = (status: TokenStatus, reason?: string) => ({ claims, kid: parts.kid, status, ...(reason ? { reason } : {}) });
    try {
      verifyTokenString(token, this.#lookup, { nowMs: now, skewMs: this.#skewMs, maxLength: this.#maxLength });
    } catch (e) {
      const err = e as GatehouseError;
      if (err.code === 'GH_TOKEN_EXPIRED') return result('expired');
      if (err.code === 'GH_TOKEN_NOT_YET_VALID') return result('not_yet_valid');
      return result('invalid', err.detail);
    }
    if (this.#store && (await isRevokedInStore(this.#store, claims.jti))) return result('revoked');
    return result('active');
  }
}
