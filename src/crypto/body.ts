/**
 * Client-encrypted request bodies (issue 7, "In the gateway"). A client that encrypts its body sends
 *
 *   X-Gatehouse-Encrypted: v1        — the body is one Gatehouse message (docs/formats.md)
 *
 * with the AAD built from the tenant and the route, so a body captured on one route or for one tenant does not
 * decrypt on another. The gateway's transform stage calls `decryptRequestBody` before policy and forwards plaintext
 * (or, on a route marked end-to-end, forwards the ciphertext untouched and reads only `inspectCiphertext`).
 */
import { GatehouseError } from '../core/errors.js';
import { encodeContext } from './context.js';
import type { Keyring } from './keyring.js';
import { openMessage, sealMessage, type MessageKey } from './message.js';

export const ENCRYPTED_BODY_HEADER = 'x-gatehouse-encrypted';
export const ENCRYPTED_BODY_FORMAT = 'v1';

export interface BodyContext {
  tenant?: string | undefined;
  /** The route name (routes[].name), so a body cannot be replayed to another route. */
  route?: string | undefined;
}

export function bodyContext(context: BodyContext): Buffer {
  return encodeContext({ gh_purpose: 'request-body', tenant: context.tenant, route: context.route });
}

/**
 * Reads the header: undefined when the body is not encrypted, 'v1' when it is a Gatehouse message; any other value
 * is refused (GH_CRYPTO_MALFORMED) rather than forwarded as if it were plaintext.
 */
export function encryptedBodyFormat(headers: Readonly<Record<string, string | string[] | undefined>>): 'v1' | undefined {
  const value = headers[ENCRYPTED_BODY_HEADER];
  if (value === undefined) return undefined;
  if (value === ENCRYPTED_BODY_FORMAT) return 'v1';
  throw new GatehouseError('GH_CRYPTO_MALFORMED', `Unsupported ${ENCRYPTED_BODY_HEADER} value; the supported format is v1.`);
}

/**
 * Decrypts a client-encrypted body with the keyring's loaded keys. Throws GH_CRYPTO_MALFORMED, GH_CRYPTO_KEY_UNKNOWN,
 * GH_CRYPTO_KEY_RETIRED or GH_CRYPTO_DECRYPT_FAILED (4xx), never returns partial plaintext.
 */
export function decryptRequestBody(body: Buffer, keyring: Keyring, context: BodyContext): Buffer {
  return keyring.decryptSync(body, bodyContext(context));
}

/** Client side: encrypts a body for `context` with a keyring (counted) or a key. */
export async function encryptRequestBody(body: Uint8Array, key: Keyring | MessageKey, context: BodyContext): Promise<Buffer> {
  const aad = bodyContext(context);
  return 'encrypt' in key ? key.encrypt(body, aad) : sealMessage(key, body, aad);
}

/** Client side with a fixed key, for tools and tests. */
export function openRequestBody(body: Uint8Array, key: MessageKey, context: BodyContext): Buffer {
  return openMessage(key, body, bodyContext(context));
}
