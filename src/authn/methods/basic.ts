import type { Clock } from '../../core/clock.js';
import { constantTimeEqual } from '../../core/compare.js';
import type { Logger, Exchange, Principal, PrincipalType } from '../../core/types.js';
import { BcryptAdmission } from '../bcrypt-admission.js';
import { VerifiedCache } from '../cache.js';
import { keyedHasher } from '../keyed-hash.js';
import { credentialError, type AuthMethodImpl } from '../method.js';
import { burnVerification, isBcryptHash, verifySecret } from '../passwords.js';
import { readUsersFile, usersFileStamp } from '../users-file.js';

export interface BasicUser {
  name: string;
  password_hash?: string | undefined;
  /** Plaintext, development only (refused in production by authProductionProblems). */
  password?: string | undefined;
  scopes: readonly string[];
  tenant?: string | undefined;
  type?: PrincipalType | undefined;
}

interface Verified {
  user: BasicUser;
}

/**
 * HTTP Basic (RFC 7617) against the users in config and the users file (argon2id or bcrypt hashes). A verified
 * user/password pair is cached under a keyed hash for cache.ttl, and the cache is dropped when the users file changes
 * (a `gatehouse user passwd` takes effect within a second). An unknown user costs the same work as a wrong password,
 * and, while bcrypt is capped, gets the same 429 as a bcrypt user (bcrypt-admission.ts).
 */
export function basicMethod(opts: {
  users: readonly BasicUser[];
  usersFile: string;
  clock: Clock;
  logger: Logger;
  cache: { maxEntries: number; ttlMs: number };
  /** The authenticator's bcrypt admission, shared with the api_key method (one of its own when absent). */
  admission?: BcryptAdmission | undefined;
}): AuthMethodImpl<{ user: string; password: string }> {
  const { clock } = opts;
  const admission = opts.admission ?? new BcryptAdmission();
  const cache = new VerifiedCache<Verified>(opts.cache.maxEntries);
  const hash = keyedHasher();
  let byName = new Map<string, BasicUser>();
  let stamp: string | undefined;
  let checkedAt = Number.NEGATIVE_INFINITY;

  const load = (): void => {
    const next = new Map<string, BasicUser>();
    for (const u of opts.users) if (!next.has(u.name)) next.set(u.name, u);
    for (const u of readUsersFile(opts.usersFile)) if (!next.has(u.name)) next.set(u.name, u);
    admission.holds('basic', [...next.values()].some((u) => u.password_hash !== undefined && isBcryptHash(u.password_hash)));
    byName = next;
    cache.clear();
  };
  const refresh = (): void => {
    const now = clock.now();
    if (now - checkedAt < 1000) return;
    checkedAt = now;
    const s = usersFileStamp(opts.usersFile);
    if (s === stamp) return;
    try {
      load();
      stamp = s;
    } catch {
      // A broken users file: keep the last good users rather than admitting or locking out everyone.
      opts.logger.error({ event: 'authn.users_file_invalid' }, 'the users file is invalid; keeping the previous users');
    }
  };
  load();
  stamp = usersFileStamp(opts.usersFile);

  const principal = (ex: Exchange, u: BasicUser): Principal => ({
    id: u.name, type: u.type ?? 'user', method: 'basic', scopes: u.scopes, tenant: u.tenant, network: ex.network, credential_id: `user:${u.name}`, attributes: {},
  });

  const verify = async (user: string, password: string, cacheKey: string, sourceIp: string): Promise<Verified> => {
    // Before the lookup: while bcrypt is capped, every user name gets the same 429, whatever its hash (or none).
    const ticket = admission.admit(sourceIp);
    let ok: boolean;
    const u = byName.get(user);
    try {
      if (u === undefined) {
        // The client's share is kept through the burn (released in finally), as a real verification keeps it.
        ticket?.yieldGlobal();
        await burnVerification(password);
        throw credentialError('GH_CREDENTIALS_INVALID', 'unknown_user', user.slice(0, 128));
      }
      if (u.password_hash !== undefined) ok = await verifySecret(u.password_hash, password, ticket);
      else {
        // A plain-text (development) password pays an argon2 verification too, or it would answer faster than an unknown user.
        ticket?.yieldGlobal();
        ok = (await burnVerification(password)) || constantTimeEqual(password, u.password ?? '');
      }
    } finally {
      ticket?.release();
    }
    if (!ok) throw credentialError('GH_CREDENTIALS_INVALID', 'bad_password', u.name);
    // The users may have been reloaded while argon2 ran: cache only if this entry is still current.
    if (byName.get(user) === u) cache.set(cacheKey, { user: u }, clock.now() + opts.cache.ttlMs);
    return { user: u };
  };

  return {
    name: 'basic',
    failure: 'credentials',
    carrier: (_ex, creds) => (creds.scheme === 'basic' ? 'authorization' : undefined),
    recognise: (_ex, creds) => creds.basic,
    authenticate(ex, { user, password }): Principal | Promise<Principal> {
      refresh();
      const cacheKey = hash(`${user}\0${password}`);
      const hit = cache.get(cacheKey, clock.now());
      if (hit !== undefined) return principal(ex, hit.user);
      return verify(user, password, cacheKey, ex.network.source_ip).then((v) => principal(ex, v.user));
    },
  };
}
