import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { createFileOnce } from '../core/files.js';
import { randomId } from '../core/ids.js';
import { registerAuthSecret } from './secret-registry.js';

/**
 * Token signing keys (issue 3): each has a kid carried in the token, so the secret can rotate with an overlap —
 * the newest key signs, older keys verify until their `verify_until` passes or they are retired.
 * Stored in <state_dir>/secrets/token-keys.json (0600, directory 0700), or derived from `auth.token.secret`.
 */
export interface TokenKey {
  readonly kid: string;
  readonly secret: Buffer;
  readonly created_at: number;
  /** ms since epoch after which the key no longer verifies; undefined = until retired. */
  readonly verify_until?: number | undefined;
}

export interface TokenKeyring {
  /** The key new tokens are signed with. */
  readonly signing: TokenKey;
  /** Every key that verifies, by kid (prototype-free). */
  readonly keys: ReadonlyMap<string, TokenKey>;
  /** Where the keys come from: the state directory file, or configuration (rotation happens there). */
  readonly source: 'state' | 'config';
  /** The key file (state source only). */
  readonly path?: string;
}

interface KeyFileEntry {
  kid: string;
  secret: string;
  created_at: number;
  verify_until?: number;
}
interface KeyFile {
  version: 1;
  keys: KeyFileEntry[];
}

const KID_RE = /^[A-Za-z0-9_-]{1,32}$/;
const MAX_KEY_FILE_BYTES = 64 * 1024;

export const tokenKeyPath = (stateDir: string): string => join(stateDir, 'secrets', 'token-keys.json');

function newEntry(now: number): KeyFileEntry {
  return { kid: `k${randomId(6)}`, secret: randomBytes(32).toString('base64url'), created_at: now };
}

function toKey(e: KeyFileEntry): TokenKey {
  const secret = Buffer.from(e.secret, 'base64url');
  registerAuthSecret(e.secret, true);
  return { kid: e.kid, secret, created_at: e.created_at, verify_until: e.verify_until };
}

function parseKeyFile(text: string): KeyFile {
  const bad = () => new GatehouseError('GH_CRYPTO_KEY_INVALID', 'The token key file is invalid.');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw bad();
  }
  const file = raw as Partial<KeyFile>;
  if (file === null || typeof file !== 'object' || file.version !== 1 || !Array.isArray(file.keys) || file.keys.length === 0) throw bad();
  for (const k of file.keys) {
    if (typeof k?.kid !== 'string' || !KID_RE.test(k.kid) || typeof k.secret !== 'string' || typeof k.created_at !== 'number') throw bad();
    if (Buffer.from(k.secret, 'base64url').length < 32) throw bad();
    if (k.verify_until !== undefined && typeof k.verify_until !== 'number') throw bad();
  }
  return file as KeyFile;
}

function readKeyFile(path: string): KeyFile {
  const st = statSync(path);
  // Fail closed on a key file others can read: the secret may already be exposed (issue 3, GH_KEY_FILE_PERMISSIONS).
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new GatehouseError('GH_KEY_FILE_PERMISSIONS', 'The token key file is readable by other users; chmod 600 it.', { detail: path });
  }
  if (st.size > MAX_KEY_FILE_BYTES) throw new GatehouseError('GH_CRYPTO_KEY_INVALID', 'The token key file is too large.');
  return parseKeyFile(readFileSync(path, 'utf8'));
}

