/**
 * The secrets master key (seed 003: "Generate and secure master key … set via SECRETS_MASTER_KEY"; "Backup master key
 * securely — loss of master key means all encrypted secrets are unrecoverable").
 *
 * Sources, first that applies: secrets.master_key_file, the environment variable secrets.master_key_env, and in
 * development only a key generated once into <state_dir>/keys/secrets-master.key (0600). Production never generates
 * one, nor uses one generated earlier: a key beside the store it protects protects nothing against whoever copies the
 * state directory.
 *
 * With master_key_kdf: none (default) the key is 32 random bytes; with pbkdf2-sha256 it is a passphrase, stretched
 * with PBKDF2-SHA256 under a random salt the store keeps (seed 003), since a passphrase has far less than 256 bits.
 */
import { createHmac, pbkdf2 } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GatehouseError } from '../core/errors.js';
import { BoundedReadError, readFileBounded } from '../core/files.js';
import type { SecretsConfig } from '../config/index.js';
import { checkKeyFileMode, generateKey, parseKeyMaterial, readKeyFile, writeKeyFile } from '../crypto/index.js';

const pbkdf2Async = promisify(pbkdf2);
const MIN_PASSPHRASE = 16;
const MAX_PASSPHRASE_FILE = 4096;
const CHECK_LABEL = 'gatehouse/secrets/v1/master-check';

export type MasterKdf = { alg: 'none' } | { alg: 'pbkdf2-sha256'; salt: string; iterations: number };

/** Where the master key came from and its material: the key itself (kdf none) or the passphrase (pbkdf2-sha256). */
export interface MasterKeySource {
  readonly material: Buffer;
  readonly kdf: 'none' | 'pbkdf2-sha256';
  readonly source: 'file' | 'env' | 'generated';
  /** The file path or the variable's name, for messages (never the value). */
  readonly origin: string;
}

export interface MasterKeyOptions {
  env?: NodeJS.ProcessEnv;
  stateDir: string;
  profile: 'development' | 'production';
}

/** The generated development key's path. */
export const generatedMasterKeyPath = (stateDir: string): string => join(stateDir, 'keys', 'secrets-master.key');

const missing = (detail: string): GatehouseError => new GatehouseError('GH_SECRETS_MASTER_KEY_MISSING', `The secrets master key is not configured: ${detail}.`, { detail });

/** Reads the master key from the first source that applies (see the module comment). */
export function loadMasterKey(cfg: SecretsConfig, opts: MasterKeyOptions): MasterKeySource {
  const env = opts.env ?? process.env;
  const kdf = cfg.master_key_kdf;
  if (cfg.master_key_file !== undefined) {
    const material = kdf === 'none' ? readKeyFile(cfg.master_key_file) : readPassphraseFile(cfg.master_key_file);
    return { material, kdf, source: 'file', origin: cfg.master_key_file };
  }
  const value = env[cfg.master_key_env];
  if (value !== undefined && value !== '') {
    const material = kdf === 'none' ? parseKeyMaterial(value) : passphrase(Buffer.from(value.trim(), 'utf8'), `environment variable ${cfg.master_key_env}`);
    return { material, kdf, source: 'env', origin: cfg.master_key_env };
  }
  if (kdf !== 'none') throw missing(`master_key_kdf is ${kdf} but neither secrets.master_key_file nor ${cfg.master_key_env} holds a passphrase`);
  const path = generatedMasterKeyPath(opts.stateDir);
  // Production neither generates nor uses a key beside the store: one generated earlier (the state directory first
  // used in development) would travel with every copy of the state directory, and open everything in it.
  if (opts.profile === 'production') {
    throw missing(exists(path)
      ? `set ${cfg.master_key_env} or secrets.master_key_file; production does not use the development key ${path} beside the store (move it out of the state directory and point secrets.master_key_file at it)`
      : `set ${cfg.master_key_env} or secrets.master_key_file (production never generates a master key beside the store)`);
  }
  if (exists(path)) return { material: readKeyFile(path), kdf, source: 'generated', origin: path };
  mkdirSync(join(opts.stateDir, 'keys'), { recursive: true, mode: 0o700 });
  const key = generateKey();
  try {
    writeKeyFile(path, key);
  } catch (e) {
    // Another process generated it first (O_EXCL): use theirs, or both would seal under different keys.
    if (!exists(path)) throw e;
    key.fill(0);
    return { material: readKeyFile(path), kdf, source: 'generated', origin: path };
  }
  return { material: key, kdf, source: 'generated', origin: path };
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function readPassphraseFile(path: string): Buffer {
  let raw: Buffer;
  try {
    raw = readFileBounded(path, MAX_PASSPHRASE_FILE);
  } catch (e) {
    const why = e instanceof BoundedReadError ? e.message : (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw new GatehouseError('GH_CRYPTO_KEY_INVALID', `The passphrase file ${path} ${why}.`);
  }
  checkKeyFileMode(path, statSync(path).mode);
  const text = Buffer.from(raw.toString('utf8').trim(), 'utf8');
  raw.fill(0);
  return passphrase(text, `passphrase file ${path}`);
}

function passphrase(bytes: Buffer, where: string): Buffer {
  if ([...bytes.toString('utf8')].length < MIN_PASSPHRASE) {
    bytes.fill(0);
    throw new GatehouseError('GH_CRYPTO_KEY_INVALID', `The ${where} holds a passphrase shorter than ${MIN_PASSPHRASE} characters.`);
  }
  return bytes;
}

/** The 32-byte key the store seals its root keys with: the material itself, or PBKDF2-SHA256 over the passphrase. */
export async function deriveMasterKey(src: MasterKeySource, kdf: MasterKdf): Promise<Buffer> {
  if (kdf.alg === 'none') return Buffer.from(src.material);
  return pbkdf2Async(src.material, Buffer.from(kdf.salt, 'base64'), kdf.iterations, 32, 'sha256');
}

/**
 * A key check value: HMAC-SHA256 of a fixed label under the master key. It tells a wrong master key from a damaged
 * store without decrypting anything, and reveals nothing of the key (HMAC is a PRF).
 */
export function masterCheck(key: Uint8Array): string {
  return createHmac('sha256', key).update(CHECK_LABEL).digest('base64');
}
