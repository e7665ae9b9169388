/**
 * Integrity of a key ring's stored state (docs/encryption.md § Integrity of the key ring state). Whoever can write the
 * state store but holds no key material must not be able to bring a retired key back, make another key primary, lower
 * the minimum decryption version or reset the nonce counters. A sealed ring's state carries an HMAC-SHA256 under a key
 * the KMS derives (HKDF) from a master key, and a generation every write increments. An unsealed state (stored before
 * the MAC, or stripped of it) is never trusted silently where the KMS can seal: it is refused until an operator reviews
 * and seals it (`gatehouse keys seal`). Nothing inside an unsealed state can tell a genuine pre-MAC ring from a forged
 * one: its writer controls every field, keys' sources included.
 */
import { createHash } from 'node:crypto';
import { GatehouseError } from '../core/errors.js';
import { constantTimeEqual } from '../core/compare.js';
import type { CryptoContext } from './context.js';
import { findKey, stateTag, type ImportedKeyInfo, type RingState } from './keyring-state.js';

/** Wrap context of generated keys in a ring sealed by a MAC. */
export const sealedWrapContext = (ring: string, id: string): CryptoContext => ({ keyring: ring, key_id: id, ring_state: 'mac-v1' });
/** Wrap context of generated keys in rings stored before the MAC (re-wrapped by `gatehouse keys seal`). */
export const legacyWrapContext = (ring: string, id: string): CryptoContext => ({ keyring: ring, key_id: id });
/** Context of the ring's state MAC key. */
export const stateMacContext = (ring: string): CryptoContext => ({ keyring: ring });

/**
 * Signals thrown inside a store update to abort it (rolled back) and act outside: GatehouseErrors, because the stores
 * pass those through unwrapped (any other error becomes GH_STORE_UNAVAILABLE). Never reach a caller.
 */
class UpdateSignal extends GatehouseError {
  constructor(detail: string) {
    super('GH_INTERNAL', undefined, { detail });
  }
}
/** The MAC key of a master key is not fetched yet: fetched, then the update is retried. */
export class NeedMacKey extends UpdateSignal {
  constructor(readonly keyId: string) {
    super('keyring state: MAC key needed');
  }
}

export function tampered(ring: string, why: string): GatehouseError {
  return new GatehouseError(
    'GH_CRYPTO_KEY_INVALID',
    `The stored state of key ring ${ring} fails its integrity check (${why}): it was changed outside Gatehouse. Refusing to use it; restore the state store from a backup.`,
    { detail: 'keyring state integrity' },
  );
}

/** The command an operator runs to review and seal a ring stored before the MAC. */
export const sealCommand = (ring: string): string => `gatehouse keys seal --keyring ${ring}`;

/** An unsealed state where the KMS can seal: refused, naming the one-time review. */
export function unsealed(ring: string): GatehouseError {
  return new GatehouseError(
    'GH_CRYPTO_KEY_INVALID',
    `The stored state of key ring ${ring} is not sealed: it was stored by a Gatehouse version before the key ring state MAC, or its integrity tag was removed. Refusing to use it. If this ring predates the upgrade, review its keys and seal it once with \`${sealCommand(ring)}\`; otherwise restore the state store from a backup.`,
    { detail: 'keyring state unsealed' },
  );
}

export const isUnsealedRefusal = (e: unknown): boolean => e instanceof GatehouseError && e.detail === 'keyring state unsealed';

export type StateKind = 'absent' | 'legacy' | 'sealed';

/**
 * Judges a state read from the store (synchronous: it runs inside store updates). `floor` is the highest generation
 * this process had seen when the read began: a sealed state below it was rolled back; once a sealed state was seen,
 * an unsealed or missing one was stripped or deleted. With `macKeys` (the KMS can seal) an unsealed state is refused
 * unless `sealing` (the operator's `keys seal`, which vouches for it).
 */
export function judgeState(ring: string, cur: RingState | undefined, floor: number, macKeys: ReadonlyMap<string, Buffer> | undefined, sealing = false): StateKind {
  if (cur === undefined) {
    if (floor > 0) throw tampered(ring, 'it was deleted');
    return 'absent';
  }
  if (cur.mac === undefined) {
    if (floor > 0) throw tampered(ring, 'its integrity tag was removed');
    if (macKeys && !sealing) throw unsealed(ring);
    return 'legacy';
  }
  if (!macKeys) {
    throw new GatehouseError('GH_CRYPTO_KEY_INVALID', `The stored state of key ring ${ring} is sealed by the KMS master key, but no KMS provider that can verify it is configured here.`);
  }
  const keyId = typeof cur.mac.key_id === 'string' ? cur.mac.key_id : '';
  const key = macKeys.get(keyId);
  if (!key) throw new NeedMacKey(keyId);
  if (typeof cur.mac.tag !== 'string' || !constantTimeEqual(cur.mac.tag, stateTag(key, ring, cur))) throw tampered(ring, 'its integrity tag does not match');
  if (!Number.isSafeInteger(cur.generation) || (cur.generation as number) < floor) throw tampered(ring, 'it is older than a state this process already read: rolled back');
  return 'sealed';
}

/** Seals `s` in place: the next generation, and the MAC under `signer`. */
export function sealState(ring: string, s: RingState, signer: { keyId: string; key: Buffer }): RingState {
  s.generation = (s.generation ?? 0) + 1;
  delete s.mac;
  s.mac = { key_id: signer.keyId, tag: stateTag(signer.key, ring, s) };
  return s;
}

/** Identifies the exact unsealed state an operator reviewed: sealing refuses a state changed since (SHA-256, hex). */
export function stateFingerprint(s: RingState): string {
  return createHash('sha256').update(JSON.stringify(s)).digest('hex');
}

/**
 * What no Gatehouse version writes, so an unsealed state showing it was edited: sealing refuses it. Edits that stay
 * consistent (a key deleted, a retired imported key made active) are for the operator's review to catch.
 */
export function unsealedProblems(s: RingState, imported: readonly ImportedKeyInfo[]): string[] {
  const problems: string[] = [];
  if (!Array.isArray(s.keys)) return ['it has no key list'];
  const ids = new Set<string>();
  for (const k of s.keys) {
    if (ids.has(k.id)) problems.push(`key id ${k.id} appears twice`);
    ids.add(k.id);
    if (k.wrapped !== undefined && k.source !== 'store') problems.push(`key ${k.id} holds wrapped key material but its source is ${String(k.source)}, not store`);
    if (k.source === 'store' && k.wrapped === undefined && k.status !== 'retired') problems.push(`generated key ${k.id} is not retired but has no wrapped key material`);
    if (k.source !== 'store') {
      const configured = imported.find((i) => i.id === k.id);
      if (configured && (configured.kcv !== k.kcv || configured.source !== k.source)) problems.push(`imported key ${k.id} does not match the configured ${configured.source === 'file' ? 'key_file' : 'key_env'}`);
    }
  }
  const primary = findKey(s, s.primary_id);
  if (s.keys.length > 0 && !primary) problems.push(`its primary key ${s.primary_id} is not in the ring`);
  else if (primary && (primary.status === 'retired' || primary.version < s.min_decryption_version)) problems.push(`its primary key ${primary.id} is retired`);
  return problems;
}
