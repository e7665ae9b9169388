import { z } from 'zod';
import { bytes, duration, envName, filePath, section } from './common.js';

// The 'encryption' section (issue 7, docs/encryption.md § Configuration). Seed 000's data encryption block
// (enabled, type, key_file, key_env, key_id, rotation_days), seed 002's envelope encryption, key rings for the
// transit API.

const keyType = z.enum(['aes', 'chacha20poly1305', 'xchacha20poly1305']);
const keyId = z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'a key id is 1 to 64 characters of A-Z a-z 0-9 . _ : -');
/** NIST SP 800-38D §8.3: at most 2^32 random-IV GCM encryptions per key. The default stays well below. */
const maxEncryptions = z.number().int().min(1).max(2 ** 32);

const oneKeySource = (v: { key_file?: string | undefined; key_env?: string | undefined }) => !(v.key_file && v.key_env);
const oneKeySourceMessage = { message: 'set key_file or key_env, not both' };

const keyringSchema = z
  .strictObject({
    type: keyType.default('aes'),
    /** Optional imported key; without one the ring generates its keys (stored wrapped by the KMS). */
    key_file: filePath().optional(),
    key_env: envName.optional(),
    key_id: keyId.optional(),
    rotation_days: z.number().int().min(1).max(3650).optional(),
    min_decryption_version: z.number().int().min(1).default(1),
    max_encryptions_per_key: maxEncryptions.default(2 ** 30),
  })
  .refine(oneKeySource, oneKeySourceMessage);

export const encryptionSection = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** Algorithm of the default keyring: aes = AES-256-GCM (seed 000: "aes or chacha20poly1305"). */
    type: keyType.default('aes'),
    /** 32-byte key as hex or base64 (`openssl rand -hex 32 > key.bin`); mode 0600 or 0400. */
    key_file: filePath().optional(),
    /** Environment variable holding the key (hex or base64). */
    key_env: envName.optional(),
    /** Identifier written into every message header (seed 000: key-2023). */
    key_id: keyId.default('key-1'),
    /** Rotate the primary key automatically once it is this many days old. */
    rotation_days: z.number().int().min(1).max(3650).optional(),
    /** Messages under key versions below this are refused (GH_CRYPTO_KEY_RETIRED). */
    min_decryption_version: z.number().int().min(1).default(1),
    /** Nonce safety: rotate before a key seals this many messages with random 96-bit nonces. */
    max_encryptions_per_key: maxEncryptions.default(2 ** 30),
    /** Named keyrings for the transit API (/v1/encrypt/:keyring …). `default` is the ring above. */
    keyrings: z.record(z.string().regex(/^[A-Za-z0-9._-]{1,48}$/, 'a keyring name is 1 to 48 of A-Z a-z 0-9 . _ -'), keyringSchema).default({}),
    /** The master key that wraps generated and data keys (seed 002: provider local now; kms later). */
    kms: section({
      provider: z.enum(['local']).default('local'),
      key_file: filePath().optional(),
      key_env: envName.optional(),
      key_id: keyId.optional(),
      /** Generated master keys (master-N.key, 0600); default <state_dir>/keys/kms. */
      key_dir: z.string().optional(),
    }),
    /** Per-tenant / per-stream data keys wrapped by the master key (seed 002). */
    envelope: section({
      data_key_rotation_days: z.number().int().min(1).max(3650).optional(),
      cache_ttl: duration('5m'),
      cache_max_entries: z.number().int().min(1).max(1_000_000).default(1000),
    }),
    /** Client-encrypted request bodies (X-Gatehouse-Encrypted: v1). */
    request_bodies: section({
      enabled: z.boolean().default(false),
      keyring: z.string().default('default'),
      max_bytes: bytes('1mb'),
    }),
    /** The transit API (/v1/encrypt/:keyring, decrypt, rewrap, datakey). */
    transit: section({
      enabled: z.boolean().default(false),
      max_body_bytes: bytes('1mb'),
    }),
  })
  .refine(oneKeySource, oneKeySourceMessage)
  .prefault({});
export type EncryptionConfig = z.infer<typeof encryptionSection>;
export type KeyringConfig = z.infer<typeof keyringSchema>;
