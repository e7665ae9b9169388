import { createHash, timingSafeEqual } from 'node:crypto';
import type { Exchange, Principal, PrincipalType } from '../../core/types.js';
import type { AuthMethodImpl } from '../method.js';
import { registerAuthSecret } from '../secret-registry.js';

export interface StaticTokenEntry {
  token: string;
  principal: string;
  scopes: readonly string[];
  tenant?: string | undefined;
  type: PrincipalType;
}

interface Prepared {
  digest: Buffer;
  entry: StaticTokenEntry;
  index: number;
}

/**
 * Static bearer tokens (seed 003's `static` provider), each mapped to a principal. The presented token is hashed once
 * and compared with every configured digest by timingSafeEqual without stopping early, so neither the match nor its
 * position leaks through timing. It recognises only a token that matches: anything else is left to the other methods.
 */
export function staticMethod(entries: readonly StaticTokenEntry[]): AuthMethodImpl<Prepared> {
  const prepared: Prepared[] = entries.map((entry, index) => {
    registerAuthSecret(entry.token, true);
    return { digest: createHash('sha256').update(entry.token).digest(), entry, index };
  });
  return {
    name: 'static',
    failure: 'token',
    carrier: (_ex, creds) => (creds.bearer !== undefined ? 'authorization' : undefined),
    recognise(_ex, creds): Prepared | undefined {
      if (creds.bearer === undefined || prepared.length === 0) return undefined;
      const presented = createHash('sha256').update(creds.bearer).digest();
      let match: Prepared | undefined;
      for (const p of prepared) if (timingSafeEqual(presented, p.digest) && match === undefined) match = p;
      return match;
    },
    authenticate(ex: Exchange, p: Prepared): Principal {
      const e = p.entry;
      return { id: e.principal, type: e.type, method: 'static', scopes: e.scopes, tenant: e.tenant, network: ex.network, credential_id: `static:${p.index}`, attributes: {} };
    },
  };
}
