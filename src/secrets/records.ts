/**
 * The shapes the secrets store keeps, checked on every read: the store file is outside our process, and a record
 * edited by hand or by an attacker must fail as GH_SECRETS_CORRUPT, never as a TypeError or a wrong value.
 */
import { GatehouseError } from '../core/errors.js';
import type { MasterKdf } from './master.js';

export interface RootRecord {
  nonce: string;
  ct: string;
  created_at: number;
  retired_at?: number;
}

export interface MetaRecord {
  v: 1;
  kdf: MasterKdf;
  /** masterCheck(master key): tells a wrong key from a damaged store. */
  check: string;
  /** Root keys by generation, each wrapped under the master key. */
  roots: Record<number, RootRecord>;
  current: number;
  created_at: number;
  rotated_at?: number;
}

export interface VersionRecord {
  version: number;
  /** The root generation it was sealed under. */
  gen: number;
  nonce: string;
  ct: string;
  created_at: number;
  created_by?: string;
}

export interface SecretRecord {
  v: 1;
  owner: string;
  name: string;
  description?: string;
  created_at: number;
  updated_at: number;
  next_version: number;
  versions: VersionRecord[];
}

export const corrupt = (detail: string, cause?: unknown): GatehouseError =>
  new GatehouseError('GH_SECRETS_CORRUPT', undefined, { detail, ...(cause === undefined ? {} : { cause }) });

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isB64 = (v: unknown): v is string => typeof v === 'string' && v.length <= 1_000_000 && /^[A-Za-z0-9+/]*={0,2}$/.test(v);

/**
 * The iterations a store may name: at most what `secrets.kdf_iterations` accepts. A larger count written into `_meta`
 * would hold every open for hours (2^31-1), or make node:crypto throw a RangeError past 2^31 instead of
 * GH_SECRETS_CORRUPT. A smaller one needs no bound: the derived key would not match the key check.
 */
const MAX_KDF_ITERATIONS = 10_000_000;

function isKdf(v: unknown): v is MasterKdf {
  if (!isObj(v)) return false;
  if (v['alg'] === 'none') return true;
  return v['alg'] === 'pbkdf2-sha256' && isB64(v['salt']) && (v['salt'] as string).length <= 1024 && isInt(v['iterations']) && (v['iterations'] as number) >= 1 && (v['iterations'] as number) <= MAX_KDF_ITERATIONS;
}

/** The `_meta` record, or undefined when absent. */
export function parseMeta(raw: unknown): MetaRecord | undefined {
  if (raw === undefined) return undefined;
  if (!isObj(raw) || raw['v'] !== 1 || !isKdf(raw['kdf']) || typeof raw['check'] !== 'string' || !isInt(raw['current']) || !isObj(raw['roots'])) throw corrupt('_meta is malformed');
  const roots = raw['roots'];
  for (const [gen, r] of Object.entries(roots)) {
    if (!/^[1-9][0-9]{0,8}$/.test(gen) || !isObj(r) || !isB64(r['nonce']) || !isB64(r['ct']) || !isInt(r['created_at'])) throw corrupt('_meta holds a malformed root');
  }
  const current = roots[String(raw['current'])];
  if (!isObj(current)) throw corrupt('_meta names a current root it does not hold');
  // rekey always makes the new generation the newest and current, and retires the others. `current` is not sealed
  // under the master key: pointed back at an older root (one a leaked master key and an old backup reveal, still kept
  // until pruned), every later value would be sealed under a key the attacker holds. Refused instead.
  if (current['retired_at'] !== undefined || Object.keys(roots).some((g) => Number(g) > (raw['current'] as number))) {
    throw corrupt('_meta names as current a root that is retired or not the newest');
  }
  return raw as unknown as MetaRecord;
}

/** A secret's record, checked to be the one stored under owner/name. */
export function parseRecord(raw: unknown, owner: string, name: string): SecretRecord {
  if (!isObj(raw) || raw['v'] !== 1 || raw['owner'] !== owner || raw['name'] !== name || !isInt(raw['next_version']) || !Array.isArray(raw['versions'])) {
    throw corrupt(`${owner}/${name} is malformed or was moved`);
  }
  const versions = raw['versions'] as unknown[];
  if (versions.length === 0) throw corrupt(`${owner}/${name} holds no version`);
  for (const v of versions) {
    if (!isObj(v) || !isInt(v['version']) || !isInt(v['gen']) || !isB64(v['nonce']) || !isB64(v['ct']) || !isInt(v['created_at'])) throw corrupt(`${owner}/${name} holds a malformed version`);
  }
  return raw as unknown as SecretRecord;
}
