/**
 * Envelope encryption (seed 002 "Encryption at Rest"): a master key behind a KMS provider wraps per-tenant,
 * per-stream or per-user data keys; data keys rotate; a master rotation re-wraps them without re-encrypting data; a
 * cache holds unwrapped data keys for a bounded time and number. Crypto-shredding (seed 002 "Right to erasure"):
 * destroying a scope's data keys makes its data unrecoverable — decryption then fails with GH_CRYPTO_KEY_SHREDDED.
 *
 * Each scope's data keys form a small key ring (rotation, nonce-safety counts), stored wrapped in the StateStore.
 * An index entry per scope (namespace `crypto.datakeys`, key `tenant[/s/stream|/u/user]`) names the ring of the
 * current generation and the generations already shredded, so a shredded scope can receive new data under a new key
 * while its old data stays unrecoverable.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { StateStore } from '../core/store.js';
import type { AuditEmitter } from '../core/types.js';
import type { AeadAlgorithm } from './aead.js';
import { encodeContext } from './context.js';
import { Keyring, type KeyInfo } from './keyring.js';
import { KEYRING_NS } from './keyring-state.js';
import type { KmsProvider } from './kms.js';
import { parseMessageHeader } from './message.js';

export const DATAKEY_NS = 'crypto.datakeys';

export interface DataKeyScope {
  tenant: string;
  /** A per-stream key inside the tenant (seed 002: "Per stream/tenant"). */
  stream?: string | undefined;
  /** A per-user key inside the tenant, for erasure of one user's data. */
  user?: string | undefined;
}

interface ScopeIndex {
  generation: number;
  created_at: number;
  /** Rings of shredded generations: messages naming them fail with GH_CRYPTO_KEY_SHREDDED. */
  shredded: string[];
  shredded_at?: number;
}

export interface DataKeyManagerOptions {
  kms: KmsProvider;
  store: StateStore;
  clock?: Clock;
  algorithm?: AeadAlgorithm;
  /** Data-key rotation period (data_key_rotation_days). */
  rotationMs?: number | undefined;
  maxEncryptionsPerKey?: number;
  /** How long an unwrapped data key stays in memory (default 5 minutes). */
  cacheTtlMs?: number;
  /** At most this many scopes' keys in memory (default 1000); least recently used go first. */
  cacheMaxEntries?: number;
}

const MAX_PART = 256;
const SWEEP_INTERVAL_MS = 1000;
function checkPart(name: string, value: string | undefined, required: boolean): void {
  if (value === undefined && !required) return;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_PART) throw new TypeError(`${name} is 1 to ${MAX_PART} characters`);
}

/** The index key of a scope: URI-encoded parts, so a tenant's sub-scopes share the prefix `tenant/`. */
export function scopeKey(scope: DataKeyScope): string {
  checkPart('tenant', scope.tenant, true);
  checkPart('stream', scope.stream, false);
  checkPart('user', scope.user, false);
  if (scope.stream !== undefined && scope.user !== undefined) throw new TypeError('a data key scope is a tenant, a stream or a user, not both');
  const t = encodeURIComponent(scope.tenant);
  if (scope.stream !== undefined) return `${t}/s/${encodeURIComponent(scope.stream)}`;
  if (scope.user !== undefined) return `${t}/u/${encodeURIComponent(scope.user)}`;
  return t;
}

const ringName = (key: string, generation: number): string =>
  `dk.${createHash('sha256').update(key).digest('base64url').slice(0, 22)}.${generation}`;

/** The ring a data-key message names: its key id is `<ring>-v<version>`. */
const ringOfKeyId = (keyId: string): string => keyId.slice(0, Math.max(0, keyId.lastIndexOf('-v')));

export class DataKeyManager {
  readonly #kms: KmsProvider;
  readonly #store: StateStore;
  readonly #clock: Clock;
  readonly #opts: DataKeyManagerOptions;
  readonly #ttl: number;
  readonly #max: number;
  /** Insertion order is recency: a hit moves the entry to the end. */
  #cache = new Map<string, { ring: Promise<Keyring>; expires: number }>();
  #nextSweep = 0;

  constructor(opts: DataKeyManagerOptions) {
    this.#kms = opts.kms;
    this.#store = opts.store;
    this.#clock = opts.clock ?? systemClock;
    this.#opts = opts;
    this.#ttl = opts.cacheTtlMs ?? 5 * 60_000;
    this.#max = Math.max(1, opts.cacheMaxEntries ?? 1000);
  }

