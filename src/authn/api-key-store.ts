import { randomBytes } from 'node:crypto';
import type { StateStore } from '../core/store.js';
import type { Logger } from '../core/types.js';
import { GatehouseError } from '../core/errors.js';
import { hashSecret, isBcryptHash, isSupportedHash } from './passwords.js';
import { registerAuthSecret } from './secret-registry.js';
import { validateTenant } from './scopes.js';

/**
 * API keys (issue 3): `gh_<id>_<secret>`. Only a hash is stored (argon2id; bcrypt for imported keys), looked up by
 * the id. Records live in the state store under `authn.apikeys`, shared by every gateway and the CLI.
 */
export const NS_API_KEYS = 'authn.apikeys';
export const API_KEY_PREFIX = 'gh_';

export interface ApiKeyRecord {
  id: string;
  name: string;
  hash: string;
  scopes: string[];
  tenant?: string;
  type: 'agent' | 'user' | 'service';
  created_at: number;
  expires_at?: number;
  revoked_at?: number;
}

export type ApiKeyInfo = Omit<ApiKeyRecord, 'hash'>;

const ID_RE = /^[A-Za-z0-9]{16}$/;
// The secret part: 43 base64url characters for generated keys; imported keys may use other printable characters.
const KEY_RE = /^gh_([A-Za-z0-9]{16})_([\x21-\x7e]{8,256})$/;
const NAME_RE = /^[A-Za-z0-9._@:-]{1,128}$/;
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function isApiKeyShaped(value: string): boolean {
  return value.startsWith(API_KEY_PREFIX);
}

/** Splits a presented key; undefined when it is not a well-formed Gatehouse API key. Bounded before matching. */
export function parseApiKey(value: string): { id: string; secret: string } | undefined {
  if (value.length > 300) return undefined;
  const m = KEY_RE.exec(value);
  return m ? { id: m[1] as string, secret: m[2] as string } : undefined;
}

function newKeyId(): string {
  // 16 characters from 62 by rejection sampling: no modulo bias, ~95 bits.
  let id = '';
  while (id.length < 16) for (const b of randomBytes(32)) if (b < 248 && id.length < 16) id += ALNUM[b % 62];
  return id;
}

export interface CreateApiKeyOptions {
  name: string;
  scopes: string[];
  tenant?: string;
  type?: ApiKeyRecord['type'];
  expiresAt?: number;
  now: number;
}

/** Creates a key and returns it once; only its hash is stored. */
export async function createApiKey(store: StateStore, opts: CreateApiKeyOptions): Promise<{ key: string; record: ApiKeyInfo }> {
  if (!NAME_RE.test(opts.name)) throw new GatehouseError('GH_USAGE', 'A key name is letters, digits and ._@:- (at most 128).');
  // The same tenant names as tokens and users: a tenant the policy can never name would bind the key to nothing.
  if (opts.tenant !== undefined) validateTenant(opts.tenant);
  const id = newKeyId();
  const secret = randomBytes(32).toString('base64url');
  const key = `${API_KEY_PREFIX}${id}_${secret}`;
  registerAuthSecret(key);
  const record: ApiKeyRecord = { id, name: opts.name, hash: await hashSecret(secret), scopes: opts.scopes, type: opts.type ?? 'service', created_at: opts.now };
  if (opts.tenant !== undefined) record.tenant = opts.tenant;
  if (opts.expiresAt !== undefined) record.expires_at = opts.expiresAt;
  if (!(await store.putIfAbsent(NS_API_KEYS, id, record))) throw new GatehouseError('GH_INTERNAL', 'API key id collision; try again.');
  return { key, record: withoutHash(record) };
}

/**
 * Imports a key hashed elsewhere (seed 002's `api_key_hash: "$2b$12$…"`). The holder then presents
 * `gh_<id>_<their secret>`; the returned id is what goes between the underscores.
 */
export async function importApiKey(store: StateStore, opts: Omit<CreateApiKeyOptions, 'expiresAt'> & { hash: string }): Promise<ApiKeyInfo> {
  if (!NAME_RE.test(opts.name)) throw new GatehouseError('GH_USAGE', 'A key name is letters, digits and ._@:- (at most 128).');
  if (!isSupportedHash(opts.hash)) throw new GatehouseError('GH_USAGE', 'The hash must be argon2id or bcrypt ($2b$).');
  if (opts.tenant !== undefined) validateTenant(opts.tenant);
  const record: ApiKeyRecord = { id: newKeyId(), name: opts.name, hash: opts.hash, scopes: opts.scopes, type: opts.type ?? 'service', created_at: opts.now };
  if (opts.tenant !== undefined) record.tenant = opts.tenant;
  await store.put(NS_API_KEYS, record.id, record);
  return withoutHash(record);
}

export function withoutHash(r: ApiKeyRecord): ApiKeyInfo {
  const { hash: _hash, ...info } = r;
  return info;
}

export async function getApiKey(store: StateStore, id: string): Promise<ApiKeyRecord | undefined> {
  return ID_RE.test(id) ? store.get<ApiKeyRecord>(NS_API_KEYS, id) : undefined;
}

export async function listApiKeys(store: StateStore): Promise<ApiKeyInfo[]> {
  return (await store.list<ApiKeyRecord>(NS_API_KEYS)).map((e) => withoutHash(e.value)).sort((a, b) => a.name.localeCompare(b.name) || a.created_at - b.created_at);
}

/**
 * Whether the store holds a live API key with a bcrypt hash: read once at start (bcrypt-admission.ts). Revoked and
 * expired ones are verified too when presented, but are left out here, so that re-issuing the imported keys turns the
 * check off at the next start; one presented is met then. Unreadable: false, logged — noticed when first met.
 */
export async function apiKeysHoldBcrypt(store: StateStore, now: number, logger: Logger): Promise<boolean> {
  const live = (r: ApiKeyRecord): boolean => r.revoked_at === undefined && (r.expires_at === undefined || r.expires_at > now);
  try {
    return (await store.list<ApiKeyRecord>(NS_API_KEYS)).some((e) => typeof e.value?.hash === 'string' && isBcryptHash(e.value.hash) && live(e.value));
  } catch {
    logger.warn({ event: 'authn.api_keys_unreadable' }, 'the API keys could not be read at start; a bcrypt key will be noticed when first presented');
    return false;
  }
}

/** Resolves `apikey revoke ID|NAME|KEY` to a key id. */
export async function resolveApiKeyId(store: StateStore, ref: string): Promise<string | undefined> {
  const parsed = parseApiKey(ref);
  if (parsed) return parsed.id;
  if (ID_RE.test(ref) && (await store.get(NS_API_KEYS, ref)) !== undefined) return ref;
  const byName = (await listApiKeys(store)).filter((k) => k.name === ref && k.revoked_at === undefined);
  if (byName.length > 1) throw new GatehouseError('GH_USAGE', 'Several active keys have this name; give the key id.');
  return byName[0]?.id;
}

/** Marks a key revoked (kept for the record); every gateway drops it from its cache on the change feed. */
export async function revokeApiKey(store: StateStore, id: string, now: number): Promise<boolean> {
  let found = false;
  await store.update<ApiKeyRecord>(NS_API_KEYS, id, (cur) => {
    if (cur === undefined) return undefined;
    found = true;
    return cur.revoked_at === undefined ? { ...cur, revoked_at: now } : cur;
  });
  return found;
}
