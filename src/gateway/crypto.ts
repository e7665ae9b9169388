import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatehouseError } from '../core/errors.js';
import type { AuditEmitter, Exchange, Principal, Stage, StageDeps } from '../core/types.js';
import type { GatehouseConfig } from '../config/index.js';
import { bodyContext, createTransitHandler, encryptedBodyFormat, openCrypto, type CryptoRuntime, type TransitOperation } from '../crypto/index.js';

/** Request header naming a client-encrypted body (docs/encryption.md). */
export const ENCRYPTED_HEADER = 'x-gatehouse-encrypted';

export interface GatewayCrypto {
  /** Whether the request carries an encrypted body that must be read before policy. */
  needsBody(ex: Exchange, endToEnd: boolean): boolean;
  /** Decrypt stage: replaces ex.body with the plaintext, bound to the principal's tenant and the route. */
  decrypt: Stage;
  /** The transit API (POST /v1/encrypt|decrypt|rewrap|datakey/:keyring) under the admin prefix, or undefined. */
  transit: ((req: IncomingMessage, res: ServerResponse, principal: Principal, subpath: string) => Promise<void>) | undefined;
}

/**
 * Transit scopes: `transit:<operation>` (any keyring), `transit:<operation>:<keyring>`, `transit:*`, or `admin`.
 * A principal bound to a tenant may only name its own tenant.
 */
export function transitAllowed(principal: Principal, op: TransitOperation, keyring: string, tenant: string | undefined): boolean {
  if (principal.type === 'anonymous') return false;
  if (tenant !== undefined && principal.tenant !== undefined && tenant !== principal.tenant) return false;
  const s = principal.scopes;
  return s.includes('admin') || s.includes('transit:*') || s.includes(`transit:${op}`) || s.includes(`transit:${op}:${keyring}`);
}

export function createGatewayCrypto(cfg: GatehouseConfig, deps: StageDeps & { audit: AuditEmitter }): GatewayCrypto {
  const enc = cfg.encryption;
  const runtime: CryptoRuntime | undefined = enc.enabled ? openCrypto(enc, { store: deps.store, stateDir: cfg.state_dir, clock: deps.clock }) : undefined;
  const bodies = enc.enabled && enc.request_bodies.enabled;

  const decrypt: Stage = async (ex) => {
    const format = encryptedBodyFormat(ex.req.headers);
    if (format === undefined || ex.body === undefined) return;
    if (!bodies || !runtime) throw new GatehouseError('GH_CRYPTO_KEY_UNKNOWN', 'Encrypted request bodies are not enabled on this gateway.');
    // The route's body limit may be far larger (uploads); request_bodies.max_bytes bounds what is decrypted in memory.
    if (ex.body.length > enc.request_bodies.max_bytes) throw new GatehouseError('GH_BODY_TOO_LARGE', 'The encrypted request body is too large.');
    const ring = await runtime.keyring(enc.request_bodies.keyring);
    if (!ring) throw new GatehouseError('GH_CRYPTO_KEY_UNKNOWN', 'The keyring for request bodies is not configured.');
    // The async path refreshes the key ring when another process rotated it.
    ex.body = await ring.decrypt(ex.body, bodyContext({ tenant: ex.principal?.tenant, route: ex.route?.name }));
    ex.meta['encrypted_body'] = true;
  };

  const transit =
    enc.enabled && enc.transit.enabled && runtime
      ? createTransitHandler({ keyrings: (name) => runtime.keyring(name), authorize: transitAllowed, audit: deps.audit, maxBodyBytes: enc.transit.max_body_bytes })
      : undefined;

  return {
    needsBody(ex, endToEnd) {
      // On end-to-end routes the ciphertext is forwarded untouched: the gateway never needs (nor holds) the key.
      return !endToEnd && ex.req.headers[ENCRYPTED_HEADER] !== undefined;
    },
    decrypt,
    transit,
  };
}
