/**
 * A key ring: one primary key encrypts, older keys decrypt until retired, a minimum decryption version refuses
 * retired versions (Vault transit's min_decryption_version), `rotation_days` rotates automatically, and every key's
 * encryptions are counted (persisted, in leases) so a key is rotated before the random-nonce bound: NIST SP 800-38D
 * §8.3 allows at most 2^32 AES-GCM invocations with random 96-bit IVs per key; the default limit here is 2^30.
 */
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { StateStore } from '../core/store.js';
import type { AeadAlgorithm } from './aead.js';
import type { KmsProvider } from './kms.js';
import {
  emptyRing, findKey, importKeys, keyCheckValue, KEYRING_NS, reserveEncryptions,
  type ImportedKeyInfo, type KeySource, type RingState, type StoredKey,
} from './keyring-state.js';
import {
  isUnsealedRefusal, judgeState, legacyWrapContext, NeedMacKey, sealedWrapContext, sealState, stateFingerprint, stateMacContext, tampered,
  unsealedProblems, type StateKind,
} from './keyring-seal.js';
import { isValidKeyId, openMessage, parseMessageHeader, sealMessage, type MessageHeader, type MessageKey } from './message.js';
import { generateKey } from './primitives.js';

export const DEFAULT_MAX_ENCRYPTIONS = 2 ** 30;
/** XChaCha20's 192-bit random nonces make collisions negligible far beyond this; the cap keeps counts exact. */
const XCHACHA_MAX_ENCRYPTIONS = 2 ** 52;
const DEFAULT_LEASE = 4096;
const REFRESH_MIN_INTERVAL_MS = 1000;
/** How stale the state may be when decrypting: retirements by another process (the CLI) apply within this time. */
const STATE_MAX_AGE_MS = 1000;

export interface KeyringPolicy {
  /** Algorithm of generated keys. */
  algorithm: AeadAlgorithm;
  /** Rotate the primary once it is this old (rotation_days); no automatic rotation when undefined. */
  rotationMs: number | undefined;
  /** Rotate before a 96-bit-nonce key seals more messages than this. */
  maxEncryptionsPerKey: number;
  /** Versions below this never decrypt. */
  minDecryptionVersion: number;
  /** Encryptions reserved per store write. */
  leaseSize: number;
}

export interface ImportedKey {
  id: string;
  material: Buffer;
  source: 'file' | 'env';
  algorithm: AeadAlgorithm;
}

export interface KeyringOptions {
  name: string;
  policy?: Partial<KeyringPolicy>;
  /** Keys from key_file / key_env. */
  imported?: readonly ImportedKey[];
  /** The configured key id: a newly seen imported key with this id becomes primary. */
  configuredKeyId?: string;
  /** Persists state (counts, versions, generated keys). Without it the ring lives in memory only. */
  store?: StateStore;
  /** Wraps generated keys; needed to rotate. */
  kms?: KmsProvider;
  clock?: Clock;
  /**
   * Seal an unsealed (pre-MAC) state at open, without an operator's review, when it holds generated keys only and each
   * usable one's wrap proves it never belonged to a sealed ring (a stripped MAC is refused as tampered). For the
   * data-key rings of envelope encryption, which hold no imported key and are too many to review one by one. Rings
   * with imported keys (the PoC of finding F2) always need `gatehouse keys seal`.
   */
  sealGeneratedOnly?: boolean;
}

export interface KeyInfo {
  id: string;
  version: number;
  algorithm: AeadAlgorithm;
  status: 'primary' | 'active' | 'retired';
  source: KeySource;
  created_at: string;
  retired_at?: string;
  encryptions: number;
  rotation_due: boolean;
}

/** A ring stored before the state MAC, as `gatehouse keys seal` shows it for the operator's review. */
export interface UnsealedRing {
  name: string;
  keys: KeyInfo[];
  primary_id: string;
  min_decryption_version: number;
  /** Edits no Gatehouse version makes: sealing refuses the state while there are any. */
  problems: string[];
  /** Identifies the reviewed state: sealing refuses a state changed since. */
  fingerprint: string;
}

