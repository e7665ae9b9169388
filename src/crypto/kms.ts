/**
 * Master keys behind a KMS provider (seed 002 "Envelope Encryption": the master key wraps data keys; seed 000 roadmap:
 * AWS KMS, HashiCorp Vault). The interface follows what both offer — Encrypt/Decrypt/GenerateDataKey/ReEncrypt with an
 * encryption context (AWS KMS), encrypt/decrypt/datakey/rewrap with a context (Vault transit) — so a remote provider is
 * one more class. The local provider keeps master keys in files (0600) or an environment variable.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { GatehouseError } from '../core/errors.js';
import { encodeContext, type CryptoContext } from './context.js';
import { readKeyEnv, readKeyFile, writeKeyFile } from './keyfile.js';
import { isInsideDir, MASTER_FILE_RE, masterKeyFiles } from './kms-placement.js';
import { isValidKeyId, openMessage, parseMessageHeader, sealMessage, type MessageKey } from './message.js';
import { generateKey, hkdfSha256, secureRandom } from './primitives.js';

export interface WrapResult {
  ciphertext: Buffer;
  /** The master key that wrapped it. */
  keyId: string;
}

export interface KmsProvider {
  readonly kind: string;
  /** The master key new wraps use. */
  primaryKeyId(): string;
  /** Wraps a small secret (a data key) under `keyId` (default: the primary), bound to `context`. */
  encrypt(plaintext: Uint8Array, context: CryptoContext, keyId?: string): Promise<WrapResult>;
  /** Unwraps; the same context must be given. GH_CRYPTO_DECRYPT_FAILED / GH_CRYPTO_KEY_UNKNOWN on failure. */
  decrypt(ciphertext: Uint8Array, context: CryptoContext): Promise<{ plaintext: Buffer; keyId: string }>;
  /** A fresh data key, returned both in plaintext and wrapped. */
  generateDataKey(context: CryptoContext, keyId?: string, bytes?: number): Promise<{ plaintext: Buffer } & WrapResult>;
  /** Re-wraps under the primary (or `toKeyId`) without exposing the plaintext to the caller. */
  rewrap(ciphertext: Uint8Array, context: CryptoContext, toKeyId?: string): Promise<WrapResult & { changed: boolean }>;
  /**
   * A 32-byte MAC key bound to `context`, derived from master key `keyId` (default: the primary). Key rings MAC their
   * stored state with it (docs/encryption.md § Integrity of the key ring state). The key, not a MAC call, because
   * state updates are synchronous read-modify-write callbacks; a remote provider can return a data key it wraps.
   * Optional: without it key ring state is not MACed.
   */
  stateMacKey?(context: CryptoContext, keyId?: string): Promise<{ key: Buffer; keyId: string }>;
}

/** Wire context of the local provider: a label keeps its wraps apart from any other use of the same master key. */
const wrapAad = (context: CryptoContext): Buffer => encodeContext({ ...context, gh_purpose: 'kms-wrap' });
/** HKDF info of state MAC keys (RFC 5869 §3.2: info binds the derived key to its use). */
const MAC_INFO = Buffer.from('gatehouse/kms/v1/state-mac\0', 'latin1');

interface MasterKey extends MessageKey {
  readonly version: number;
  readonly source: 'file' | 'env' | 'dir';
}

export interface LocalKmsOptions {
  /** A master key file (hex/base64, 0600) and its id. */
  key_file?: string | undefined;
  /** An environment variable holding a master key. */
  key_env?: string | undefined;
  key_id?: string | undefined;
  /**
   * Directory of generated master keys (`master-N.key`, 0600); rotation writes here. Created (with a first key) only
   * when no key_file/key_env is given; otherwise read when it exists.
   */
  key_dir?: string | undefined;
  /**
   * The state directory. With a key_file/key_env master key, rotation refuses to write a new master key into a
   * key_dir inside it: the operator kept the master key away from the state on purpose.
   */
  state_dir?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

/**
 * Local KMS: master keys from a file, an environment variable and a key directory. The highest version is the
 * primary; a configured file/env key is version 0, so a rotation (which writes `master-N.key`) supersedes it.
 * With nothing configured, a first master key is generated into `key_dir` (development default).
 */
export class LocalKms implements KmsProvider {
  readonly kind = 'local';
  #keys = new Map<string, MasterKey>();
  #primary: MasterKey;
  readonly #dir: string | undefined;
  /** Why rotate() must not write into #dir, if it must not. */
  readonly #rotateRefusal: string | undefined;

  constructor(keys: readonly MasterKey[], dir?: string, rotateRefusal?: string) {
    if (keys.length === 0) throw new TypeError('LocalKms needs at least one master key');
    for (const k of keys) {
      // Wraps name their master by id only: a second key under the same id would shadow the first, and everything
      // the first wrapped would stop opening.
      if (this.#keys.has(k.id)) {
        throw new GatehouseError('GH_CRYPTO_KEY_INVALID', `Two master keys have the id ${k.id}; give kms.key_id another value.`);
      }
      this.#keys.set(k.id, k);
    }
    this.#primary = keys.reduce((a, b) => (b.version > a.version ? b : a));
    this.#dir = dir;
    this.#rotateRefusal = rotateRefusal;
  }

