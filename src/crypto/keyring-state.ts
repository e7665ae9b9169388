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
  /** Sealed rings: incremented by every write, so a process refuses a state older than one it read (a rollback). */
  generation?: number;
  /** Sealed rings: HMAC-SHA256 of everything above (stateMacInput) under a key the KMS derives from a master key. */
  mac?: { key_id: string; tag: string };
}

export const emptyRing = (): RingState => ({ primary_id: '', min_decryption_version: 1, next_version: 1, keys: [] });

const STATE_MAC_LABEL = 'gatehouse/keyring-state/v1';

/**
 * What a sealed ring's MAC covers: the ring's name and every field of its state but the MAC itself, in a fixed order
 * (JSON arrays, so no key order or missing field is ambiguous). Wrapped keys are covered too, though their wrap
 * already binds the ring and key id.
 */
export function stateMacInput(ring: string, s: RingState): Buffer {
  const keys = s.keys.map((k) => [k.id, k.version, k.algorithm, k.status, k.source, k.created_at, k.retired_at ?? null, k.encryptions, k.kcv, k.wrapped ?? null]);
  return Buffer.from(JSON.stringify([STATE_MAC_LABEL, ring, s.primary_id, s.min_decryption_version, s.next_version, s.generation ?? 0, keys]), 'utf8');
}

export function stateTag(macKey: Uint8Array, ring: string, s: RingState): string {
  return createHmac('sha256', macKey).update(stateMacInput(ring, s)).digest('base64');
}

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