const importedInfos = (opts: KeyringOptions): ImportedKeyInfo[] =>
  (opts.imported ?? []).map((k) => ({ id: k.id, algorithm: k.algorithm, source: k.source, kcv: keyCheckValue(k.material) }));

/** Refusals because another process sealed or wrote the ring meanwhile (a race to open what it wrote, not an error). */
const RACED = new WeakSet<GatehouseError>();
const sealRefused = (ring: string, why: string, raced = false): GatehouseError => {
  const e = new GatehouseError('GH_CRYPTO_KEY_INVALID', `Key ring ${ring} was not sealed: ${why}.`, { detail: 'keyring seal refused' });
  if (raced) RACED.add(e);
  return e;
};

/** Store updates retried at most this often (MAC key fetches). */
const MAX_WRITE_ATTEMPTS = 8;

export class Keyring {
  readonly name: string;
  readonly policy: KeyringPolicy;
  #state: RingState = emptyRing();
  #material = new Map<string, Buffer>();
  #lease = { id: '', remaining: 0 };
  #busy: Promise<unknown> = Promise.resolve();
  #lastRefresh = 0;
  /** MAC keys of the ring state, by master key id. */
  #macKeys = new Map<string, Buffer>();
  /** The highest sealed generation read or written here (0: none yet): a lower one later is a rollback. */
  #generation = 0;
  readonly #store: StateStore | undefined;
  readonly #kms: KmsProvider | undefined;
  readonly #clock: Clock;

  private constructor(opts: KeyringOptions) {
    if (!/^[A-Za-z0-9._-]{1,48}$/.test(opts.name)) throw new TypeError('a keyring name is 1 to 48 characters of A-Z a-z 0-9 . _ -');
    this.name = opts.name;
    this.policy = {
      algorithm: opts.policy?.algorithm ?? 'aes-256-gcm',
      rotationMs: opts.policy?.rotationMs,
      maxEncryptionsPerKey: opts.policy?.maxEncryptionsPerKey ?? DEFAULT_MAX_ENCRYPTIONS,
      minDecryptionVersion: opts.policy?.minDecryptionVersion ?? 1,
      leaseSize: opts.policy?.leaseSize ?? DEFAULT_LEASE,
    };
    this.#store = opts.store;
    this.#kms = opts.kms;
    this.#clock = opts.clock ?? systemClock;
  }

  /** Opens (or creates) the ring: records imported keys, unwraps generated ones, generates a first key if it has none. */
  static async open(opts: KeyringOptions): Promise<Keyring> {
    const ring = new Keyring(opts);
    const imported = opts.imported ?? [];
    for (const k of imported) if (!isValidKeyId(k.id)) throw new TypeError('a key id is 1 to 64 characters of A-Z a-z 0-9 . _ : -');
    const infos = importedInfos(opts);
    let changed: string | undefined;
    if (infos.length > 0 || !opts.store) {
      await ring.#mutate((s) => {
        changed = undefined;
        const outcome = importKeys(s, infos, opts.configuredKeyId, ring.#clock.now());
        if (!outcome.ok) changed = outcome.changedId;
      });
    } else {
      // An unsealed state is refused here when the KMS can seal (judgeState): `gatehouse keys seal` vouches for it.
      try {
        await ring.#reload();
      } catch (e) {
        if (!opts.sealGeneratedOnly || !isUnsealedRefusal(e)) throw e;
        return Keyring.#sealGenerated(opts);
      }
    }
    if (changed !== undefined) {
      throw new GatehouseError('GH_CRYPTO_KEY_INVALID', `The key material for key id ${changed} changed; give a changed key a new key_id.`);
    }
    for (const k of imported) ring.#material.set(k.id, Buffer.from(k.material));
    await ring.#unwrapStored();
    if (ring.#state.primary_id === '') await ring.rotate();
    return ring;
  }

