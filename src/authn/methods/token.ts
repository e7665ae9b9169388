import type { Clock } from '../../core/clock.js';
import type { GatehouseError } from '../../core/errors.js';
import type { Exchange, Principal } from '../../core/types.js';
import { credentialError, type AuthMethodImpl } from '../method.js';
import { TOKEN_PREFIX } from '../token-format.js';
import type { TokenService } from '../tokens.js';
import type { UsageRecorder } from '../usage.js';

/** Gatehouse bearer tokens (`Authorization: Bearer gh1.…`). Synchronous: identify stays off the microtask queue. */
export function tokenMethod(service: TokenService, opts: { clock: Clock; usage?: UsageRecorder | undefined }): AuthMethodImpl<string> {
  const { clock, usage } = opts;
  return {
    name: 'token',
    failure: 'token',
    carrier: (_ex, creds) => (creds.bearer !== undefined ? 'authorization' : undefined),
    recognise: (_ex, creds) => (creds.bearer !== undefined && creds.bearer.startsWith(TOKEN_PREFIX) ? creds.bearer : undefined),
    authenticate(ex: Exchange, token: string): Principal {
      let v;
      try {
        v = service.verify(token);
      } catch (e) {
        const err = e as GatehouseError;
        throw credentialError(err.code, err.detail ?? 'invalid');
      }
      const c = v.claims;
      usage?.record(c.jti, clock.now(), c.exp * 1000);
      return {
        id: c.sub,
        type: 'agent',
        method: 'token',
        scopes: c.scopes,
        tenant: c.tenant,
        network: ex.network,
        credential_id: c.jti,
        valid_until: c.exp * 1000 + service.skewMs,
        break_glass: c.bg === true ? true : undefined,
        attributes: { kid: v.kid, expires_at: c.exp },
      };
    },
  };
}
