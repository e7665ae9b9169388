/**
 * Key material from files and environment variables (seed 000: `key_file`, `key_env`, `openssl rand -hex 32`).
 *
 * A key is 32 bytes written as hex (64 digits), base64 or base64url (43–44 characters), or 32 raw bytes; surrounding
 * whitespace (the trailing newline `openssl rand -hex 32 >` writes) is ignored. Key files are written 0600 and a key file
 * that group or others may access is refused (seed 004: "600 or 400"). No error ever contains key bytes.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fchmodSync, fstatSync, mkdirSync, openSync, readSync, writeSync, constants } from 'node:fs';
import { dirname } from 'node:path';
import { createFileOnce } from '../core/files.js';
import { GatehouseError } from '../core/errors.js';
import { KEY_BYTES } from './aead.js';
import { ENV_NAME_RE } from '../core/ids.js';

const MAX_KEY_FILE_BYTES = 4096;
const HEX_RE = /^[0-9a-fA-F]{64}$/;
const B64_RE = /^[A-Za-z0-9+/_-]{43}={0,1}$/;

const invalid = (detail: string): GatehouseError =>
  new GatehouseError('GH_CRYPTO_KEY_INVALID', `The key is invalid: ${detail}.`, { detail });

/** Parses key text or bytes into 32 bytes of key material. Throws GH_CRYPTO_KEY_INVALID (secret-free). */
export function parseKeyMaterial(input: string | Uint8Array): Buffer {
  if (typeof input !== 'string') {
    const bytes = Buffer.from(input.buffer, input.byteOffset, input.length);
    if (bytes.length === KEY_BYTES && !isText(bytes)) return Buffer.from(bytes);
    return parseKeyMaterial(bytes.toString('latin1'));
  }
  const text = input.trim();
  if (HEX_RE.test(text)) return Buffer.from(text, 'hex');
  if (B64_RE.test(text)) {
    const key = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length === KEY_BYTES) return key;
  }
  throw invalid(`expected ${KEY_BYTES} bytes as 64 hex digits or base64 (for example from \`openssl rand -hex 32\`)`);
}

function isText(bytes: Buffer): boolean {
  for (const b of bytes) if (b < 0x20 || b > 0x7e) return false;
  return true;
}

/** Refuses a file group or others may read or write (mode & 077), as ssh does for private keys. */
export function checkKeyFileMode(path: string, mode: number): void {
  if (process.platform === 'win32') return;
  const loose = mode & 0o077;
  if (loose !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(4, '0');
    throw new GatehouseError(
      'GH_KEY_FILE_PERMISSIONS',
      `Key file ${path} is accessible by other users (mode ${octal}); run: chmod 600 ${path}`,
      { detail: `mode ${octal}`, data: { path } },
    );
  }
}

/**
 * Reads a key file: checks its permissions first, reads at most 4 KiB, parses it. A path that cannot be opened is not
 * repeated: it may be the key itself, given where its file's name was expected (`--key-file "$KEY"`).
 */
export function readKeyFile(path: string): Buffer {
  let fd: number;
  try {
    // Symbolic links are followed (Kubernetes mounts secrets through them); the mode checked is the target's.
    fd = openSync(path, constants.O_RDONLY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw invalid(`the key file ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? 'error'})`} (its name is not repeated: it could be a key given in its place)`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw invalid(`key file ${path} is not a regular file`);
    checkKeyFileMode(path, st.mode);
    if (st.size > MAX_KEY_FILE_BYTES) throw invalid(`key file ${path} is larger than ${MAX_KEY_FILE_BYTES} bytes`);
    const buf = Buffer.alloc(Math.max(1, st.size));
    const n = readSync(fd, buf, 0, buf.length, 0);
    try {
      return parseKeyMaterial(buf.subarray(0, n));
    } finally {
      buf.fill(0);
    }
  } finally {
    closeSync(fd);
  }
}

/** What an environment variable's name may be (POSIX portable names, bounded). */

/** A key's spelling (64 hex digits, or 43 base64 characters mixing case and digits, as no variable name does). */
const keyShaped = (text: string): boolean => HEX_RE.test(text) || (B64_RE.test(text) && /[a-z]/.test(text) && /[0-9]/.test(text));

/**
 * Reads a key from the environment variable `name` (hex or base64). A name that is not one, or that is spelt like a
 * key, is never repeated: it is most likely the key itself, passed where its variable's name was expected
 * (`--key-env "$KEY"`).
 */
export function readKeyEnv(env: NodeJS.ProcessEnv, name: string): Buffer {
  if (!ENV_NAME_RE.test(name)) throw invalid(ENV_NAME_INVALID);
  const value = env[name];
  if (value === undefined || value === '') throw invalid(envVarUnset(name));
  return parseKeyMaterial(value);
}

/** The message for a value given as an environment variable's name that is none (it is not repeated). */
export const ENV_NAME_INVALID = 'the environment variable name given is not a name (letters, digits and _, not starting with a digit; it is not repeated, as it could be the key itself): give the variable\'s name, not its value';

/** "environment variable NAME is not set", without the name when it is spelt like a key. */
export function envVarUnset(name: string): string {
  return ENV_NAME_RE.test(name) && !keyShaped(name)
    ? `environment variable ${name} is not set`
    : 'the environment variable named is not set, and its name is spelt like a key (not repeated here): give the variable\'s name, not its value';
}

/**
 * Writes key material as hex and a newline to a new file with mode 0600. Refuses to overwrite unless `overwrite`;
 * the mode is set on the descriptor too, so a permissive umask cannot widen it.
 */
export function writeKeyFile(path: string, material: Uint8Array, opts: { overwrite?: boolean } = {}): void {
  if (material.length !== KEY_BYTES) throw new TypeError(`a key is ${KEY_BYTES} bytes`);
  const flags = constants.O_WRONLY | constants.O_CREAT | (opts.overwrite ? constants.O_TRUNC : constants.O_EXCL) | (constants.O_NOFOLLOW ?? 0);
  let fd: number;
  try {
    fd = openSync(path, flags, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw invalid(`cannot write key file ${path}${code === 'EEXIST' ? ': it already exists' : code ? ` (${code})` : ''}`);
  }
  try {
    fchmodSync(fd, 0o600);
    const text = Buffer.from(Buffer.from(material).toString('hex') + '\n', 'latin1');
    writeSync(fd, text);
    text.fill(0);
  } finally {
    closeSync(fd);
  }
}

/**
 * A key the gateway generates for itself in its state directory (MCP session binding, approval digests): read when
 * the file exists, else 32 random bytes written as hex under the final name at once (createFileOnce), so processes
 * starting together — workers — all read the one that got its name first. Then read like any key file (mode 0600).
 */
export function loadOrCreateKeyFile(path: string): Buffer {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const key = randomBytes(KEY_BYTES);
    createFileOnce(path, `${key.toString('hex')}\n`, 0o600);
    key.fill(0);
  }
  return readKeyFile(path);
}