  static open(opts: LocalKmsOptions): LocalKms {
    const keys: MasterKey[] = [];
    const id = opts.key_id ?? 'master-0';
    if (!isValidKeyId(id)) throw new TypeError('kms.key_id is 1 to 64 characters of A-Z a-z 0-9 . _ : -');
    if (opts.key_file) keys.push({ id, algorithm: 'aes-256-gcm', material: readKeyFile(opts.key_file), version: 0, source: 'file' });
    else if (opts.key_env) keys.push({ id, algorithm: 'aes-256-gcm', material: readKeyEnv(opts.env ?? process.env, opts.key_env), version: 0, source: 'env' });
    const external = keys.length > 0;
    if (opts.key_dir) {
      for (const name of masterKeyFiles(opts.key_dir)) {
        const version = Number(MASTER_FILE_RE.exec(name)?.[1]);
        keys.push({ id: `master-${version}`, algorithm: 'aes-256-gcm', material: readKeyFile(join(opts.key_dir, name)), version, source: 'dir' });
      }
      if (keys.length === 0) keys.push(writeDirKey(opts.key_dir, 1));
    }
    const refusal = !opts.key_dir
      ? undefined
      : external && opts.state_dir !== undefined && isInsideDir(opts.key_dir, opts.state_dir)
        ? `kms.key_dir (${opts.key_dir}) is inside the state directory: a new master key there would sit beside the data it protects, which the configured ${opts.key_file ? 'kms.key_file' : 'kms.key_env'} keeps apart. Set encryption.kms.key_dir to a directory outside state_dir (0700, backed up like the key file) and rotate again.`
        : undefined;
    return new LocalKms(keys, opts.key_dir, refusal);
  }

  primaryKeyId(): string {
    return this.#primary.id;
  }

  /** Master key ids, oldest first (never the key bytes). */
  keyIds(): string[] {
    return [...this.#keys.values()].sort((a, b) => a.version - b.version).map((k) => k.id);
  }

  /** Generates the next master key into the key directory and makes it primary. Existing wraps still open. */
  rotate(): string {
    if (!this.#dir) throw new GatehouseError('GH_CRYPTO_KEY_INVALID', 'The local KMS has no key directory to rotate into.');
    if (this.#rotateRefusal !== undefined) throw new GatehouseError('GH_CONFIG_INVALID', `Refusing to rotate the master key: ${this.#rotateRefusal}`);
    let next = Math.max(0, ...[...this.#keys.values()].map((k) => k.version)) + 1;
    // A configured key_id such as master-1 is version 0: skip the ids it already takes.
    while (this.#keys.has(`master-${next}`)) next++;
    const key = writeDirKey(this.#dir, next);
    this.#keys.set(key.id, key);
    this.#primary = key;
    return key.id;
  }

  #key(id: string | undefined): MasterKey {
    const key = id === undefined ? this.#primary : this.#keys.get(id);
    if (!key) throw new GatehouseError('GH_CRYPTO_KEY_UNKNOWN', undefined, { detail: 'unknown master key' });
    return key;
  }

  async encrypt(plaintext: Uint8Array, context: CryptoContext, keyId?: string): Promise<WrapResult> {
    const key = this.#key(keyId);
    return { ciphertext: sealMessage(key, plaintext, wrapAad(context)), keyId: key.id };
  }

  async decrypt(ciphertext: Uint8Array, context: CryptoContext): Promise<{ plaintext: Buffer; keyId: string }> {
    const keyId = parseMessageHeader(ciphertext).keyId;
    return { plaintext: openMessage(this.#key(keyId), ciphertext, wrapAad(context)), keyId };
  }

  async generateDataKey(context: CryptoContext, keyId?: string, bytes = 32): Promise<{ plaintext: Buffer } & WrapResult> {
    if (!Number.isInteger(bytes) || bytes < 16 || bytes > 64) throw new RangeError('a data key is 16 to 64 bytes');
    const plaintext = secureRandom(bytes);
    return { plaintext, ...(await this.encrypt(plaintext, context, keyId)) };
  }

  async stateMacKey(context: CryptoContext, keyId?: string): Promise<{ key: Buffer; keyId: string }> {
    const master = this.#key(keyId);
    const info = Buffer.concat([MAC_INFO, encodeContext({ ...context, gh_purpose: 'state-mac' })]);
    return { key: hkdfSha256(master.material, Buffer.alloc(0), info, 32), keyId: master.id };
  }

  async rewrap(ciphertext: Uint8Array, context: CryptoContext, toKeyId?: string): Promise<WrapResult & { changed: boolean }> {
    const target = this.#key(toKeyId);
    const { plaintext, keyId } = await this.decrypt(ciphertext, context);
    try {
      if (keyId === target.id) return { ciphertext: Buffer.from(ciphertext), keyId, changed: false };
      return { ...(await this.encrypt(plaintext, context, target.id)), changed: true };
    } finally {
      plaintext.fill(0);
    }
  }
}

function writeDirKey(dir: string, version: number): MasterKey {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const material = generateKey();
  writeKeyFile(join(dir, `master-${version}.key`), material);
  return { id: `master-${version}`, algorithm: 'aes-256-gcm', material, version, source: 'dir' };
}