  /** AAD binding a message to its scope, followed by the caller's context. */
  #aad(key: string, aad?: Uint8Array): Buffer {
    const scope = encodeContext({ gh_datakey_scope: key });
    return aad && aad.length > 0 ? Buffer.concat([scope, aad]) : scope;
  }

  async #index(key: string): Promise<ScopeIndex> {
    const existing = await this.#store.get<ScopeIndex>(DATAKEY_NS, key);
    if (existing) return existing;
    await this.#store.putIfAbsent(DATAKEY_NS, key, { generation: 1, created_at: this.#clock.now(), shredded: [] } satisfies ScopeIndex);
    return (await this.#store.get<ScopeIndex>(DATAKEY_NS, key)) as ScopeIndex;
  }

  /** The scope ring from the cache, or opened; `mustExist` refuses to create one (decryption, re-wrapping). */
  async #openRing(name: string, mustExist = false): Promise<Keyring> {
    const now = this.#clock.now();
    // cache_ttl bounds how long a data key stays in memory: expired keys of scopes nobody asks for again go too.
    if (now >= this.#nextSweep) {
      this.#nextSweep = now + SWEEP_INTERVAL_MS;
      for (const [n, entry] of this.#cache) if (entry.expires <= now) this.#evict(n);
    }
    const hit = this.#cache.get(name);
    if (hit && hit.expires > now) {
      this.#cache.delete(name);
      this.#cache.set(name, hit);
      return hit.ring;
    }
    if (hit) this.#evict(name);
    if (mustExist && (await this.#store.get(KEYRING_NS, name)) === undefined) throw new GatehouseError('GH_CRYPTO_KEY_UNKNOWN');
    const ring = Keyring.open({
      name, store: this.#store, kms: this.#kms, clock: this.#clock,
      // Generated keys only: a pre-MAC data-key ring is sealed at its first open (docs/encryption.md).
      sealGeneratedOnly: true,
      policy: {
        algorithm: this.#opts.algorithm ?? 'aes-256-gcm',
        rotationMs: this.#opts.rotationMs,
        ...(this.#opts.maxEncryptionsPerKey !== undefined ? { maxEncryptionsPerKey: this.#opts.maxEncryptionsPerKey } : {}),
      },
    });
    this.#cache.set(name, { ring, expires: now + this.#ttl });
    ring.catch(() => this.#cache.delete(name));
    while (this.#cache.size > this.#max) this.#evict(this.#cache.keys().next().value as string);
    return ring;
  }

  #evict(name: string): void {
    const entry = this.#cache.get(name);
    this.#cache.delete(name);
    entry?.ring.then((r) => r.dispose(), () => undefined);
  }

  /** Number of scopes whose keys are in memory now. */
  get cacheSize(): number {
    return this.#cache.size;
  }

  /** Encrypts under the scope's current data key (created, wrapped and stored on first use). */
  async encrypt(scope: DataKeyScope, plaintext: Uint8Array, aad?: Uint8Array): Promise<Buffer> {
    const key = scopeKey(scope);
    const index = await this.#index(key);
    const ring = await this.#openRing(ringName(key, index.generation));
    return ring.encrypt(plaintext, this.#aad(key, aad));
  }

  /** Decrypts a message of this scope; a shredded key gives GH_CRYPTO_KEY_SHREDDED, never plaintext. */
  async decrypt(scope: DataKeyScope, message: Uint8Array, aad?: Uint8Array): Promise<Buffer> {
    const key = scopeKey(scope);
    const ring = ringOfKeyId(parseMessageHeader(message).keyId);
    const index = await this.#store.get<ScopeIndex>(DATAKEY_NS, key);
    if (index?.shredded.includes(ring)) throw new GatehouseError('GH_CRYPTO_KEY_SHREDDED');
    // A ring of another scope, or of a generation this scope never had: not ours.
    if (!index || ring !== ringName(key, index.generation)) throw new GatehouseError('GH_CRYPTO_KEY_UNKNOWN');
    return (await this.#openRing(ring, true)).decrypt(message, this.#aad(key, aad));
  }

  /** Starts a new data key for the scope; older data keeps decrypting. */
  async rotate(scope: DataKeyScope): Promise<KeyInfo> {
    const key = scopeKey(scope);
    const index = await this.#index(key);
    return (await this.#openRing(ringName(key, index.generation))).rotate();
  }

  /**
   * Crypto-shredding: destroys the data keys of a tenant (and all its streams and users) or of one user. The wrapped
   * keys are deleted from the store and dropped from this process's cache; other processes drop theirs within the
   * cache TTL. Returns the scopes shredded. Emits `crypto.key.shred` when an audit emitter is given.
   */
  async shred(target: { tenant: string; user?: string | undefined }, audit?: AuditEmitter, subject?: string): Promise<string[]> {
    const base = scopeKey({ tenant: target.tenant, user: target.user });
    const keys = [base];
    if (target.user === undefined) for (const e of await this.#store.list(DATAKEY_NS, { prefix: `${base}/` })) keys.push(e.key);
    const done: string[] = [];
    for (const key of keys) {
      const index = await this.#index(key);
      const ring = ringName(key, index.generation);
      await this.#store.delete(KEYRING_NS, ring);
      this.#evict(ring);
      await this.#store.update<ScopeIndex>(DATAKEY_NS, key, (cur) => {
        const s = cur ?? index;
        if (!s.shredded.includes(ring)) s.shredded.push(ring);
        return { ...s, generation: Math.max(s.generation, index.generation + 1), shredded_at: this.#clock.now() };
      });
      done.push(key);
    }
    await audit?.emit({
      event_type: 'crypto.key.shred',
      result_status: 'success',
      ...(subject ? { subject } : {}),
      tenant: target.tenant,
      action: 'shred',
      resource: target.user !== undefined ? `user:${target.user}` : `tenant:${target.tenant}`,
      metadata: { scopes: done.length },
    });
    return done;
  }

  /** After a master rotation: re-wraps every stored data key under the KMS primary. Data is not re-encrypted. */
  async rewrapAll(): Promise<number> {
    let count = 0;
    for (const entry of await this.#store.list<ScopeIndex>(DATAKEY_NS)) {
      const name = ringName(entry.key, entry.value.generation);
      if ((await this.#store.get(KEYRING_NS, name)) === undefined) continue;
      count += await (await this.#openRing(name)).rewrapKeys();
    }
    return count;
  }

  /** Drops every cached key (shutdown, tests). */
  clearCache(): void {
    for (const name of [...this.#cache.keys()]) this.#evict(name);
  }
}
