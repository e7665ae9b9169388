import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { createFileOnce } from '../core/files.js';
import { FileLock } from '../core/lock.js';
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

const newestOf = (file: KeyFile): KeyFileEntry => file.keys.reduce((a, b) => (b.created_at > a.created_at ? b : a));

function keyringFromFile(file: KeyFile, path: string, now: number): TokenKeyring {
  const keys = new Map<string, TokenKey>();
  for (const e of file.keys) if (e.verify_until === undefined || e.verify_until > now) keys.set(e.kid, toKey(e));
  // The newest key signs; it never carries verify_until.
  const newest = newestOf(file);
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
  /** The key that signed until now. */
  previous: string;
  /** Keys still verifying, with their end of overlap. */
  overlapping: { kid: string; verify_until: number | undefined }[];
  /** Keys dropped from the file (overlap over, or retired now). */
  retired: string[];
}

/** How long a process waits for another's read-modify-write of the key file (each takes milliseconds). */
const KEY_LOCK_TIMEOUT_MS = 5000;

/**
 * Runs `fn` holding `<key file>.lock` (core/lock.ts: O_EXCL, owner pid, a dead owner's lock taken over), so two
 * processes rotating or retiring at once — two operators, two gateway workers — cannot lose each other's key. `fn`
 * must read the file itself, after the lock is taken. A lock held past the timeout is GH_STORE_UNAVAILABLE (503, as
 * for the users file's lock): the key file is shared state that is busy, not broken.
 */
async function withKeyFileLock<T>(path: string, timeoutMs: number, fn: () => T): Promise<T> {
  const lock = new FileLock(`${path}.lock`, undefined, (detail) => new GatehouseError('GH_STORE_UNAVAILABLE', 'The token key file is locked by another process; try again.', { detail }));
  await lock.acquire(timeoutMs);
  try {
    return fn();
  } finally {
    lock.release();
  }
}

/** The read-modify-write of a rotation, on a file read under the lock. */
function rotateFile(path: string, file: KeyFile, now: number, overlapMs: number): RotationResult {
  const previous = newestOf(file).kid;
  const retired: string[] = [];
  const kept: KeyFileEntry[] = [];
  for (const e of file.keys) {
    const until = Math.min(e.verify_until ?? Number.POSITIVE_INFINITY, now + overlapMs);
    if (until <= now) retired.push(e.kid);
    else kept.push({ ...e, verify_until: until });
  }
  // created_at strictly above every existing key, so "newest signs" holds even within one millisecond.
  const created = Math.max(now, ...file.keys.map((k) => k.created_at + 1));
  const fresh = { ...newEntry(now), created_at: created };
  writeKeyFile(path, { version: 1, keys: [...kept, fresh] });
  return { kid: fresh.kid, previous, overlapping: kept.map((k) => ({ kid: k.kid, verify_until: k.verify_until })), retired };
}

export interface RotateOptions {
  overlapMs: number;
  clock?: Clock;
  /** How long to wait for another process's change of the key file (default 5 s). */
  lockTimeoutMs?: number;
}

function checkOverlap(overlapMs: number): void {
  if (!Number.isSafeInteger(overlapMs) || overlapMs < 0) throw new TypeError('overlapMs must be a non-negative integer');
}

/**
 * `gatehouse token rotate-secret`: a new key signs from now on; the previous keys verify until now + overlapMs
 * (0 retires them at once — seed 001's response to a leaked secret). Expired overlaps are pruned. Holds the key
 * file's lock; GH_STORE_UNAVAILABLE when another process keeps it past lockTimeoutMs.
 */
export async function rotateTokenSecret(stateDir: string, opts: RotateOptions): Promise<RotationResult> {
  checkOverlap(opts.overlapMs);
  const clock = opts.clock ?? systemClock;
  const path = tokenKeyPath(stateDir);
  ensureTokenSecrets(stateDir, { clock });
  return withKeyFileLock(path, opts.lockTimeoutMs ?? KEY_LOCK_TIMEOUT_MS, () => rotateFile(path, readKeyFile(path), clock.now(), opts.overlapMs));
}

/**
 * Automatic rotation (auth.token.rotation): rotates only when the signing key was created at least `everyMs` ago,
 * judged again under the lock on a fresh read — another process (a gateway worker) may just have rotated. So
 * processes racing on one state directory make exactly one rotation. Undefined when no rotation was due.
 */
export async function rotateTokenSecretIfDue(stateDir: string, opts: RotateOptions & { everyMs: number }): Promise<RotationResult | undefined> {
  checkOverlap(opts.overlapMs);
  if (!Number.isSafeInteger(opts.everyMs) || opts.everyMs <= 0) throw new TypeError('everyMs must be a positive integer');
  const clock = opts.clock ?? systemClock;
  const path = tokenKeyPath(stateDir);
  ensureTokenSecrets(stateDir, { clock });
  const due = (file: KeyFile): boolean => newestOf(file).created_at + opts.everyMs <= clock.now();
  // Unlocked first look: the common answer (not due) costs no lock file.
  if (!due(readKeyFile(path))) return undefined;
  return withKeyFileLock(path, opts.lockTimeoutMs ?? KEY_LOCK_TIMEOUT_MS, () => {
    const file = readKeyFile(path);
    return due(file) ? rotateFile(path, file, clock.now(), opts.overlapMs) : undefined;
  });
}

/** Retires one key at once (it stops verifying); the signing key cannot be retired — rotate first. Holds the lock. */
export async function retireTokenKey(stateDir: string, kid: string, opts: { lockTimeoutMs?: number } = {}): Promise<boolean> {
  const path = tokenKeyPath(stateDir);
  // The file must exist before its lock can be placed beside it (a missing file is the error it was before).
  statSync(path);
  return withKeyFileLock(path, opts.lockTimeoutMs ?? KEY_LOCK_TIMEOUT_MS, () => {
    const file = readKeyFile(path);
    if (newestOf(file).kid === kid) throw new GatehouseError('GH_USAGE', 'The signing key cannot be retired; rotate the secret first.');
    const keys = file.keys.filter((k) => k.kid !== kid);
    if (keys.length === file.keys.length) return false;
    writeKeyFile(path, { version: 1, keys });
    return true;
  });
}

/** What `gatehouse token keys` and the doctor show of a key: never its bytes. */
export interface TokenKeyInfo {
  kid: string;
  created_at: number;
  verify_until: number | undefined;
  /** The key new tokens are signed with (the newest). */
  signing: boolean;
  /** Whether it still verifies at `now`. */
  verifying: boolean;
}

/**
 * The state directory's token keys, newest first, without generating any (undefined when there is no key file yet)
 * and without registering their secrets: nothing of a key but its id and dates leaves this function.
 */
export function listTokenKeys(stateDir: string, clock: Clock = systemClock): TokenKeyInfo[] | undefined {
  const path = tokenKeyPath(stateDir);
  if (!existsSync(path)) return undefined;
  const file = readKeyFile(path);
  const now = clock.now();
  const signing = newestOf(file).kid;
  return [...file.keys]
    .sort((a, b) => b.created_at - a.created_at)
    .map((k) => ({
      kid: k.kid,
      created_at: k.created_at,
      verify_until: k.verify_until,
      signing: k.kid === signing,
      verifying: k.kid === signing || k.verify_until === undefined || k.verify_until > now,
    }));
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
