/**
 * Integrity of a key ring's stored state (docs/encryption.md § Integrity of the key ring state). Whoever can write the
 * state store but holds no key material must not be able to bring a retired key back, make another key primary, lower
 * the minimum decryption version or reset the nonce counters. A sealed ring's state carries an HMAC-SHA256 under a key
 * the KMS derives (HKDF) from a master key, and a generation every write increments. Generated keys of a sealed ring
 * are wrapped under a context naming the seal, so a state stripped of its MAC (to pass as an unsealed, pre-MAC ring)
 * no longer unwraps them.
 */
import { GatehouseError } from '../core/errors.js';
import { constantTimeEqual } from '../core/compare.js';
import type { CryptoContext } from './context.js';
import { stateTag, type RingState } from './keyring-state.js';

/** Wrap context of generated keys in a ring sealed by a MAC. */
export const sealedWrapContext = (ring: string, id: string): CryptoContext => ({ keyring: ring, key_id: id, ring_state: 'mac-v1' });
/** Wrap context of generated keys in rings stored before the MAC (migrated at their first open). */
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
/** An unsealed (pre-MAC) state must be migrated first. */
export class NeedMigration extends UpdateSignal {
  constructor() {
    super('keyring state: migration needed');
  }
}
/** The update's premise changed (another process migrated, a key appeared): retried. */
export class RetryWrite extends UpdateSignal {
  constructor() {
    super('keyring state: retry');
  }
}

export function tampered(ring: string, why: string): GatehouseError {
  return new GatehouseError(
    'GH_CRYPTO_KEY_INVALID',
    `The stored state of key ring ${ring} fails its integrity check (${why}): it was changed outside Gatehouse. Refusing to use it; restore the state store from a backup.`,
    { detail: 'keyring state integrity' },
  );
}

export type StateKind = 'absent' | 'legacy' | 'sealed';

/**
 * Judges a state read from the store (synchronous: it runs inside store updates). `floor` is the highest generation
 * this process had seen when the read began: a sealed state below it was rolled back; once a sealed state was seen,
 * an unsealed or missing one was stripped or deleted.
 */
export function judgeState(ring: string, cur: RingState | undefined, floor: number, macKeys: ReadonlyMap<string, Buffer> | undefined): StateKind {
  if (cur === undefined) {
    if (floor > 0) throw tampered(ring, 'it was deleted');
    return 'absent';
  }
  if (cur.mac === undefined) {
    if (floor > 0) throw tampered(ring, 'its integrity tag was removed');
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
