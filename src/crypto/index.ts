/**
 * gatehouse/crypto — AEAD primitives, the Gatehouse message and stream formats, key rings with rotation, envelope
 * encryption with crypto-shredding, end-to-end helpers, Fernet, client-encrypted bodies and the transit service.
 * See docs/encryption.md and docs/formats.md.
 */
export {
  AEAD_ALGORITHMS, KEY_BYTES, TAG_BYTES, MAX_PLAINTEXT_BYTES, nonceLength, isAeadAlgorithm, seal, open,
  type AeadAlgorithm,
} from './aead.js';
export { hkdfSha256, secureRandom, fillRandom, generateKey, constantTimeEqual, constantTimeEqualBytes } from './primitives.js';
export { encodeContext, MAX_CONTEXT_BYTES, type CryptoContext } from './context.js';
export {
  sealMessage, sealMessageParts, openMessage, parseMessageHeader, isValidKeyId, algorithmFromId,
  MESSAGE_MAGIC, MESSAGE_VERSION, MAX_KEY_ID_BYTES, ALGORITHM_IDS,
  type MessageKey, type MessageHeader, type KeyResolver,
} from './message.js';
export {
  createEncryptStream, createDecryptStream, parseStreamHeader, DEFAULT_SEGMENT_BYTES, STREAM_MAGIC, STREAM_VERSION,
  type StreamHeader, type StreamOptions, type StreamKeyResolver,
} from './stream.js';
export { createMemoryBound, MEMORY_BOUND_BYTES, openCiphertextFile, openPlaintextFile } from './stream-file.js';
export { parseKeyMaterial, readKeyFile, readKeyEnv, writeKeyFile, checkKeyFileMode, loadOrCreateKeyFile } from './keyfile.js';
export { Keyring, DEFAULT_MAX_ENCRYPTIONS, type KeyringOptions, type KeyringPolicy, type KeyInfo, type ImportedKey } from './keyring.js';
export { LocalKms, type KmsProvider, type LocalKmsOptions, type WrapResult } from './kms.js';
export { kmsPlacementProblems, defaultKmsKeyDir, isInsideDir, masterKeyFiles, type KmsPlacementConfig } from './kms-placement.js';
export { DataKeyManager, scopeKey, type DataKeyScope, type DataKeyManagerOptions } from './envelope.js';
export { openCrypto, algorithmForType, type CryptoRuntime, type CryptoDeps } from './runtime.js';
export {
  e2eContext, createStreamKey, publishEncrypted, receiveEncrypted, inspectCiphertext, isGatehouseMessage,
  type StreamAddress, type CiphertextInfo,
} from './e2e.js';
export { Fernet, generateFernetKey, type FernetOptions } from './fernet.js';
export {
  ENCRYPTED_BODY_HEADER, ENCRYPTED_BODY_FORMAT, encryptedBodyFormat, decryptRequestBody, encryptRequestBody, bodyContext,
  type BodyContext,
} from './body.js';
export { createTransitHandler, type TransitCallChecks, type TransitHandler, type TransitOperation, type TransitOptions } from './transit.js';
