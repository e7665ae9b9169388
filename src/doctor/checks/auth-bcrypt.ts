/**
 * auth.bcrypt_hashes: Basic users and API keys still on imported bcrypt hashes (seed 002's `api_key_hash: "$2b$12$…"`).
 * Each verification holds one of the bcrypt worker threads for about 270 ms at cost 12, and past 16 waiting per thread
 * such credentials are refused with 429 (authn/bcrypt-pool.ts): under load, or an attacker's guesses, their holders
 * are locked out where argon2id users are not. Reads the configuration, the users file and the SQLite store's file,
 * read-only; writes nothing and contacts no server (a PostgreSQL store is not read).
 */
import Database from 'better-sqlite3';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { defaultUsersFile, NS_API_KEYS, readUsersFile } from '../../authn/index.js';
import { isBcryptHash } from '../../authn/passwords.js';
import type { CheckDefinition, DoctorContext, Finding, Outcome } from '../types.js';
import { judged, skipped, warn } from '../outcome.js';

/** A store file larger than this is not copied into memory to be read (the check says so instead). */
const MAX_STORE_BYTES = 256 * 1024 * 1024;
const COST = 'each verification holds a bcrypt worker thread (about 270 ms at cost 12), and under load they are refused with 429';

const named = (unsorted: readonly string[]): string => {
  // Sorted: the store lists keys in no fixed order, and the report must read the same from run to run.
  const names = [...unsorted].sort();
  return names.length <= 5 ? names.join(', ') : `${names.slice(0, 5).join(', ')} and ${names.length - 5} more`;
};
const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

interface StoredKey {
  name?: unknown;
  hash?: unknown;
  revoked_at?: unknown;
  expires_at?: unknown;
}

/**
 * The API key records of a SQLite store, read without writing: through a read-only connection when the store is open
 * (its -wal and -shm exist; opening one creates them otherwise), else from a copy of the file in memory (after a clean
 * close the file holds everything; its header is marked rollback-journal, since a WAL database does not open from
 * memory). Undefined when there is no store file yet.
 */
function sqliteApiKeys(path: string): StoredKey[] | undefined {
  if (!existsSync(path)) return undefined;
  let db: Database.Database;
  if (existsSync(`${path}-wal`) && existsSync(`${path}-shm`)) {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } else {
    if (statSync(path).size > MAX_STORE_BYTES) throw new RangeError('the store file is too large to read here');
    const copy = readFileSync(path);
    if (copy.length > 19) copy[18] = copy[19] = 1;
    db = new Database(copy, { readonly: true });
  }
  try {
    const rows = db.prepare<[string], { value: string }>('SELECT value FROM kv WHERE ns = ? AND value IS NOT NULL').all(NS_API_KEYS);
    return rows.map((r) => JSON.parse(r.value) as StoredKey);
  } finally {
    db.close();
  }
}

function apiKeyFindings(ctx: DoctorContext): { finding?: Finding; note: string } {
  const store = ctx.cfg.store;
  if (store.kind !== 'sqlite' || store.path === undefined) return { note: `the API keys in a ${store.kind} store are not read` };
  let keys: StoredKey[] | undefined;
  try {
    keys = sqliteApiKeys(store.path);
  } catch {
    return { note: 'the API key store could not be read (see state.permissions)' };
  }
  const bcrypt = (keys ?? []).filter((k) => typeof k.hash === 'string' && isBcryptHash(k.hash));
  // A revoked or expired key is refused (after a verification, as a live one): there is nothing left to re-issue.
  const ended = (k: StoredKey) => typeof k.revoked_at === 'number' || (typeof k.expires_at === 'number' && k.expires_at <= ctx.now);
  const live = bcrypt.filter((k) => !ended(k)).map((k) => (typeof k.name === 'string' ? k.name : '?'));
  const endedNote = bcrypt.length > live.length ? ` (and ${plural(bcrypt.length - live.length, 'revoked or expired one', 'revoked or expired ones')})` : '';
  if (live.length === 0) return { note: `no live API key has a bcrypt hash${endedNote}` };
  return { finding: warn(`the API key store holds ${plural(live.length, 'live key', 'live keys')} with a bcrypt hash (${named(live)})${endedNote}: ${COST}`), note: '' };
}

function bcryptHashes(ctx: DoctorContext): Outcome {
  const { cfg } = ctx;
  const basic = cfg.auth.methods.includes('basic');
  const apiKeys = cfg.auth.methods.includes('api_key');
  if (!basic && !apiKeys) return skipped('auth.methods includes neither basic nor api_key');
  const findings: (Finding | undefined)[] = [];
  const notes: string[] = [];
  if (basic) {
    const inConfig = cfg.auth.basic.users.filter((u) => typeof u.password_hash === 'string' && isBcryptHash(u.password_hash)).map((u) => u.name);
    if (inConfig.length > 0) findings.push(warn(`auth.basic.users holds ${plural(inConfig.length, 'user', 'users')} with a bcrypt hash (${named(inConfig)}): ${COST}`));
    const file = cfg.auth.basic.users_file ?? defaultUsersFile(cfg.state_dir);
    try {
      const inFile = readUsersFile(file).filter((u) => isBcryptHash(u.password_hash)).map((u) => u.name);
      if (inFile.length > 0) findings.push(warn(`the users file ${file} holds ${plural(inFile.length, 'user', 'users')} with a bcrypt hash (${named(inFile)}): ${COST}`));
    } catch {
      notes.push(`the users file ${file} could not be read`);
    }
    if (findings.length === 0) notes.unshift('no Basic user has a bcrypt hash');
  }
  if (apiKeys) {
    const k = apiKeyFindings(ctx);
    findings.push(k.finding);
    if (k.note) notes.push(k.note);
  }
  return judged(findings, notes.join('; ') || 'no bcrypt hash found');
}

export const bcryptHashesCheck: CheckDefinition = {
  id: 'auth.bcrypt_hashes',
  title: 'Passwords and API keys hashed with argon2id',
  source: 'seed 002 operational security (api_key_hash "$2b$12$…", imported bcrypt hashes); seed 003 "Set appropriate rate limits"',
  fix: 'Re-issue each as argon2id (hashes are not upgraded on login): `gatehouse user passwd NAME` for a users file entry; for auth.basic.users, an argon2id password_hash (or the user moved to the users file with `gatehouse user add`); for an API key, `gatehouse apikey create`, then `gatehouse apikey revoke` of the imported one.',
  inspect: bcryptHashes,
};
