/**
 * Keys of the audit trail: the Ed25519 checkpoint signing key and the HMAC key for hashed argument values.
 * Key material never appears in an error message or a log line.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { GatehouseError } from '../core/errors.js';
import { createFileOnce } from '../core/files.js';

export const SIGNING_KEY_FILE = 'audit-signing.key';
export const PUBLIC_KEY_FILE = 'audit-signing.pub';
export const HMAC_KEY_FILE = 'audit-hmac.key';

/** Short identifier of a public key: the first 16 hex digits of SHA-256 over its raw 32 bytes. */
export function keyId(publicKey: KeyObject): string {
  const raw = publicKey.export({ format: 'jwk' }).x as string;
  return createHash('sha256').update(Buffer.from(raw, 'base64url')).digest('hex').slice(0, 16);
}

function keyError(detail: string, cause?: unknown): GatehouseError {
  return new GatehouseError('GH_CRYPTO_KEY_INVALID', 'The audit signing key is invalid.', { detail, cause });
}

/** Parses an Ed25519 private key from PEM. */
export function parsePrivateKey(pem: string, source: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw keyError(`${source} is not a PEM private key`, e);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw keyError(`${source} is not an Ed25519 key`);
  return key;
}

/** Parses an Ed25519 public key: SPKI PEM, or a PKCS#8 private key PEM (its public half is taken). */
export function parsePublicKey(pem: string, source: string): KeyObject {
  let key: KeyObject;
  try {
    key = pem.includes('PRIVATE KEY') ? createPublicKey(createPrivateKey(pem)) : createPublicKey(pem);
  } catch (e) {
    throw keyError(`${source} is not a PEM public key`, e);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw keyError(`${source} is not an Ed25519 key`);
  return key;
}

/** Refuses a private key file other users can read (fail closed: a readable signing key signs forgeries). */
function checkPrivateFile(path: string): void {
  const st = statSync(path);
  if ((st.mode & 0o077) !== 0) {
    throw new GatehouseError('GH_KEY_FILE_PERMISSIONS', undefined, { detail: `${path} is readable by group or others: chmod 600 it` });
  }
}

export interface KeyPairFiles {
  privateKeyFile: string;
  publicKeyFile: string;
  keyId: string;
}

/**
 * `gatehouse audit keygen`: writes a new Ed25519 key pair, the private half 0600. Never overwrites: a second keygen
 * must not replace the key old checkpoints were signed with (GH_KEY_EXISTS), and of two processes generating the
 * default key on a first start one wins and the other reads its key (loadSigningKey).
 */
export function writeKeyPair(dir: string, names = { private: SIGNING_KEY_FILE, public: PUBLIC_KEY_FILE }): KeyPairFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const privateKeyFile = join(dir, names.private);
  const publicKeyFile = join(dir, names.public);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  if (!createFileOnce(privateKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), 0o600)) {
    throw new GatehouseError('GH_KEY_EXISTS', undefined, { detail: `${privateKeyFile} exists: it is not replaced` });
  }
  // The public half is a copy of what the private file now holds: replaced if a crash left an old one behind.
  const pub = publicKey.export({ type: 'spki', format: 'pem' });
  if (!createFileOnce(publicKeyFile, pub, 0o644)) writeFileSync(publicKeyFile, pub, { mode: 0o644 });
  return { privateKeyFile, publicKeyFile, keyId: keyId(publicKey) };
}

export interface SigningKeyOptions {
  privateKeyFile?: string | undefined;
  privateKeyEnv?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Where the default key lives (and is generated on first start). */
  stateDir: string;
}

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keyId: string;
}

/** The checkpoint key: from the env variable, else the file, else <state_dir>/audit-signing.key (generated once). */
export function loadSigningKey(opts: SigningKeyOptions): SigningKey {
  const env = opts.env ?? process.env;
  let privateKey: KeyObject;
  if (opts.privateKeyEnv) {
    const pem = env[opts.privateKeyEnv];
    if (!pem) throw keyError(`environment variable ${opts.privateKeyEnv} is not set`);
    privateKey = parsePrivateKey(pem, `environment variable ${opts.privateKeyEnv}`);
  } else {
    let file = opts.privateKeyFile;
    if (!file) {
      file = join(opts.stateDir, SIGNING_KEY_FILE);
      if (!existsSync(file)) {
        try {
          writeKeyPair(opts.stateDir);
        } catch (e) {
          // Another process (a second worker, a CLI command) generated it first: use theirs.
          if (!(e instanceof GatehouseError && e.code === 'GH_KEY_EXISTS')) throw e;
        }
      }
    }
    checkPrivateFile(file);
    privateKey = parsePrivateKey(readFileSync(file, 'utf8'), file);
  }
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, keyId: keyId(publicKey) };
}

