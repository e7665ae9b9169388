import type { Exchange, Principal } from '../core/types.js';

/** Why the gateway ended a request it was forwarding (besides routes[].max_stream_duration). */
export type CredentialEnd = 'credential_revoked' | 'credential_expired' | 'credential_key_retired';

/** What the revocation feed names: a token id (Gatehouse tokens and JWTs, by jti) or an API key id. */
export type RevokedKind = 'token' | 'api_key';

interface Watched {
  readonly principal: Principal;
  readonly end: (reason: CredentialEnd) => void;
  /** ms since the epoch past which a new request with this credential is refused; Infinity when it does not expire. */
  readonly until: number;
  readonly key: string | undefined;
}

/** The revocation-feed key of a principal's credential, or undefined when nothing can revoke it one by one. */
function revocationKey(p: Principal): string | undefined {
  if (p.credential_id === undefined) return undefined;
  if (p.method === 'token' || p.method === 'jwt') return `token:${p.credential_id}`;
  if (p.method === 'api_key') return `api_key:${p.credential_id}`;
  return undefined;
}

/**
 * The requests being forwarded on a credential that can stop being valid while they run: revoked (the revocation
 * feed, within its poll interval) or expired. The stages authorize a request once, when it starts; without this a
 * response still streaming (an MCP GET stream, SSE, a long download, a long poll) would go on for a credential the
 * gateway now refuses. A request is watched from its forward until its response ends; watching costs a Map entry,
 * and nothing at all for a request without such a credential (public routes, mTLS, Basic, static keys).
 *
 * Expiry is checked every `sweepMs` (an interval that runs only while something with an expiry is watched), so a
 * stream ends at most that long after its credential expired; a revocation ends the streams it names at once.
 */
export class CredentialWatch {
  readonly #byKey = new Map<string, Set<Watched>>();
  readonly #expiring = new Set<Watched>();
  readonly #now: () => number;
  readonly #sweepMs: number;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  readonly #isRevoked: (kind: RevokedKind, id: string) => boolean;
  readonly #keyStillValid: (p: Principal) => boolean;

  /**
   * `isRevoked`: the authenticator's revocation sets. A request reaches the forward well after identify when a stage
   * waited (an approval held for minutes, a slow body): a revocation announced meanwhile was never this request's to
   * hear, so watch() asks, and ends at once what is already revoked or expired.
   */
  constructor(opts: { now?: () => number; sweepMs?: number; isRevoked?: (kind: RevokedKind, id: string) => boolean; keyStillValid?: (p: Principal) => boolean } = {}) {
    this.#now = opts.now ?? Date.now;
    this.#sweepMs = opts.sweepMs ?? 500;
    this.#isRevoked = opts.isRevoked ?? (() => false);
    this.#keyStillValid = opts.keyStillValid ?? (() => true);
  }

  /** How many requests are watched (tests, metrics). */
  get size(): number {
    let n = this.#expiring.size;
    for (const set of this.#byKey.values()) for (const w of set) if (w.until === Infinity) n++;
    return n;
  }

  /**
   * Watches the exchange's credential: `end` is called at most once, when it is revoked or expires — at once, before
   * watch() returns, when it already is. Returns the function that stops watching (call it when the response ends),
   * or undefined when there is nothing to watch (or it has already ended).
   */
  watch(ex: Exchange, end: (reason: CredentialEnd) => void): (() => void) | undefined {
    const p = ex.principal;
    if (p === undefined || this.#closed) return undefined;
    const key = revocationKey(p);
    const until = typeof p.valid_until === 'number' && Number.isFinite(p.valid_until) ? p.valid_until : Infinity;
    if (key === undefined && until === Infinity) return undefined;
    if (key !== undefined && this.#isRevoked(key.startsWith('token:') ? 'token' : 'api_key', key.slice(key.indexOf(':') + 1))) {
      end('credential_revoked');
      return undefined;
    }
    if (this.#now() > until) {
      end('credential_expired');
      return undefined;
    }
    if (!this.#keyStillValid(p)) {
      end('credential_key_retired');
      return undefined;
    }
    let ended = false;
    const w: Watched = {
      principal: p,
      key,
      until,
      end: (reason) => {
        if (ended) return;
        ended = true;
        this.#forget(w);
        end(reason);
      },
    };
    if (key !== undefined) {
      let set = this.#byKey.get(key);
      if (set === undefined) this.#byKey.set(key, (set = new Set()));
      set.add(w);
    }
    if (until !== Infinity) {
      this.#expiring.add(w);
      this.#timer ??= setInterval(() => this.sweep(), this.#sweepMs).unref();
    }
    return () => {
      ended = true;
      this.#forget(w);
    };
  }

  /** Ends every watched request on this credential; returns how many. */
  revoked(kind: RevokedKind, id: string): number {
    const set = this.#byKey.get(`${kind}:${id}`);
    if (set === undefined) return 0;
    const doomed = [...set];
    for (const w of doomed) w.end('credential_revoked');
    return doomed.length;
  }

  /**
   * Ends the watched requests whose credential has expired, or whose signing key no longer verifies: a Gatehouse
   * token's retired key, a JWT's key that its issuer's JWKS dropped or replaced under its kid. Tokens and JWTs always
   * expire, so every such request is among those swept; `keyStillValid` reads what the authenticator holds now and
   * never fetches (authn's KeySource.stillHolds). Returns how many.
   */
  sweep(): number {
    const now = this.#now();
    const doomed: [Watched, CredentialEnd][] = [];
    for (const w of this.#expiring) {
      if (now > w.until) doomed.push([w, 'credential_expired']);
      else if (!this.#keyStillValid(w.principal)) doomed.push([w, 'credential_key_retired']);
    }
    for (const [w, reason] of doomed) w.end(reason);
    return doomed.length;
  }

  /** Stops the timer; requests still watched are left to finish (the gateway is draining). */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #forget(w: Watched): void {
    if (w.key !== undefined) {
      const set = this.#byKey.get(w.key);
      if (set !== undefined && set.delete(w) && set.size === 0) this.#byKey.delete(w.key);
    }
    if (w.until !== Infinity && this.#expiring.delete(w) && this.#expiring.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
