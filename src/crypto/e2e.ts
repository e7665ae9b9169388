/**
 * End-to-end mode (seed 002 "End-to-End Encryption"): the publisher encrypts with the stream key, the broker routes
 * ciphertext it cannot decrypt, the subscriber decrypts. The AAD binds each message to tenant / namespace / stream, so
 * a message re-published to another stream fails to open. The broker side uses only `inspectCiphertext`, which reads
 * the header (key id, algorithm, size) and needs no key: policy on a route marked end-to-end sees metadata only.
 */
import { encodeContext } from './context.js';
import { generateKey } from './primitives.js';
import { MESSAGE_MAGIC, openMessage, parseMessageHeader, sealMessage, type KeyResolver, type MessageKey } from './message.js';
import type { AeadAlgorithm } from './aead.js';

export interface StreamAddress {
  tenant: string;
  namespace: string;
  stream: string;
}

/** AAD of an end-to-end message: the stream's address (seed 002's tenant → namespace → stream). */
export function e2eContext(address: StreamAddress): Buffer {
  return encodeContext({ gh_purpose: 'e2e', tenant: address.tenant, namespace: address.namespace, stream: address.stream });
}

/** A new stream key (seed 002: `key_id: stream-key-v1`), held by publishers and subscribers, never by the broker. */
export function createStreamKey(id: string, algorithm: AeadAlgorithm = 'xchacha20-poly1305'): MessageKey {
  return { id, algorithm, material: generateKey() };
}

/** Publisher side: encrypts a payload for one stream. */
export function publishEncrypted(key: MessageKey, address: StreamAddress, payload: Uint8Array): Buffer {
  return sealMessage(key, payload, e2eContext(address));
}

/** Subscriber side: opens a message received on `address` (fails when it was published elsewhere). */
export function receiveEncrypted(key: MessageKey | KeyResolver, address: StreamAddress, message: Uint8Array): Buffer {
  return openMessage(key, message, e2eContext(address));
}

export interface CiphertextInfo {
  keyId: string;
  algorithm: AeadAlgorithm;
  /** Bytes of ciphertext (plaintext length; AEAD adds only the header and the tag). */
  payloadBytes: number;
}

/** Whether a body looks like a Gatehouse message (magic and version only; proves nothing about its integrity). */
export function isGatehouseMessage(body: Uint8Array): boolean {
  return body.length >= 4 && Buffer.from(body.buffer, body.byteOffset, 4).subarray(0, 3).equals(MESSAGE_MAGIC) && body[3] === 1;
}

/** Broker side: what a router may know about an end-to-end message without any key. GH_CRYPTO_MALFORMED if not one. */
export function inspectCiphertext(message: Uint8Array): CiphertextInfo {
  const h = parseMessageHeader(message);
  return { keyId: h.keyId, algorithm: h.algorithm, payloadBytes: message.length - h.length - 16 };
}
