import type { Exchange, Principal } from '../../core/types.js';
import type { AuthMethodImpl, Credentials } from '../method.js';

/** The principal of a request without credentials (this method, and public routes with no scopes). */
export function anonymousPrincipal(ex: Exchange, id = 'anonymous', scopes: readonly string[] = []): Principal {
  return { id, type: 'anonymous', method: 'none', scopes, network: ex.network, attributes: {} };
}

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
    authenticate: (ex: Exchange): Principal => anonymousPrincipal(ex, opts.principal, opts.scopes),
  };
}
