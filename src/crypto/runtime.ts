/**
 * Builds the encryption capability from the `encryption` config section: the local KMS, the default keyring
 * (seed 000's key_file / key_env / key_id / rotation_days), the named keyrings of the transit API and the data-key
 * manager of envelope encryption. The gateway and the CLI call `openCrypto` once and share the result.
 */
import type { Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { StateStore } from '../core/store.js';
import type { EncryptionConfig, KeyringConfig } from '../config/schema/encryption.js';
import type { AeadAlgorithm } from './aead.js';
import { DataKeyManager } from './envelope.js';
import { readKeyEnv, readKeyFile } from './keyfile.js';
import { Keyring, type ImportedKey, type KeyringOptions, type UnsealedRing } from './keyring.js';
import { LocalKms } from './kms.js';
import { defaultKmsKeyDir, kmsPlacementProblems } from './kms-placement.js';

const DAY_MS = 86_400_000;

/** seed 000's `type: aes | chacha20poly1305` to the algorithm. */
export function algorithmForType(type: 'aes' | 'chacha20poly1305' | 'xchacha20poly1305'): AeadAlgorithm {
  return type === 'aes' ? 'aes-256-gcm' : type === 'chacha20poly1305' ? 'chacha20-poly1305' : 'xchacha20-poly1305';
}

export interface CryptoDeps {
  store: StateStore;
  /** Where the local KMS keeps generated master keys (default <stateDir>/keys/kms). */
  stateDir: string;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  /**
   * production refuses master keys in the state directory (GH_CONFIG_PRODUCTION_REFUSED), before anything is
   * generated. The gateway is held to the same rule at start (assertProductionReady).
   */
  profile?: 'development' | 'production';
}

export interface CryptoRuntime {
  kms: LocalKms;
  dataKeys: DataKeyManager;
  /** The configured keyring names: `default` and those under `encryption.keyrings`. */
  keyringNames(): string[];
  /** Opens (once) and returns a keyring; undefined for a name that is not configured. */
  keyring(name: string): Promise<Keyring | undefined>;
  /** All configured keyrings, opened. */
  keyrings(): Promise<Record<string, Keyring>>;
  /**
   * A configured keyring stored before the state MAC, for review (`gatehouse keys seal`); undefined when it is sealed
   * or has no state yet. Rejects a name that is not configured (TypeError).
   */
  unsealedKeyring(name: string): Promise<UnsealedRing | undefined>;
  /** Seals the reviewed state of a keyring stored before the state MAC (the operator vouches for it). */
  sealKeyring(name: string, fingerprint: string): Promise<Keyring>;
}

function importedKey(src: { key_file?: string | undefined; key_env?: string | undefined }, id: string, algorithm: AeadAlgorithm, env: NodeJS.ProcessEnv): ImportedKey[] {
  if (src.key_file) return [{ id, material: readKeyFile(src.key_file), source: 'file', algorithm }];
  if (src.key_env) return [{ id, material: readKeyEnv(env, src.key_env), source: 'env', algorithm }];
  return [];
}

function ringSettings(name: string, cfg: EncryptionConfig): KeyringConfig & { key_id?: string } {
  if (name === 'default') {
    return {
      type: cfg.type, key_file: cfg.key_file, key_env: cfg.key_env, key_id: cfg.key_id, rotation_days: cfg.rotation_days,
      min_decryption_version: cfg.min_decryption_version, max_encryptions_per_key: cfg.max_encryptions_per_key,
    };
  }
  return cfg.keyrings[name] as KeyringConfig;
}

export function openCrypto(cfg: EncryptionConfig, deps: CryptoDeps): CryptoRuntime {
  const env = deps.env ?? process.env;
  if (deps.profile === 'production') {
    const problems = kmsPlacementProblems(cfg.kms, deps.stateDir);
    if (problems.length > 0) throw new GatehouseError('GH_CONFIG_PRODUCTION_REFUSED', problems.map((p) => `production: ${p}`).join('; '));
  }
  const kms = LocalKms.open({ ...cfg.kms, key_dir: cfg.kms.key_dir ?? defaultKmsKeyDir(deps.stateDir), state_dir: deps.stateDir, env });
  const dataKeys = new DataKeyManager({
    kms, store: deps.store, ...(deps.clock ? { clock: deps.clock } : {}),
    algorithm: algorithmForType(cfg.type),
    rotationMs: cfg.envelope.data_key_rotation_days !== undefined ? cfg.envelope.data_key_rotation_days * DAY_MS : undefined,
    maxEncryptionsPerKey: cfg.max_encryptions_per_key,
    cacheTtlMs: cfg.envelope.cache_ttl,
    cacheMaxEntries: cfg.envelope.cache_max_entries,
  });
  const names = ['default', ...Object.keys(cfg.keyrings).filter((n) => n !== 'default')];
  const opened = new Map<string, Promise<Keyring>>();

  const ringOptions = (name: string): KeyringOptions => {
    const s = ringSettings(name, cfg);
    const algorithm = algorithmForType(s.type);
    const id = s.key_id ?? `${name}-import`;
    return {
      name, store: deps.store, kms, ...(deps.clock ? { clock: deps.clock } : {}),
      imported: importedKey(s, id, algorithm, env),
      configuredKeyId: id,
      policy: {
        algorithm,
        rotationMs: s.rotation_days !== undefined ? s.rotation_days * DAY_MS : undefined,
        minDecryptionVersion: s.min_decryption_version,
        maxEncryptionsPerKey: s.max_encryptions_per_key,
      },
    };
  };
  const configured = (name: string): string => {
    if (!names.includes(name)) throw new TypeError(`no keyring named ${name} is configured`);
    return name;
  };

  const keyring = (name: string): Promise<Keyring | undefined> => {
    if (!names.includes(name)) return Promise.resolve(undefined);
    let ring = opened.get(name);
    if (!ring) {
      // Inside the promise: a refused key file rejects this call instead of throwing synchronously.
      ring = Promise.resolve().then(() => Keyring.open(ringOptions(name)));
      ring.catch(() => opened.delete(name));
      opened.set(name, ring);
    }
    return ring;
  };

  return {
    kms,
    dataKeys,
    keyringNames: () => [...names],
    keyring,
    async keyrings() {
      const out: Record<string, Keyring> = Object.create(null) as Record<string, Keyring>;
      for (const n of names) out[n] = (await keyring(n)) as Keyring;
      return out;
    },
    unsealedKeyring: async (name) => Keyring.inspectUnsealed(ringOptions(configured(name))),
    async sealKeyring(name, fingerprint) {
      const ring = Keyring.sealUnsealed(ringOptions(configured(name)), fingerprint);
      opened.set(name, ring);
      ring.catch(() => opened.delete(name));
      return ring;
    },
  };
}
