import type { Clock } from '../../core/clock.js';
import type { StateStore } from '../../core/store.js';
import type { Exchange, Principal, PrincipalType } from '../../core/types.js';
import { getApiKey, isApiKeyShaped, parseApiKey } from '../api-key-store.js';
import type { BcryptAdmission } from '../bcrypt-admission.js';
import { VerifiedCache } from '../cache.js';
import { keyedHasher } from '../keyed-hash.js';
import { credentialError, headerValue, type AuthMethodImpl } from '../method.js';
import { burnVerification, isBcryptHash, verifySecret } from '../passwords.js';
import type { RevocationWatcher } from '../revocation.js';
import { registerAuthSecret } from '../secret-registry.js';
import type { UsageRecorder } from '../usage.js';

interface VerifiedKey {
  id: string;
  /** `key:<id>`, built once: the usage recorder's key. */
  usageId: string;
  name: string;
  scopes: readonly string[];
  tenant: string | undefined;
  type: PrincipalType;
  expiresAt: number | undefined;
}

export interface ApiKeyMethodOptions {
  store: StateStore;
  clock: Clock;
  revocations: RevocationWatcher;
  usage?: UsageRecorder | undefined;
  cache: { maxEntries: number; ttlMs: number };
  /** Header that may carry the key besides Authorization: Bearer (seed 000's X-API-Key). */
  header: string;
  /** The authenticator's bcrypt admission (bcrypt-admission.ts): told whether the store held a bcrypt key at start. */
  admission: BcryptAdmission;
}

/**
 * API keys `gh_<id>_<secret>` (issue 3): looked up by id in the shared store, verified against the argon2id (or
 * imported bcrypt) hash, then cached under a keyed hash of the whole key so argon2 stays off the hot path.
 * Revocation is checked on every hit; concurrent first sightings of one key share a single verification.
 */
export function apiKeyMethod(opts: ApiKeyMethodOptions): AuthMethodImpl<string> {
  const { store, clock, revocations, usage, admission } = opts;
  const header = opts.header.toLowerCase();
  const cache = new VerifiedCache<VerifiedKey>(opts.cache.maxEntries);
  const inflight = new Map<string, Promise<VerifiedKey>>();
  const hash = keyedHasher();
  revocations.onRevoked((kind, id) => {
    if (kind === 'api_key') cache.deleteWhere((k) => k.id === id);
  });

  const principal = (ex: Exchange, k: VerifiedKey): Principal => {
    usage?.record(k.usageId, clock.now());
    return {
      id: k.name, type: k.type, method: 'api_key', scopes: k.scopes, tenant: k.tenant, network: ex.network, credential_id: k.id,
      ...(k.expiresAt !== undefined ? { valid_until: k.expiresAt } : {}), attributes: {},
    };
  };

  const verifyFirstSight = async (key: string, cacheKey: string, sourceIp: string): Promise<VerifiedKey> => {
    const parsed = parseApiKey(key);
    if (parsed === undefined) throw credentialError('GH_CREDENTIALS_INVALID', 'api_key_malformed');
    // Before the lookup: while bcrypt is capped, every key id gets the same 429, whatever its hash (or none).
    let ticket = admission.admit(sourceIp);
    let rec: Awaited<ReturnType<typeof getApiKey>>;
    let ok: boolean;
    try {
      rec = await getApiKey(store, parsed.id);
      if (rec === undefined) {
        // The client's share is kept through the burn (released in finally), as a real verification keeps it.
        ticket?.yieldGlobal();
        await burnVerification(parsed.secret);
        throw credentialError('GH_CREDENTIALS_INVALID', 'unknown_key', parsed.id);
      }
      if (ticket === undefined && isBcryptHash(rec.hash)) ticket = admission.late('api_key', sourceIp);
      // A revoked or expired key pays its verification before it is refused, as a live or unknown one does: answered
      // at once, it would tell which key ids exist (docs/authentication.md, "cost the same").
      ok = await verifySecret(rec.hash, parsed.secret, ticket);
    } finally {
      ticket?.release();
    }
    const now = clock.now();
    const revoked = rec.revoked_at !== undefined || revocations.isApiKeyRevoked(rec.id);
    const expired = rec.expires_at !== undefined && now >= rec.expires_at;
    if (revoked) throw credentialError('GH_TOKEN_REVOKED', 'revoked', rec.id);
    if (expired) throw credentialError('GH_TOKEN_EXPIRED', 'expired', rec.id);
    if (!ok) throw credentialError('GH_CREDENTIALS_INVALID', 'bad_secret', rec.id);
    registerAuthSecret(key);
    const v: VerifiedKey = { id: rec.id, usageId: `key:${rec.id}`, name: rec.name, scopes: rec.scopes, tenant: rec.tenant, type: rec.type, expiresAt: rec.expires_at };
    // Revoked while argon2 ran: the set already has it, and the hit path checks it too.
    if (revocations.isApiKeyRevoked(rec.id)) throw credentialError('GH_TOKEN_REVOKED', 'revoked', rec.id);
    cache.set(cacheKey, v, Math.min(now + opts.cache.ttlMs, rec.expires_at ?? Number.POSITIVE_INFINITY));
    return v;
  };

  return {
    name: 'api_key',
    failure: 'credentials',
    carrier(ex, creds) {
      const inAuthorization = creds.bearer !== undefined && isApiKeyShaped(creds.bearer);
      const h = headerValue(ex, header);
      const inHeader = h !== undefined && isApiKeyShaped(h);
      if (inAuthorization && inHeader) return ['authorization', header];
      return inAuthorization ? 'authorization' : inHeader ? header : undefined;
    },
    recognise(ex, creds) {
      if (creds.bearer !== undefined && isApiKeyShaped(creds.bearer)) return creds.bearer;
      const h = headerValue(ex, header);
      return h !== undefined && isApiKeyShaped(h) ? h : undefined;
    },
    authenticate(ex: Exchange, key: string): Principal | Promise<Principal> {
      if (key.length > 300) throw credentialError('GH_CREDENTIALS_INVALID', 'api_key_too_long');
      const cacheKey = hash(key);
      const now = clock.now();
      const hit = cache.get(cacheKey, now);
      if (hit !== undefined) {
        if (revocations.isApiKeyRevoked(hit.id)) throw credentialError('GH_TOKEN_REVOKED', 'revoked', hit.id);
        return principal(ex, hit);
      }
      let p = inflight.get(cacheKey);
      if (p === undefined) {
        p = verifyFirstSight(key, cacheKey, ex.network.source_ip).finally(() => inflight.delete(cacheKey));
        inflight.set(cacheKey, p);
      }
      return p.then((v) => principal(ex, v));
    },
  };
}
