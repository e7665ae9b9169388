import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatehouseError } from '../core/errors.js';
import type { AuditEmitter, Exchange, Principal, Stage, StageDeps } from '../core/types.js';
import type { GatehouseConfig } from '../config/index.js';
import { bodyContext, createTransitHandler, encryptedBodyFormat, inspectCiphertext, openCrypto, type CryptoRuntime, type TransitOperation } from '../crypto/index.js';

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

/** What a route asks of request bodies (routes[].end_to_end, routes[].encryption). */
interface RouteBodyPolicy {
  readonly endToEnd: boolean;
  readonly required: boolean;
  /** Undefined: any key id. */
  readonly keyIds: ReadonlySet<string> | undefined;
}

/** Whether the request announces a body (as the server's MCP check reads it): a Content-Length above 0 or any Transfer-Encoding. */
function announcesBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) !== 0);
}

/**
 * routes[].encryption.required: the body must be a Gatehouse message under the marker. Only the header is read — the
 * framing, version, algorithm, key id and a length covering header and tag — because on end-to-end routes the gateway
 * holds no key (seed 002: "the broker routes ciphertext"). A message cut inside its ciphertext cannot be told from
 * a shorter one without the key; the subscriber's AEAD check refuses it.
 */
function checkRequiredEnvelope(ex: Exchange, body: Buffer, format: 'v1' | undefined, policy: RouteBodyPolicy): void {
  if (format === undefined) throw new GatehouseError('GH_CRYPTO_REQUIRED', 'This route accepts only encrypted request bodies (X-Gatehouse-Encrypted: v1).');
  const info = inspectCiphertext(body); // GH_CRYPTO_MALFORMED, its detail for the logs only
  // The key id travels in clear in every message; it is still attacker text, so it is not echoed to the client.
  if (policy.keyIds !== undefined && !policy.keyIds.has(info.keyId)) {
    throw new GatehouseError('GH_CRYPTO_KEY_UNKNOWN', 'The message names a key this route does not accept.');
  }
  ex.meta['body_key_id'] = info.keyId;
}

export function createGatewayCrypto(cfg: GatehouseConfig, deps: StageDeps & { audit: AuditEmitter }): GatewayCrypto {
  const enc = cfg.encryption;
  const bodies = enc.enabled && enc.request_bodies.enabled;
  // Keyed by route name (the router's `routeN` for unnamed routes); names come from the config, not from requests.
  const routes = new Map<string, RouteBodyPolicy>();
  cfg.routes.forEach((r, i) => {
    const required = r.encryption?.required === true;
    // A route the gateway must decrypt, on a gateway that cannot: every body would be refused. Said at start instead.
    if (required && !r.end_to_end && !bodies) {
      throw new GatehouseError('GH_CONFIG_INVALID', `routes[${i}].encryption.required on a route that is not end_to_end needs encryption.enabled and encryption.request_bodies.enabled`);
    }
    const keyIds = r.encryption?.key_ids;
    routes.set(r.name ?? `route${i}`, { endToEnd: r.end_to_end, required, keyIds: keyIds ? new Set(keyIds) : undefined });
  });
  const runtime: CryptoRuntime | undefined = enc.enabled ? openCrypto(enc, { store: deps.store, stateDir: cfg.state_dir, clock: deps.clock }) : undefined;
  const policyOf = (ex: Exchange): RouteBodyPolicy | undefined => (ex.route ? routes.get(ex.route.name) : undefined);

  const decrypt: Stage = async (ex) => {
    if (ex.body === undefined) return;
    const format = encryptedBodyFormat(ex.req.headers);
    const policy = policyOf(ex);
    if (policy?.required && ex.body.length > 0) checkRequiredEnvelope(ex, ex.body, format, policy);
    // End-to-end: the ciphertext is forwarded as it came, even when another stage (an approval binding the body) read it.
    if (format === undefined || policy?.endToEnd === true) return;
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
      // A route requiring encryption reads every body to check its envelope, end-to-end or not.
      if (policyOf(ex)?.required === true && announcesBody(ex.req)) return true;
      // On end-to-end routes the ciphertext is forwarded untouched: the gateway never needs (nor holds) the key.
      return !endToEnd && ex.req.headers[ENCRYPTED_HEADER] !== undefined;
    },
    decrypt,
    transit,
  };
}
