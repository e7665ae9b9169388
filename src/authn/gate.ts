/**
 * Counts verifications still running against the lockout's allowance. A failure is counted only when its verification
 * ends (argon2 for Basic, a JWKS signature check, an API key hash), so without this gate a client could send hundreds
 * of guesses at once and have every one checked before the first failure locked it out. Here a client (or claimed
 * principal) may have at most `max_failures − failures so far` verifications in flight (at least one: once the
 * allowance is spent the lockout, checked again by every waiter, is what refuses); more wait for one to end and then
 * look again, so at most max_failures guesses are checked before the lockout begins. Waiting is bounded in count and time.
 */
import { GatehouseError } from '../core/errors.js';
import { clientKey, normalizeIp } from '../core/net.js';
import type { FailureCounter } from './failures.js';

export interface GateLimits {
  maxFailures: number;
  perIp: boolean;
  perPrincipal: boolean;
  exempt(ip: string): boolean;
  /**
   * Processes that share the failure counts and each run a gate (server.workers): each lets its share of the
   * allowance left be in flight, rounded up (default 1: all of it).
   */
  shares?: number;
}

/** Ends one gated verification; calling it again does nothing. */
export type Release = () => void;

export interface GateOptions {
  /** Waiting verifications over all keys; past it a request is refused (429) rather than queued. */
  maxWaiting?: number;
  /**
   * Waiting verifications per client or principal. Above what one client can have open (max_connections_per_ip, 512
   * by default), so that a burst of correct logins from one address (a NAT, a proxy not listed as trusted) waits
   * rather than being refused; what bounds an attacker is the allowance, not this.
   */
  maxWaitingPerKey?: number;
  /** Longest wait for a slot before the request is refused. */
  maxWaitMs?: number;
  /**
   * Under server.workers: how long waiters let pass, after a verification here ends, before they look at the
   * allowance again. Verifications started together in several workers end together, and each worker's failures
   * reach the others on their next turn of the event loop; looking at once, a worker would still believe the
   * allowance the others have just spent is there. 0 (one process): at once.
   */
  settleMs?: number;
}

interface Waiter {
  wake(): void;
}

const busy = (): GatehouseError =>
  new GatehouseError('GH_RATE_LIMITED', 'Too many authentication attempts are in progress for this client; try again shortly.', { detail: 'auth_in_flight', headers: { 'retry-after': '1' } });

export class VerificationGate {
  readonly #limits: GateLimits;
  readonly #failures: FailureCounter;
  readonly #maxWaiting: number;
  readonly #maxWaitingPerKey: number;
  readonly #maxWaitMs: number;
  readonly #settleMs: number;
  readonly #inFlight = new Map<string, number>();
  readonly #waiters = new Map<string, Set<Waiter>>();
  #waiting = 0;

  constructor(limits: GateLimits, failures: FailureCounter, opts: GateOptions = {}) {
    this.#limits = limits;
    this.#failures = failures;
    this.#maxWaiting = opts.maxWaiting ?? 16_384;
    this.#maxWaitingPerKey = opts.maxWaitingPerKey ?? 1024;
    this.#maxWaitMs = opts.maxWaitMs ?? 10_000;
    this.#settleMs = opts.settleMs ?? 0;
  }

