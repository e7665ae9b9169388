import type { Exchange, Principal } from '../../core/types.js';
import type { AuthMethodImpl, Credentials } from '../method.js';

/**
 * Development only (seed 003's AUTH_PROVIDER=none): admits a request that carries no credential at all as an
 * anonymous principal. A presented credential that no method recognises is still refused. Production refuses to
 * start with it (authProductionProblems, createAuthenticator).
 */
export function noneMethod(opts: { principal: string; scopes: readonly string[]; hasExplicitCredential: (ex: Exchange, creds: Credentials) => boolean }): AuthMethodImpl<true> {
  return {
    name: 'none',
    failure: 'credentials',
    carrier: () => undefined,
    recognise: (ex, creds) => (creds.scheme === undefined && !opts.hasExplicitCredential(ex, creds) ? true : undefined),
    authenticate: (ex: Exchange): Principal => ({ id: opts.principal, type: 'anonymous', method: 'none', scopes: opts.scopes, network: ex.network, attributes: {} }),
  };
}
