import { readChanges, type StateStore } from '../core/store.js';
import type { Logger } from '../core/types.js';
import { NS_REVOKED, type Revocation } from './token-store.js';
import { NS_API_KEYS, type ApiKeyRecord } from './api-key-store.js';

/**
 * Keeps in-memory sets of revoked token ids and revoked API key ids, fed by the shared store's change feed, so the
 * hot path checks revocation with one Set lookup and a revocation made anywhere (another gateway, the CLI) is
 * refused here within one poll interval (issue 3: within 1 s; the interval is at most 250 ms).
 */
export class RevocationWatcher {
  readonly #store: StateStore;
  readonly #logger: Logger | undefined;
  readonly #intervalMs: number;
  /** jti → exp (seconds) or 0 when unknown. */
  readonly #tokens = new Map<string, number>();
  readonly #apiKeys = new Set<string>();
  #tokenSeq = 0;
  #keySeq = 0;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #healthy = true;
  readonly #listeners: ((kind: 'token' | 'api_key', id: string) => void)[] = [];

  constructor(store: StateStore, opts: { intervalMs: number; logger?: Logger }) {
    this.#store = store;
    this.#intervalMs = opts.intervalMs;
    this.#logger = opts.logger;
  }

  /** Loads current revocations, then polls. The first load must succeed (fail closed): it throws otherwise. */
  async start(): Promise<void> {
    this.#tokenSeq = await this.#store.headSeq(NS_REVOKED);
    this.#keySeq = await this.#store.headSeq(NS_API_KEYS);
    for (const { key, value } of await this.#store.list<Revocation>(NS_REVOKED)) this.#tokens.set(key, value.exp ?? 0);
    for (const { key, value } of await this.#store.list<ApiKeyRecord>(NS_API_KEYS)) if (value.revoked_at !== undefined) this.#apiKeys.add(key);
    this.#timer = setInterval(() => void this.poll(), this.#intervalMs);
    this.#timer.unref();
  }

  isTokenRevoked(jti: string): boolean {
    return this.#tokens.has(jti);
  }

  isApiKeyRevoked(id: string): boolean {
    return this.#apiKeys.has(id);
  }

  /** Marks a revocation made by this process at once (its store write happens too). */
  noteTokenRevoked(jti: string, exp = 0): void {
    this.#tokens.set(jti, exp);
    this.#emit('token', jti);
  }

  noteApiKeyRevoked(id: string): void {
    this.#apiKeys.add(id);
    this.#emit('api_key', id);
  }

  onRevoked(fn: (kind: 'token' | 'api_key', id: string) => void): void {
    this.#listeners.push(fn);
  }

  /** False after a poll failed; the hot path keeps using the last known set (documented trade-off). */
  get healthy(): boolean {
    return this.#healthy;
  }

  /** One poll of both feeds; concurrent calls share the same run. */
  poll(): Promise<void> {
    this.#polling ??= this.#pollOnce().finally(() => {
      this.#polling = undefined;
    });
    return this.#polling;
  }

  async #pollOnce(): Promise<void> {
    try {
      this.#tokenSeq = await readChanges<Revocation>(this.#store, NS_REVOKED, this.#tokenSeq, (c) => {
        // A deleted revocation (expired entry) keeps refusing: the token has expired by then anyway.
        if (c.value !== undefined) {
          this.#tokens.set(c.key, c.value.exp ?? 0);
          this.#emit('token', c.key);
        }
      });
      this.#keySeq = await readChanges<ApiKeyRecord>(this.#store, NS_API_KEYS, this.#keySeq, (c) => {
        if (c.value === undefined || c.value.revoked_at !== undefined) {
          this.#apiKeys.add(c.key);
          this.#emit('api_key', c.key);
        }
      });
      this.#pruneExpired();
      if (!this.#healthy) this.#logger?.info({ event: 'authn.revocation_feed_recovered' }, 'revocation feed recovered');
      this.#healthy = true;
    } catch {
      if (this.#healthy) this.#logger?.error({ event: 'authn.revocation_feed_failed' }, 'cannot read revocations from the state store');
      this.#healthy = false;
    }
  }

  #pruneExpired(): void {
    if (this.#tokens.size < 1024) return;
    // Two days past expiry: far beyond any clock skew, so dropping the id cannot revive the token.
    const cutoff = Math.floor(Date.now() / 1000) - 2 * 86_400;
    for (const [jti, exp] of this.#tokens) if (exp !== 0 && exp < cutoff) this.#tokens.delete(jti);
  }

  #emit(kind: 'token' | 'api_key', id: string): void {
    for (const fn of this.#listeners) fn(kind, id);
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#polling;
  }
}
