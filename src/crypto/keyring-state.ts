/**
 * The persisted state of a key ring (StateStore namespace `crypto.keyring`, one entry per ring) and its pure
 * transitions. Key material is never stored in clear: imported keys (file/env) keep only a key-check value, generated
 * keys are stored wrapped by the KMS provider.
 */
import { createHmac } from 'node:crypto';
import type { AeadAlgorithm } from './aead.js';

export const KEYRING_NS = 'crypto.keyring';

export type KeySource = 'file' | 'env' | 'store';
export type StoredStatus = 'active' | 'retired';

export interface StoredKey {
  id: string;
  version: number;
  algorithm: AeadAlgorithm;
  status: StoredStatus;
  source: KeySource;
  created_at: number;
  retired_at?: number;
  /** Encryptions reserved so far: an upper bound on the messages this key sealed (counted in leases). */
  encryptions: number;
  /** HMAC-SHA256(key, "gatehouse key check"), 8 bytes hex: detects a key file whose content changed under its id. */
  kcv: string;
  /** Generated keys only: the key wrapped by the KMS provider, base64. */
  wrapped?: string;
}

export interface RingState {
  primary_id: string;
  min_decryption_version: number;
  next_version: number;
  keys: StoredKey[];
}

export const emptyRing = (): RingState => ({ primary_id: '', min_decryption_version: 1, next_version: 1, keys: [] });

export function keyCheckValue(material: Uint8Array): string {
  return createHmac('sha256', material).update('gatehouse key check').digest().subarray(0, 8).toString('hex');
}

export function findKey(state: RingState, id: string): StoredKey | undefined {
  return state.keys.find((k) => k.id === id);
}

export interface ImportedKeyInfo {
  id: string;
  algorithm: AeadAlgorithm;
  source: 'file' | 'env';
  kcv: string;
}

export type ImportOutcome = { ok: true } | { ok: false; changedId: string };

/**
 * Records imported keys in the state. A key seen for the first time gets the next version and, when it is the
 * configured key, becomes primary (changing key_file + key_id is a manual rotation). A known id whose content changed
 * is refused.
 */
export function importKeys(state: RingState, keys: readonly ImportedKeyInfo[], configuredId: string | undefined, now: number): ImportOutcome {
  for (const key of keys) {
    const known = findKey(state, key.id);
    if (known) {
      if (known.kcv !== key.kcv) return { ok: false, changedId: key.id };
      continue;
    }
    state.keys.push({ id: key.id, version: state.next_version++, algorithm: key.algorithm, status: 'active', source: key.source, created_at: now, encryptions: 0, kcv: key.kcv });
    if (key.id === configuredId || state.primary_id === '') state.primary_id = key.id;
  }
  return { ok: true };
}

/** Reserves up to `want` encryptions on `id`, never beyond `max`. Returns how many were granted. */
export function reserveEncryptions(state: RingState, id: string, want: number, max: number): number {
  const key = findKey(state, id);
  if (!key) return 0;
  const grant = Math.max(0, Math.min(want, max - key.encryptions));
  key.encryptions += grant;
  return grant;
}
