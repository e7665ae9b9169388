import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { GatehouseError } from '../core/errors.js';
import { isTenantId, randomId } from '../core/ids.js';
import type { PrincipalType } from '../core/types.js';
import { isSupportedHash } from './passwords.js';

/**
 * The basic method's users file (seed 003's `local` provider): `{ users: [{ name, password_hash, scopes, tenant }] }`
 * in JSON or YAML. `gatehouse user add|passwd|rm` maintain it (JSON, 0600); hashes only, never passwords.
 */
export interface UserEntry {
  name: string;
  password_hash: string;
  scopes: string[];
  tenant?: string;
  type?: PrincipalType;
}

const NAME_RE = /^[A-Za-z0-9._@+-]{1,128}$/;
const MAX_USERS_FILE_BYTES = 4 * 1024 * 1024;

export const defaultUsersFile = (stateDir: string): string => join(stateDir, 'users.json');

export function validUserName(name: string): boolean {
  return NAME_RE.test(name);
}

/** Reads and checks the users file; a missing file is an empty list. Any invalid entry fails the whole file (closed). */
export function readUsersFile(path: string): UserEntry[] {
  if (!existsSync(path)) return [];
  const st = statSync(path);
  if (st.size > MAX_USERS_FILE_BYTES) throw new GatehouseError('GH_CONFIG_INVALID', 'The users file is too large.', { detail: path });
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8'), { maxAliasCount: 10 });
  } catch {
    throw new GatehouseError('GH_CONFIG_INVALID', 'The users file is not valid JSON or YAML.', { detail: path });
  }
  if (raw === null || raw === undefined) return [];
  const users = (raw as { users?: unknown }).users;
  if (!Array.isArray(users)) throw new GatehouseError('GH_CONFIG_INVALID', 'The users file needs a "users" list.', { detail: path });
  const seen = new Set<string>();
  return users.map((u: unknown, i) => {
    const e = u as Partial<UserEntry>;
    const ok =
      e !== null && typeof e === 'object' && typeof e.name === 'string' && NAME_RE.test(e.name) && !seen.has(e.name) &&
      typeof e.password_hash === 'string' && isSupportedHash(e.password_hash) &&
      (e.scopes === undefined || (Array.isArray(e.scopes) && e.scopes.every((s) => typeof s === 'string' && /^[A-Za-z0-9_.:*-]{1,128}$/.test(s)))) &&
      (e.tenant === undefined || isTenantId(e.tenant)) &&
      (e.type === undefined || e.type === 'user' || e.type === 'agent' || e.type === 'service');
    if (!ok) throw new GatehouseError('GH_CONFIG_INVALID', `The users file's entry ${i} is invalid (name, password_hash, scopes, tenant).`, { detail: path });
    seen.add(e.name as string);
    const entry: UserEntry = { name: e.name as string, password_hash: e.password_hash as string, scopes: e.scopes ?? [] };
    if (e.tenant !== undefined) entry.tenant = e.tenant;
    if (e.type !== undefined) entry.type = e.type;
    return entry;
  });
}

export function writeUsersFile(path: string, users: readonly UserEntry[]): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomId(4)}.tmp`;
  writeFileSync(tmp, JSON.stringify({ users }, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  renameSync(tmp, path);
  if (process.platform !== 'win32') chmodSync(path, 0o600);
}

export function usersFileStamp(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.mtimeMs}:${st.size}:${st.ino}`;
  } catch {
    return undefined;
  }
}
