import { createHash, timingSafeEqual } from 'node:crypto';
import type { Exchange, Principal, PrincipalType } from '../../core/types.js';
import { credentialError, headerValue, type AuthMethodImpl } from '../method.js';
import { registerAuthSecret } from '../secret-registry.js';

export interface HeaderMethodConfig {
  headers: Readonly<Record<string, string>>;
  principal: string;
  scopes: readonly string[];
  tenant?: string | undefined;
  type: PrincipalType;
  trusted_identity: { authenticate: boolean; scopes: readonly string[]; tenant?: string | undefined };
}

type Claim = { kind: 'headers' } | { kind: 'proxy'; user: string };

const digest = (v: string): Buffer => createHash('sha256').update(v).digest();

/**
 * Seed 000's custom header authentication (X-API-Key, X-Tenant-ID …): every configured header must be present and
 * equal, each compared in constant time (both sides hashed to a fixed length first, all compared, no early exit).
 * With trusted_identity.authenticate, a trusted proxy's identity headers (filled into ex.network.tailscale by identify)
 * authenticate a user on their own — off by default, since tailnet membership is not enough (seed 001).
 */
export function headerMethod(cfg: HeaderMethodConfig): AuthMethodImpl<Claim> {
  const expected = Object.entries(cfg.headers).map(([name, value]) => {
    registerAuthSecret(value, true);
    return { name: name.toLowerCase(), digest: digest(value) };
  });
  const firstPresent = (ex: Exchange): string | undefined => {
    for (const h of expected) if (ex.req.headers[h.name] !== undefined) return h.name;
    return undefined;
  };
  return {
    name: 'header',
    failure: 'credentials',
    carrier: (ex) => firstPresent(ex),
    recognise(ex): Claim | undefined {
      if (expected.length > 0 && firstPresent(ex) !== undefined) return { kind: 'headers' };
      const user = ex.network.tailscale?.tailscale_user;
      if (cfg.trusted_identity.authenticate && user !== undefined) return { kind: 'proxy', user };
      return undefined;
    },
    authenticate(ex: Exchange, claim: Claim): Principal {
      if (claim.kind === 'proxy') {
        const t = cfg.trusted_identity;
        return { id: claim.user, type: 'user', method: 'header', scopes: t.scopes, tenant: t.tenant, network: ex.network, credential_id: 'trusted-proxy', attributes: { via: 'trusted_proxy' } };
      }
      let ok = true;
      for (const h of expected) {
        const v = headerValue(ex, h.name);
        const same = timingSafeEqual(digest(v !== undefined && v.length <= 4096 ? v : ''), h.digest);
        ok = same && ok && v !== undefined;
      }
      if (!ok) throw credentialError('GH_CREDENTIALS_INVALID', 'header_mismatch');
      return { id: cfg.principal, type: cfg.type, method: 'header', scopes: cfg.scopes, tenant: cfg.tenant, network: ex.network, credential_id: 'headers', attributes: {} };
    },
  };
}