/** Atomic replace: write a 0600 temporary file beside it, then rename over. */
function writeKeyFile(path: string, file: KeyFile): void {
  const tmp = `${path}.${process.pid}.${randomId(4)}.tmp`;
  writeFileSync(tmp, JSON.stringify(file, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  renameSync(tmp, path);
}

function ensureSecretsDir(stateDir: string): void {
  const dir = join(stateDir, 'secrets');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (process.platform !== 'win32') chmodSync(dir, 0o700);
}

function keyringFromFile(file: KeyFile, path: string, now: number): TokenKeyring {
  const keys = new Map<string, TokenKey>();
  for (const e of file.keys) if (e.verify_until === undefined || e.verify_until > now) keys.set(e.kid, toKey(e));
  // The newest key signs; it never carries verify_until.
  const newest = file.keys.reduce((a, b) => (b.created_at > a.created_at ? b : a));
  const signing = keys.get(newest.kid) ?? toKey(newest);
  keys.set(signing.kid, signing);
  return { signing, keys, source: 'state', path };
}

/**
 * Loads the state directory's token keys, generating the first one on first use. Two processes starting at once
 * agree on one file: it is created exclusively, and the loser reads the winner's.
 */
export function ensureTokenSecrets(stateDir: string, opts: { clock?: Clock } = {}): TokenKeyring {
  const now = (opts.clock ?? systemClock).now();
  const path = tokenKeyPath(stateDir);
  ensureSecretsDir(stateDir);
  if (!existsSync(path)) {
    const file: KeyFile = { version: 1, keys: [newEntry(now)] };
    createFileOnce(path, JSON.stringify(file, null, 2) + '\n', 0o600);
  }
  return keyringFromFile(readKeyFile(path), path, now);
}

export interface RotationResult {
  /** The new signing key id. */
  kid: string;
  /** Keys still verifying, with their end of overlap. */
  overlapping: { kid: string; verify_until: number | undefined }[];
  /** Keys dropped from the file (overlap over, or retired now). */
  retired: string[];
}

/**
 * `gatehouse token rotate-secret`: a new key signs from now on; the previous keys verify until now + overlapMs
 * (0 retires them at once — seed 001's response to a leaked secret). Expired overlaps are pruned.
 */
export function rotateTokenSecret(stateDir: string, opts: { overlapMs: number; clock?: Clock }): RotationResult {
  if (!Number.isSafeInteger(opts.overlapMs) || opts.overlapMs < 0) throw new TypeError('overlapMs must be a non-negative integer');
  const now = (opts.clock ?? systemClock).now();
  const path = tokenKeyPath(stateDir);
  ensureTokenSecrets(stateDir, opts);
  const file = readKeyFile(path);
  const retired: string[] = [];
  const kept: KeyFileEntry[] = [];
  for (const e of file.keys) {
    const until = Math.min(e.verify_until ?? Number.POSITIVE_INFINITY, now + opts.overlapMs);
    if (until <= now) retired.push(e.kid);
    else kept.push({ ...e, verify_until: until });
  }
  // created_at strictly above every existing key, so "newest signs" holds even within one millisecond.
  const created = Math.max(now, ...file.keys.map((k) => k.created_at + 1));
  const fresh = { ...newEntry(now), created_at: created };
  writeKeyFile(path, { version: 1, keys: [...kept, fresh] });
  return { kid: fresh.kid, overlapping: kept.map((k) => ({ kid: k.kid, verify_until: k.verify_until })), retired };
}

/** Retires one key at once (it stops verifying); the signing key cannot be retired — rotate first. */
export function retireTokenKey(stateDir: string, kid: string): boolean {
  const path = tokenKeyPath(stateDir);
  const file = readKeyFile(path);
  const newest = file.keys.reduce((a, b) => (b.created_at > a.created_at ? b : a));
  if (newest.kid === kid) throw new GatehouseError('GH_USAGE', 'The signing key cannot be retired; rotate the secret first.');
  const keys = file.keys.filter((k) => k.kid !== kid);
  if (keys.length === file.keys.length) return false;
  writeKeyFile(path, { version: 1, keys });
  return true;
}

/** The key file's modification stamp, so a running gateway notices a rotation made by the CLI. */
export function keyFileStamp(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.mtimeMs}:${st.size}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** Reloads the state keyring (no generation), for a running gateway after `token rotate-secret`. */
export function reloadTokenSecrets(path: string, clock: Clock = systemClock): TokenKeyring {
  return keyringFromFile(readKeyFile(path), path, clock.now());
}

/**
 * A keyring from configuration (`auth.token.secret`, seed 001's SYSTEMMANAGER_SHARED_SECRET). The kid is derived
 * from the secret by a one-way hash, so every gateway configured with the same secret agrees on it.
 */
export function configTokenKeyring(secret: string, previous: readonly string[] = []): TokenKeyring {
  const keyFor = (s: string): TokenKey => {
    registerAuthSecret(s, true);
    const kid = 'c' + createHash('sha256').update('gatehouse token kid\0').update(s).digest('base64url').slice(0, 10);
    const secret = Buffer.from(s, 'utf8');
    return { kid, secret, created_at: 0 };
  };
  const signing = keyFor(secret);
  const keys = new Map<string, TokenKey>([[signing.kid, signing]]);
  for (const p of previous) {
    const k = keyFor(p);
    if (!keys.has(k.kid)) keys.set(k.kid, k);
  }
  return { signing, keys, source: 'config' };
}