/**
 * The signing private key when this process can read it, for checking the head note's MAC in `audit verify`;
 * undefined when it is not configured, missing or unreadable (never generated here, unlike loadSigningKey).
 */
export function readSigningKeyIfPresent(opts: SigningKeyOptions): KeyObject | undefined {
  const env = opts.env ?? process.env;
  try {
    if (opts.privateKeyEnv) return env[opts.privateKeyEnv] ? parsePrivateKey(env[opts.privateKeyEnv] as string, `environment variable ${opts.privateKeyEnv}`) : undefined;
    const file = opts.privateKeyFile ?? join(opts.stateDir, SIGNING_KEY_FILE);
    if (!existsSync(file)) return undefined;
    checkPrivateFile(file);
    return parsePrivateKey(readFileSync(file, 'utf8'), file);
  } catch {
    return undefined;
  }
}

/**
 * The public key `audit verify` uses by default: public_key_file, else the public half of the configured private key
 * (or of <state_dir>/audit-signing.key; its .pub only when the key cannot be read, say by another user).
 */
export function loadVerifyKey(opts: SigningKeyOptions & { publicKeyFile?: string | undefined }): KeyObject | undefined {
  if (opts.publicKeyFile) return parsePublicKey(readFileSync(opts.publicKeyFile, 'utf8'), opts.publicKeyFile);
  const env = opts.env ?? process.env;
  if (opts.privateKeyEnv && env[opts.privateKeyEnv]) return parsePublicKey(env[opts.privateKeyEnv] as string, `environment variable ${opts.privateKeyEnv}`);
  if (opts.privateKeyFile) return existsSync(opts.privateKeyFile) ? parsePublicKey(readFileSync(opts.privateKeyFile, 'utf8'), opts.privateKeyFile) : undefined;
  // The signing key itself when this user can read it (docs/audit.md: "public half of the private key"): the .pub
  // beside it is a world-readable copy that anyone able to write the state directory could swap for their own key,
  // and a history they re-signed would then verify.
  const signing = join(opts.stateDir, SIGNING_KEY_FILE);
  let pem: string | undefined;
  try {
    pem = readFileSync(signing, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'EACCES') throw e;
  }
  if (pem !== undefined) return parsePublicKey(pem, signing);
  const pub = join(opts.stateDir, PUBLIC_KEY_FILE);
  return existsSync(pub) ? parsePublicKey(readFileSync(pub, 'utf8'), pub) : undefined;
}

export interface HmacKeyOptions {
  hmacKeyFile?: string | undefined;
  hmacKeyEnv?: string | undefined;
  env?: NodeJS.ProcessEnv;
  stateDir: string;
  /** Generate the default key file when missing (the writer does; `audit hash` does not). */
  create?: boolean;
}

/** The HMAC key for `hmac_keys`: env, else file, else <state_dir>/audit-hmac.key (32 random bytes, 0600). */
export function loadHmacKey(opts: HmacKeyOptions): Buffer {
  const env = opts.env ?? process.env;
  if (opts.hmacKeyEnv) {
    const v = env[opts.hmacKeyEnv];
    if (!v) throw new GatehouseError('GH_CRYPTO_KEY_INVALID', 'The audit HMAC key is not set.', { detail: `environment variable ${opts.hmacKeyEnv} is empty` });
    // The same floor as a key file: a short key lets anyone holding the log guess hidden values offline.
    if (v.length < 16) throw new GatehouseError('GH_CRYPTO_KEY_INVALID', 'The audit HMAC key is too short.', { detail: `environment variable ${opts.hmacKeyEnv} holds fewer than 16 characters` });
    return Buffer.from(v, 'utf8');
  }
  const file = opts.hmacKeyFile ?? join(opts.stateDir, HMAC_KEY_FILE);
  if (!existsSync(file)) {
    if (opts.hmacKeyFile || !opts.create) {
      throw new GatehouseError('GH_CRYPTO_KEY_INVALID', 'The audit HMAC key is missing.', { detail: `${file} does not exist` });
    }
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // Two processes starting at once keep the one key that got its name first.
    createFileOnce(file, randomBytes(32).toString('base64url') + '\n', 0o600);
  }
  checkPrivateFile(file);
  const key = readFileSync(file, 'utf8').trim();
  if (key.length < 16) throw new GatehouseError('GH_CRYPTO_KEY_INVALID', 'The audit HMAC key is too short.', { detail: `${file} holds fewer than 16 characters` });
  return Buffer.from(key, 'utf8');
}