  /** Verifications running now (tests, diagnostics). */
  get inFlight(): number {
    let n = 0;
    for (const v of this.#inFlight.values()) n += v;
    return n;
  }

  /**
   * A release when the verification may start now; a promise of one when it must wait for a slot (the caller checks
   * the lockout again before it starts); throws GH_RATE_LIMITED when too many already wait.
   */
  enter(ip: string, principal: string | undefined): Release | Promise<Release> {
    const l = this.#limits;
    const ipKey = l.perIp && ip !== '' && !l.exempt(normalizeIp(ip)) ? `ip:${clientKey(normalizeIp(ip))}` : undefined;
    const principalKey = l.perPrincipal && principal !== undefined ? `principal:${principal}` : undefined;
    if (ipKey === undefined && principalKey === undefined) return noop;
    return this.#tryEnter(ip, principal, ipKey, principalKey, Date.now() + this.#maxWaitMs);
  }

  #tryEnter(ip: string, principal: string | undefined, ipKey: string | undefined, principalKey: string | undefined, deadline: number, settled = false): Release | Promise<Release> {
    const f = this.#failures;
    const ipRoom = ipKey === undefined ? undefined : this.#room(f.forIp(ip), f.ownForIp(ip));
    const pRoom = principalKey === undefined ? undefined : this.#room(f.forPrincipal(principal as string), f.ownForPrincipal(principal as string));
    // Past this worker's share the other workers' failures decide whether the allowance is spent: before checking one
    // more guess, it lets settleMs pass for the last of them to arrive (the caller looks at the lockout again then).
    if (!settled && this.#settleMs > 0 && (ipRoom?.pastShare === true || pRoom?.pastShare === true)) {
      return new Promise<void>((resolve) => setTimeout(resolve, this.#settleMs)).then(() => this.#tryEnter(ip, principal, ipKey, principalKey, deadline, true));
    }
    const blocked =
      ipKey !== undefined && (this.#inFlight.get(ipKey) ?? 0) >= (ipRoom?.room ?? 0)
        ? ipKey
        : principalKey !== undefined && (this.#inFlight.get(principalKey) ?? 0) >= (pRoom?.room ?? 0)
          ? principalKey
          : undefined;
    if (blocked === undefined) return this.#take(ipKey, principalKey);
    return this.#wait(blocked, deadline).then(() => this.#tryEnter(ip, principal, ipKey, principalKey, deadline, settled));
  }

  /**
   * Verifications that may be in flight for a key with `failures` counted (`own` of them in this process). One
   * process: the allowance left. Under workers (shares > 1), each worker also keeps to its share of the allowance,
   * ceil(max_failures / workers), less the failures it counted itself: the other workers' failures reach it a turn of
   * their event loop late, so its view of the allowance left can be stale, but its own count never is. Past the
   * allowance (a lockout that ended, failures not yet forgotten), or past its share, one at a time: the next failure,
   * or the others' failures arriving, lock before another starts. So the workers together check max_failures +
   * workers − 1 guesses before each has spent its share, and one more per worker for each of the others' failures
   * that reaches it later than settleMs.
   */
  #room(failures: number, own: number): { room: number; pastShare: boolean } {
    const max = this.#limits.maxFailures;
    const shares = this.#limits.shares ?? 1;
    const left = max - failures;
    if (shares <= 1) return { room: Math.max(1, left), pastShare: false };
    const share = Math.ceil(max / shares) - own;
    return { room: Math.max(1, Math.min(left, share)), pastShare: share <= 0 };
  }

  #take(ipKey: string | undefined, principalKey: string | undefined): Release {
    if (ipKey !== undefined) this.#inFlight.set(ipKey, (this.#inFlight.get(ipKey) ?? 0) + 1);
    if (principalKey !== undefined) this.#inFlight.set(principalKey, (this.#inFlight.get(principalKey) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (ipKey !== undefined) this.#leave(ipKey);
      if (principalKey !== undefined) this.#leave(principalKey);
    };
  }

  #leave(key: string): void {
    const n = (this.#inFlight.get(key) ?? 1) - 1;
    if (n <= 0) this.#inFlight.delete(key);
    else this.#inFlight.set(key, n);
    const waiting = this.#waiters.get(key);
    if (waiting === undefined) return;
    // Every waiter looks again (at most maxWaitingPerKey): the failure just counted may have spent the allowance.
    this.#waiters.delete(key);
    if (this.#settleMs === 0) {
      for (const w of waiting) w.wake();
      return;
    }
    setTimeout(() => {
      for (const w of waiting) w.wake();
    }, this.#settleMs);
  }

  #wait(key: string, deadline: number): Promise<void> {
    let set = this.#waiters.get(key);
    if (this.#waiting >= this.#maxWaiting || (set?.size ?? 0) >= this.#maxWaitingPerKey) throw busy();
    const left = deadline - Date.now();
    if (left <= 0) throw busy();
    if (set === undefined) this.#waiters.set(key, (set = new Set()));
    const waiters = set;
    this.#waiting++;
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        wake: () => {
          clearTimeout(timer);
          this.#waiting--;
          resolve();
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(w);
        if (waiters.size === 0 && this.#waiters.get(key) === waiters) this.#waiters.delete(key);
        this.#waiting--;
        reject(busy());
      }, left);
      timer.unref();
      waiters.add(w);
    });
  }
}

const noop: Release = () => undefined;