  /** Whether this ring seals its stored state (a store, and a KMS that derives state MAC keys). */
  get #sealing(): boolean {
    return this.#store !== undefined && this.#kms?.stateMacKey !== undefined;
  }

  /** The state MAC key of master key `keyId` (default: the KMS primary), fetched once. */
  async #macKey(keyId?: string): Promise<{ keyId: string; key: Buffer }> {
    const id = keyId ?? (this.#kms as KmsProvider).primaryKeyId();
    const cached = this.#macKeys.get(id);
    if (cached) return { keyId: id, key: cached };
    const derived = await (this.#kms as Required<KmsProvider>).stateMacKey(stateMacContext(this.name), id);
    this.#macKeys.set(derived.keyId, derived.key);
    return derived;
  }

  #judge(cur: RingState | undefined, floor: number): StateKind {
    return judgeState(this.name, cur, floor, this.#sealing ? this.#macKeys : undefined);
  }

  /** Takes a verified state as current, unless a write of this process already made a newer one current. */
  #adopt(state: RingState | undefined, kind: StateKind): void {
    if (kind === 'sealed') {
      const generation = state?.generation ?? 0;
      if (generation < this.#generation) return; // read before a write of ours landed: ours is newer
      this.#generation = generation;
    } else if (this.#generation > 0) {
      return; // an unsealed state read before our first sealed write landed
    }
    this.#state = state ?? emptyRing();
    // Material of keys retired elsewhere leaves memory too (their status already stops every use).
    for (const k of this.#state.keys) if (k.status === 'retired') this.#material.delete(k.id);
  }

  /** Reads the state from the store, verified (MAC, generation); fails closed on tampering. */
  async #reload(): Promise<void> {
    const store = this.#store as StateStore;
    const floor = this.#generation;
    const cur = await store.get<RingState>(KEYRING_NS, this.name);
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      try {
        this.#adopt(cur, this.#judge(cur, floor));
        return;
      } catch (e) {
        if (!(e instanceof NeedMacKey)) throw e;
        await this.#macKey(e.keyId);
      }
    }
    throw tampered(this.name, 'its MAC key cannot be derived');
  }

  /** Applies `fn` to the state, atomically in the store when there is one, verifying and re-sealing it. */
  async #mutate(fn: (s: RingState) => void): Promise<RingState> {
    if (!this.#store) {
      fn(this.#state);
      return this.#state;
    }
    return this.#write(fn);
  }

  /** `reviewed`: the fingerprint of the unsealed state an operator vouched for (`keys seal`); only that one is written. */
  async #write(fn: (s: RingState) => void, reviewed?: string): Promise<RingState> {
    const store = this.#store as StateStore;
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const signer = this.#sealing ? await this.#macKey() : undefined;
      const floor = this.#generation;
      let kind: StateKind = 'absent';
      try {
        const next = await store.update<RingState>(KEYRING_NS, this.name, (cur) => {
          kind = judgeState(this.name, cur, floor, this.#sealing ? this.#macKeys : undefined, reviewed !== undefined);
          if (reviewed !== undefined && (kind !== 'legacy' || stateFingerprint(cur as RingState) !== reviewed)) {
            throw sealRefused(this.name, 'its stored state changed since it was shown; run the command again', true);
          }
          const s = cur ?? emptyRing();
          fn(s);
          return signer ? sealState(this.name, s, signer) : s;
        });
        this.#adopt(next, signer ? 'sealed' : kind);
        return this.#state;
      } catch (e) {
        if (!(e instanceof NeedMacKey)) throw e;
        await this.#macKey(e.keyId);
      }
    }
    throw new GatehouseError('GH_STORE_UNAVAILABLE', undefined, { detail: `key ring ${this.name}: the state kept changing under the update` });
  }

  /**
   * The stored state of a ring stored before the state MAC, for an operator to review before `sealUnsealed` (`gatehouse
   * keys seal`); undefined when there is nothing to seal (no state, or a sealed one, which is verified here).
   */
  static async inspectUnsealed(opts: KeyringOptions): Promise<UnsealedRing | undefined> {
    const ring = new Keyring(opts);
    if (!ring.#sealing) throw new TypeError('sealing a key ring needs a state store and a KMS provider that derives state MAC keys');
    const raw = await (ring.#store as StateStore).get<RingState>(KEYRING_NS, ring.name);
    if (raw === undefined) return undefined;
    if (raw.mac !== undefined) {
      await ring.#reload();
      return undefined;
    }
    const problems = unsealedProblems(raw, importedInfos(opts));
    for (const k of raw.keys ?? []) {
      if (k.source !== 'store' || k.status === 'retired' || typeof k.wrapped !== 'string') continue;
      try {
        (await ring.#unwrap(k, false)).fill(0);
      } catch (e) {
        const stripped = e instanceof GatehouseError && e.code === 'GH_CRYPTO_KEY_INVALID';
        problems.push(stripped ? `generated key ${k.id} is wrapped for a sealed ring: its integrity tag was removed` : `generated key ${k.id} cannot be unwrapped by this KMS`);
      }
    }
    ring.#state = raw;
    const keys = problems.some((p) => p.startsWith('it has no key list')) ? [] : ring.list();
    return { name: ring.name, keys, primary_id: raw.primary_id, min_decryption_version: raw.min_decryption_version, problems, fingerprint: stateFingerprint(raw) };
  }

  /** `sealGeneratedOnly`: seals a pre-MAC ring of generated keys whose wraps are all pre-MAC; anything else is refused. */
  static async #sealGenerated(opts: KeyringOptions): Promise<Keyring> {
    const review = await Keyring.inspectUnsealed(opts);
    if (!review) return Keyring.open(opts); // sealed by another process meanwhile
    const problems = [...review.problems, ...review.keys.filter((k) => k.source !== 'store').map((k) => `key ${k.id} is not a generated key`)];
    if (problems.length > 0) throw tampered(opts.name, problems.join('; '));
    try {
      return await Keyring.sealUnsealed(opts, review.fingerprint);
    } catch (e) {
      // Another process sealed (or wrote) it between the review and the write: open what it wrote, verified.
      if (e instanceof GatehouseError && RACED.has(e)) return Keyring.open(opts);
      throw e;
    }
  }

  /**
   * Seals a ring stored before the state MAC, the operator vouching for the state `inspectUnsealed` showed (refused if
   * it changed since, or shows edits no Gatehouse version makes). Its generated keys are re-wrapped under the sealed-ring
   * context and retired keys' wrapped material is deleted (retire is crypto-shredding). Returns the ring, opened.
   */
  static async sealUnsealed(opts: KeyringOptions, fingerprint: string): Promise<Keyring> {
    const review = await Keyring.inspectUnsealed(opts);
    if (!review) throw sealRefused(opts.name, 'its stored state is already sealed, or there is none', true);
    if (review.fingerprint !== fingerprint) throw sealRefused(opts.name, 'its stored state changed since it was shown; run the command again', true);
    if (review.problems.length > 0) throw sealRefused(opts.name, `its stored state was edited outside Gatehouse (${review.problems.join('; ')}); restore the state store from a backup`);
    const ring = new Keyring(opts);
    const kms = opts.kms as KmsProvider;
    const raw = (await (opts.store as StateStore).get<RingState>(KEYRING_NS, ring.name)) as RingState;
    const rewrapped = new Map<string, string>();
    for (const k of raw.keys) {
      if (k.source !== 'store' || !k.wrapped || k.status === 'retired') continue;
      const plaintext = await ring.#unwrap(k, false);
      try {
        // Under the master key that wrapped it: sealing is not a master rotation (that one re-wraps and reports it).
        const master = parseMessageHeader(Buffer.from(k.wrapped, 'base64')).keyId;
        rewrapped.set(k.id, (await kms.encrypt(plaintext, sealedWrapContext(ring.name, k.id), master)).ciphertext.toString('base64'));
      } finally {
        plaintext.fill(0);
      }
    }
    await ring.#write((s) => {
      delete s.generation; // not covered by any MAC so far: the sealed history starts here
      for (const k of s.keys) {
        if (k.status === 'retired') delete k.wrapped;
        else if (rewrapped.has(k.id)) k.wrapped = rewrapped.get(k.id) as string;
      }
    }, fingerprint);
    return Keyring.open(opts);
  }

  /** The wrap context of this ring's generated keys: sealed once the state carries a MAC. */
  #wrapContext(id: string, sealed = this.#state.mac !== undefined || (this.#sealing && this.#state.keys.length === 0)) {
    return sealed ? sealedWrapContext(this.name, id) : legacyWrapContext(this.name, id);
  }

  /** Unwraps a generated key. In an unsealed state, a key wrapped for a sealed ring means the MAC was stripped. */
  async #unwrap(k: StoredKey, sealed: boolean): Promise<Buffer> {
    if (!this.#kms) throw new GatehouseError('GH_CRYPTO_KEY_INVALID', 'The keyring holds generated keys but no KMS provider is configured.');
    const wrapped = Buffer.from(k.wrapped as string, 'base64');
    if (sealed) return (await this.#kms.decrypt(wrapped, sealedWrapContext(this.name, k.id))).plaintext;
    try {
      return (await this.#kms.decrypt(wrapped, legacyWrapContext(this.name, k.id))).plaintext;
    } catch (e) {
      const forSealed = await this.#kms.decrypt(wrapped, sealedWrapContext(this.name, k.id)).then((r) => (r.plaintext.fill(0), true), () => false);
      if (forSealed) throw tampered(this.name, 'its integrity tag was removed');
      throw e;
    }
  }

  /** Unwraps generated keys not in memory yet. `tolerant`: a key that cannot be unwrapped stays unusable here instead of failing the call. */
  async #unwrapStored(tolerant = false): Promise<void> {
    for (const k of this.#state.keys) {
      if (k.source !== 'store' || k.status === 'retired' || this.#material.has(k.id) || !k.wrapped) continue;
      try {
        this.#material.set(k.id, await this.#unwrap(k, this.#state.mac !== undefined));
      } catch (e) {
        if (!tolerant) throw e;
      }
    }
  }

  get canRotate(): boolean {
    return this.#store !== undefined && this.#kms !== undefined;
  }

  /** The effective minimum decryption version (config floor or stored, whichever is higher). */
  get minDecryptionVersion(): number {
    return Math.max(this.policy.minDecryptionVersion, this.#state.min_decryption_version);
  }

  #maxFor(alg: AeadAlgorithm): number {
    return alg === 'xchacha20-poly1305' ? XCHACHA_MAX_ENCRYPTIONS : this.policy.maxEncryptionsPerKey;
  }

  #rotationDue(key: StoredKey): boolean {
    return this.policy.rotationMs !== undefined && this.#clock.now() - key.created_at >= this.policy.rotationMs;
  }

  #primary(): StoredKey {
    const key = findKey(this.#state, this.#state.primary_id);
    if (!key) throw new GatehouseError('GH_CRYPTO_KEY_UNKNOWN', undefined, { detail: 'the keyring has no primary key' });
    return key;
  }

  list(): KeyInfo[] {
    return this.#state.keys.map((k) => ({
      id: k.id,
      version: k.version,
      algorithm: k.algorithm,
      status: k.id === this.#state.primary_id ? 'primary' : k.status === 'retired' || k.version < this.minDecryptionVersion ? 'retired' : 'active',
      source: k.source,
      created_at: new Date(k.created_at).toISOString(),
      ...(k.retired_at !== undefined ? { retired_at: new Date(k.retired_at).toISOString() } : {}),
      encryptions: k.encryptions,
      rotation_due: k.id === this.#state.primary_id && this.#rotationDue(k),
    }));
  }

  /** Serialises rotations and lease refills so concurrent callers share one store round trip. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#busy.then(fn, fn);
    this.#busy = run.catch(() => undefined);
    return run;
  }

  /** Re-reads the ring's state when older than a second. A store that cannot be read fails the call (closed). */
  async #refreshIfStale(): Promise<void> {
    if (!this.#store || this.#clock.now() - this.#lastRefresh < STATE_MAX_AGE_MS) return;
    this.#lastRefresh = this.#clock.now();
    await this.#reload();
    await this.#unwrapStored(true);
  }

  /** The primary key, ready for one encryption: rotates when due and reserves counts before the nonce bound. */
  async #takePrimary(): Promise<MessageKey> {
    // A rotation or retirement made by another process (`gatehouse keys rotate`, `keys retire`) must stop this one
    // sealing under the old key within a second too, not when its lease of encryptions runs out.
    await this.#refreshIfStale();
    for (let attempt = 0; attempt < 3; attempt++) {
      const key = this.#primary();
      if (key.status === 'retired' || key.version < this.minDecryptionVersion) throw new GatehouseError('GH_CRYPTO_KEY_RETIRED', undefined, { detail: 'the primary key is retired' });
      if (this.#lease.id === key.id && this.#lease.remaining > 0 && !(this.canRotate && this.#rotationDue(key))) {
        this.#lease.remaining--;
        return this.#messageKey(key);
      }
      await this.#exclusive(() => this.#refill(key.id));
    }
    throw new GatehouseError('GH_CRYPTO_KEY_EXHAUSTED', undefined, { detail: 'could not reserve encryptions' });
  }

  async #refill(expectedPrimary: string): Promise<void> {
    if (this.#state.primary_id !== expectedPrimary || (this.#lease.id === expectedPrimary && this.#lease.remaining > 0 && !this.#rotationDue(this.#primary()))) return;
    if (this.canRotate && this.#rotationDue(this.#primary())) {
      await this.#rotateNow(expectedPrimary);
      return;
    }
    let granted = 0;
    let primary = '';
    await this.#mutate((s) => {
      primary = s.primary_id;
      const key = findKey(s, primary);
      if (key) granted = reserveEncryptions(s, primary, this.policy.leaseSize, this.#maxFor(key.algorithm));
    });
    if (primary !== expectedPrimary) await this.#unwrapStored();
    if (granted > 0) {
      this.#lease = { id: primary, remaining: granted };
      return;
    }
    // The nonce budget is spent: rotate, or refuse (fail closed) when this ring cannot.
    if (!this.canRotate) throw new GatehouseError('GH_CRYPTO_KEY_EXHAUSTED', undefined, { detail: `key ${primary} reached its encryption limit` });
    await this.#rotateNow(primary);
  }

  #messageKey(key: StoredKey): MessageKey {
    const material = this.#material.get(key.id);
    if (!material) throw new GatehouseError('GH_CRYPTO_KEY_UNKNOWN', undefined, { detail: 'key material is not available here' });
    return { id: key.id, algorithm: key.algorithm, material };
  }

  /** Encrypts into a Gatehouse message with the primary key. */
  async encrypt(plaintext: Uint8Array, aad?: Uint8Array): Promise<Buffer> {
    return sealMessage(await this.#takePrimary(), plaintext, aad);
  }

  /**
   * The primary key for one stream (counted as one use: a stream derives its own key from a random salt, so its
   * segments do not spend this key's random-nonce budget).
   */
  streamKey(): Promise<MessageKey> {
    return this.#takePrimary();
  }

  /** Resolves a key id: unknown → GH_CRYPTO_KEY_UNKNOWN, retired or below the minimum → GH_CRYPTO_KEY_RETIRED. */
  resolveKeyId(id: string): MessageKey {
    const key = findKey(this.#state, id);
    if (!key) throw new GatehouseError('GH_CRYPTO_KEY_UNKNOWN');
    if (key.status === 'retired' || key.version < this.minDecryptionVersion) throw new GatehouseError('GH_CRYPTO_KEY_RETIRED');
    return this.#messageKey(key);
  }

  /** The key a message header names (a KeyResolver for openMessage). */
  resolve = (header: Pick<MessageHeader, 'keyId'>): MessageKey => this.resolveKeyId(header.keyId);

  /** Decrypts a message in memory with the keys loaded now. */
  decryptSync(message: Uint8Array, aad?: Uint8Array): Buffer {
    return openMessage(this.resolve, message, aad);
  }

  /** Decrypts; a key id unknown here triggers one (rate-limited) refresh from the store, for rotations by another process. */
  async decrypt(message: Uint8Array, aad?: Uint8Array): Promise<Buffer> {
    // A key retired by `gatehouse keys retire` in another process must stop decrypting here too, not at the next
    // restart: the state is re-read when older than a second. A store that cannot be read fails the call (closed).
    await this.#refreshIfStale();
    try {
      return this.decryptSync(message, aad);
    } catch (e) {
      if (!(e instanceof GatehouseError) || e.code !== 'GH_CRYPTO_KEY_UNKNOWN' || !this.#store) throw e;
      if (this.#clock.now() - this.#lastRefresh < REFRESH_MIN_INTERVAL_MS) throw e;
      await this.refresh();
      return this.decryptSync(message, aad);
    }
  }

  /** Re-encrypts a message under the primary key (transit rewrap); the plaintext never leaves this call. */
  async rewrap(message: Uint8Array, aad?: Uint8Array): Promise<Buffer> {
    const pt = await this.decrypt(message, aad);
    try {
      return await this.encrypt(pt, aad);
    } finally {
      pt.fill(0);
    }
  }

  /** Reloads state from the store (rotations, retirements and counts made by other processes). */
  async refresh(): Promise<void> {
    this.#lastRefresh = this.#clock.now();
    if (!this.#store) return;
    await this.#reload();
    await this.#unwrapStored();
  }

  /** Generates a new primary key (stored wrapped by the KMS provider). Older keys keep decrypting. */
  rotate(): Promise<KeyInfo> {
    return this.#exclusive(async () => {
      await this.#rotateNow(this.#state.primary_id);
      return this.list().find((k) => k.status === 'primary') as KeyInfo;
    });
  }

  async #rotateNow(expectedPrimary: string): Promise<void> {
    if (!this.#kms || !this.#store) throw new TypeError('rotating a keyring needs a state store and a KMS provider');
    await this.#reload();
    const fresh = this.#state;
    if (fresh.primary_id !== expectedPrimary) {
      // Another process rotated first: adopt its key rather than adding a second one.
      await this.#unwrapStored();
      return;
    }
    const base = fresh.next_version;
    // An imported key may already carry a generated-looking id (key_id: orders-v2): one id naming two keys would lose
    // the data of whichever the ring does not find first, so the version skips ids that are taken.
    let version = base;
    while (findKey(fresh, `${this.name}-v${version}`)) version++;
    const id = `${this.name}-v${version}`;
    const material = generateKey();
    const { ciphertext } = await this.#kms.encrypt(material, this.#wrapContext(id));
    let won = false;
    await this.#mutate((s) => {
      won = false;
      if (s.next_version !== base || s.primary_id !== expectedPrimary) return;
      won = true;
      s.keys.push({
        id, version, algorithm: this.policy.algorithm, status: 'active', source: 'store',
        created_at: this.#clock.now(), encryptions: 0, kcv: keyCheckValue(material), wrapped: ciphertext.toString('base64'),
      });
      s.primary_id = id;
      s.next_version = version + 1;
    });
    if (won) this.#material.set(id, material);
    else await this.#unwrapStored();
    this.#lease = { id: '', remaining: 0 };
  }

  /**
   * Drops the key material held in memory; the ring is unusable afterwards (cache eviction, shredding). The buffers are
   * not zeroed here: an encryption already holding the key between its await and its seal must not run with a zero key.
   */
  dispose(): void {
    this.#material.clear();
    this.#lease = { id: '', remaining: 0 };
  }

  /**
   * Retires a key, irreversibly: it no longer decrypts, and a generated key's wrapped material is deleted from the
   * store (crypto-shredding), so no edit of the state brings it back. Data still under it must be re-encrypted first
   * (transit rewrap). An imported key keeps only its id and check value. The primary cannot be retired (rotate first).
   */
  async retire(id: string): Promise<void> {
    if (id === this.#state.primary_id) throw new TypeError('the primary key cannot be retired; rotate first');
    if (!findKey(this.#state, id)) throw new GatehouseError('GH_CRYPTO_KEY_UNKNOWN');
    await this.#mutate((s) => {
      // Judged again on the state being written: another process may have rotated meanwhile.
      if (s.primary_id === id) throw new TypeError('the primary key cannot be retired; rotate first');
      const key = findKey(s, id);
      if (key) shred(key, this.#clock.now());
    });
    this.#material.get(id)?.fill(0);
    this.#material.delete(id);
  }

  /**
   * Raises the minimum decryption version (never above the primary's, never down). Like retire, irreversible: keys
   * below it are retired and their wrapped material deleted.
   */
  async setMinDecryptionVersion(version: number): Promise<void> {
    if (!Number.isInteger(version) || version < 1) throw new TypeError('a version is a positive integer');
    if (version > this.#primary().version) throw new TypeError('the minimum decryption version cannot exceed the primary key version');
    const shredded: string[] = [];
    await this.#mutate((s) => {
      shredded.length = 0;
      const primary = findKey(s, s.primary_id);
      if (primary && version > primary.version) throw new TypeError('the minimum decryption version cannot exceed the primary key version');
      s.min_decryption_version = Math.max(s.min_decryption_version, version);
      for (const k of s.keys) {
        if (k.version < s.min_decryption_version && k.id !== s.primary_id) {
          shred(k, this.#clock.now());
          shredded.push(k.id);
        }
      }
    });
    for (const id of shredded) {
      this.#material.get(id)?.fill(0);
      this.#material.delete(id);
    }
  }

  /** Re-wraps every generated key under the KMS primary after a master rotation; data is not re-encrypted. */
  async rewrapKeys(): Promise<number> {
    if (!this.#kms) return 0;
    let count = 0;
    const rewrapped = new Map<string, string>();
    if (this.#store) await this.#reload();
    for (const k of this.#state.keys) {
      if (k.source !== 'store' || !k.wrapped) continue;
      const r = await this.#kms.rewrap(Buffer.from(k.wrapped, 'base64'), this.#wrapContext(k.id));
      if (r.changed) rewrapped.set(k.id, r.ciphertext.toString('base64'));
    }
    // The write also re-seals the state under the new master's MAC key.
    await this.#mutate((s) => {
      count = 0;
      for (const k of s.keys) {
        const w = rewrapped.get(k.id);
        // A key retired (shredded) meanwhile stays shredded.
        if (w !== undefined && k.wrapped !== undefined && k.status !== 'retired') {
          k.wrapped = w;
          count++;
        }
      }
    });
    return count;
  }
}

/** Retires `key` and deletes its wrapped material (crypto-shredding; imported keys have none stored). */
function shred(key: StoredKey, now: number): void {
  if (key.status !== 'retired') Object.assign(key, { status: 'retired', retired_at: now });
  delete key.wrapped;
}
