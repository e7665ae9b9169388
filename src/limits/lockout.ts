import type { Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { clientKey, ipMatcher, normalizeIp } from '../core/net.js';
import { readChanges, type StateStore } from '../core/store.js';
import type { AuditEmitter, Logger } from '../core/types.js';
import type { LimitsConfig } from '../config/index.js';
import { NS_LOCKOUTS, lockoutKey, subjectOf, type LockoutKind, type LockoutRecord } from './lockout-store.js';

/** One failed authentication as authn counts it (authn's FailureEvent, read structurally). */
export interface FailureNotice {
  ip: string;
  principal: string | undefined;
  ipCount: number;
  principalCount: number | undefined;
  /** Counted by another worker: its counts after that failure (see onFailure). */
  peer?: { ipCount: number; principalCount: number | undefined };
}

/**
 * Failures this worker counted, for the others (server.workers): [client address, claimed principal or null, this
 * worker's count for the address after it, and for the principal or null].
 */
export type FailureShare = Array<[string, string | null, number, number | null]>;

/** Failures in one message; more go in further messages. */
const SHARE_BATCH = 4096;
const MAX_SHARED_IP = 64;
const MAX_SHARED_PRINCIPAL = 1024;

/**
 * Lockout after failed authentications (ARCHITECTURE.md's throttle: "lockout after auth failures"). authn counts the
 * failures per client and claimed principal within `window`; at `max_failures` the client (or principal) is locked
 * for `duration`: every request from it is refused before its credential is looked at, so a correct guess made
 * while locked gains nothing. Lockouts are written to the state store and read back from its change feed, so
 * workers, other gateways and the CLI share them; the hot path is one Map lookup, and none when nothing is locked.
 */
export class Lockouts {
  readonly #cfg: LimitsConfig['lockout'];
  readonly #store: StateStore;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #audit: AuditEmitter | undefined;
  readonly #exempt: (ip: string) => boolean;
  /** key → until (ms since the epoch). */
  readonly #active = new Map<string, number>();
  #seq = 0;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #feedHealthy = true;
  readonly #listeners: Array<(key: string, locked: boolean) => void> = [];
  /** Lockouts made here, not yet written: flushed together (one transaction) on the next turn of the event loop. */
  #unsaved = new Map<string, LockoutRecord>();
  #flushScheduled = false;
  /** Under server.workers: where this worker's failures go (the supervisor), and those not sent yet. */
  #shareSink: ((batch: FailureShare) => void) | undefined;
  #shareOut: FailureShare = [];
  #shareScheduled = false;
  readonly #peerListeners: Array<(ip: string, principal: string | undefined, counts: { ipCount: number; principalCount: number | undefined }) => void> = [];

  constructor(cfg: LimitsConfig['lockout'], deps: { store: StateStore; clock: Clock; logger: Logger; audit?: AuditEmitter }) {
    this.#cfg = cfg;
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#audit = deps.audit;
    this.#exempt = ipMatcher(cfg.exempt);
  }

  /** Loads the lockouts in force, then follows the store's change feed. The first load must succeed (fail closed). */
  async start(): Promise<void> {
    this.#seq = await this.#store.headSeq(NS_LOCKOUTS);
    for (const e of await this.#store.list<LockoutRecord>(NS_LOCKOUTS)) this.#active.set(e.key, e.value.until);
    this.#timer = setInterval(() => void this.poll(), this.#cfg.poll);
    this.#timer.unref();
  }

  /**
   * Refuses (GH_LOCKED_OUT, Retry-After) a client that is locked out. An exempt address never is: a lockout is keyed
   * by the IPv6 /64, and a neighbour's failures in the prefix must not lock out the host an operator vouched for.
   */
  checkIp(sourceIp: string): void {
    if (this.#active.size === 0) return;
    // Normalised as lockoutKey() keys it, so ::ffff:a.b.c.d is refused as a.b.c.d (onFailure locked it so).
    const ip = normalizeIp(sourceIp);
    const key = `ip:${clientKey(ip)}`;
    if (!this.#active.has(key) || this.#exempt(ip)) return;
    this.#refuseIfLocked(key);
  }

  /** Refuses a credential that claims a locked principal (before it is verified). */
  checkPrincipal(claimed: string | undefined): void {
    if (this.#active.size === 0 || claimed === undefined) return;
    this.#refuseIfLocked(`principal:${claimed}`);
  }

  #refuseIfLocked(key: string): void {
    const until = this.#active.get(key);
    if (until === undefined) return;
    const left = until - this.#clock.now();
    if (left <= 0) {
      this.#active.delete(key);
      return;
    }
    throw new GatehouseError('GH_LOCKED_OUT', undefined, {
      detail: `locked_out:${key.slice(0, key.indexOf(':'))}`,
      headers: { 'retry-after': String(Math.ceil(left / 1000)) },
      data: { retry_after: Math.ceil(left / 1000) },
    });
  }

  /**
   * Hears of every lockout begun (here or elsewhere) or lifted, by key (`ip:…`, `principal:…`). The gateway clears
   * authn's failure count then: a client unlocked by an operator starts afresh instead of being locked again by its
   * next failure, and one whose lockout ends has paid for the failures that caused it.
   */
  onChange(fn: (key: string, locked: boolean) => void): void {
    this.#listeners.push(fn);
  }

  #emit(key: string, locked: boolean): void {
    for (const fn of this.#listeners) fn(key, locked);
  }

  /** Called for every counted authentication failure (authn's FailureCounter listener). */
  onFailure(e: FailureNotice): void {
    const max = this.#cfg.max_failures;
    const per = this.#cfg.per;
    const peer = e.peer;
    if (peer === undefined && this.#shareSink) this.#share(e);
    // A lockout reached through another worker's failure is that worker's to store, log and audit when its own count
    // reached the limit too (it locked when it counted the failure); here it holds at once, without waiting for the
    // store's feed. When the other worker's count was short of it (failures in both workers at the same moment, each
    // before hearing of the other's), this worker is the one that saw the limit reached, and makes the lockout.
    if (per.includes('ip') && e.ipCount >= max && e.ip !== '' && !this.#exempt(normalizeIp(e.ip))) this.#lockFor('ip', e.ip, e.ipCount, peer !== undefined && peer.ipCount >= max);
    if (per.includes('principal') && e.principal !== undefined && (e.principalCount ?? 0) >= max) this.#lockFor('principal', e.principal, e.principalCount ?? max, peer !== undefined && (peer.principalCount ?? 0) >= max);
  }

  /**
   * Under server.workers: every failure counted here is sent to `sink` (the supervisor, which passes it to the other
   * workers) on the next turn of the event loop, so the workers' failures draw on one allowance. Without this each
   * worker would allow max_failures of its own.
   */
  shareFailures(sink: (batch: FailureShare) => void): void {
    this.#shareSink = sink;
  }

  /** Hears of each failure another worker reported (applyPeerFailures): the gateway charges it to authn's counts. */
  onPeerFailure(fn: (ip: string, principal: string | undefined, counts: { ipCount: number; principalCount: number | undefined }) => void): void {
    this.#peerListeners.push(fn);
  }

  /**
   * Failures another worker counted, as its shareFailures sink sent them. Malformed entries are skipped: the message
   * comes from the supervisor, but it is read as untrusted input all the same.
   */
  applyPeerFailures(batch: unknown): void {
    if (!Array.isArray(batch)) return;
    const n = Math.min(batch.length, SHARE_BATCH);
    for (let i = 0; i < n; i++) {
      const entry: unknown = batch[i];
      if (!Array.isArray(entry) || entry.length !== 4) continue;
      const [ip, principal, ipCount, principalCount] = entry as [unknown, unknown, unknown, unknown];
      if (typeof ip !== 'string' || ip.length > MAX_SHARED_IP || !isCount(ipCount)) continue;
      if (principal === null ? principalCount !== null : typeof principal !== 'string' || principal.length > MAX_SHARED_PRINCIPAL || !isCount(principalCount)) continue;
      const claimed = principal === null ? undefined : (principal as string);
      const counts = { ipCount, principalCount: claimed === undefined ? undefined : (principalCount as number) };
      for (const fn of this.#peerListeners) fn(ip, claimed, counts);
    }
  }

  #share(e: FailureNotice): void {
    if (e.ip.length > MAX_SHARED_IP) return; // not an address; nothing to charge it to elsewhere
    const principal = e.principal === undefined || e.principal.length > MAX_SHARED_PRINCIPAL ? null : e.principal;
    this.#shareOut.push([e.ip, principal, e.ipCount, principal === null ? null : (e.principalCount ?? 0)]);
    if (this.#shareScheduled) return;
    this.#shareScheduled = true;
    setImmediate(() => this.#sendShared());
  }

  #sendShared(): void {
    this.#shareScheduled = false;
    const out = this.#shareOut;
    this.#shareOut = [];
    const sink = this.#shareSink;
    if (!sink) return;
    for (let i = 0; i < out.length; i += SHARE_BATCH) {
      try {
        sink(out.slice(i, i + SHARE_BATCH));
      } catch {
        this.#logger.error({ event: 'limits.failures_unshared', count: out.length - i }, 'failed authentications could not be sent to the other workers');
        return;
      }
    }
  }

  #lockFor(kind: LockoutKind, subject: string, failures: number, holdOnly: boolean): void {
    let key: string;
    try {
      key = lockoutKey(kind, subject);
    } catch {
      return; // a claimed principal that no operator could name (spaces, control characters): the IP lockout stands
    }
    const now = this.#clock.now();
    if ((this.#active.get(key) ?? 0) > now) return;
    const rec: LockoutRecord = { kind, subject: subjectOf(key), since: now, until: now + this.#cfg.duration, reason: 'failures', failures };
    // In force here at once; the store write shares it and may fail without lifting it here (fail closed).
    this.#active.set(key, rec.until);
    this.#emit(key, true);
    // Another worker, which counted the same failures, stores, logs and audits it (onFailure).
    if (holdOnly) return;
    this.#logger.warn({ event: 'limits.lockout', kind, subject: rec.subject, failures, until: new Date(rec.until).toISOString() }, 'locked out after failed authentications');
    this.#save(key, rec);
    // Runs inside authn's failure count: nothing thrown here may turn the client's 401 into a 500.
    const unaudited = (): void => this.#logger.error({ event: 'limits.lockout_unaudited', kind }, 'a lockout could not be audited');
    try {
      this.#audit?.emit({
        event_type: 'limits.lockout',
        result_status: 'denied',
        ...(kind === 'principal' ? { subject: rec.subject } : { source_ip: rec.subject }),
        metadata: { kind, failures, window_ms: this.#cfg.window, until: new Date(rec.until).toISOString() },
      }).catch(unaudited);
    } catch {
      unaudited();
    }
  }

  /**
   * Cheap failures (bad bearer tokens) from many addresses can make many lockouts a second; written one by one, each
   * would be a commit and an fsync on the event loop. They are gathered and written in one transaction per turn.
   */
  #save(key: string, rec: LockoutRecord): void {
    this.#unsaved.set(key, rec);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => void this.#flush());
  }

  async #flush(): Promise<void> {
    this.#flushScheduled = false;
    const batch = this.#unsaved;
    if (batch.size === 0) return;
    this.#unsaved = new Map();
    const entries = [...batch].map(([key, rec]) => ({ key, value: rec, ttlMs: Math.max(1, rec.until - rec.since) }));
    try {
      await this.#store.putMany(NS_LOCKOUTS, entries);
    } catch {
      this.#logger.error({ event: 'limits.lockout_unsaved', count: entries.length }, 'lockouts could not be written to the state store; they hold in this process only');
    }
  }

  /** Lockouts in force in this process, by key → until. */
  snapshot(): Map<string, number> {
    const now = this.#clock.now();
    for (const [k, until] of this.#active) if (until <= now) this.#active.delete(k);
    return new Map(this.#active);
  }

  get feedHealthy(): boolean {
    return this.#feedHealthy;
  }

  poll(): Promise<void> {
    this.#polling ??= this.#pollOnce().finally(() => {
      this.#polling = undefined;
    });
    return this.#polling;
  }

  async #pollOnce(): Promise<void> {
    try {
      this.#seq = await readChanges<LockoutRecord>(this.#store, NS_LOCKOUTS, this.#seq, (c) => {
        // Deleted (lifted by an operator, or expired and purged): no longer in force.
        if (c.value === undefined) {
          this.#active.delete(c.key);
          this.#emit(c.key, false);
        } else {
          this.#active.set(c.key, c.value.until);
          this.#emit(c.key, true);
        }
      });
      if (!this.#feedHealthy) this.#logger.info({ event: 'limits.lockout_feed_recovered' }, 'lockout feed recovered');
      this.#feedHealthy = true;
    } catch {
      if (this.#feedHealthy) this.#logger.error({ event: 'limits.lockout_feed_failed' }, 'cannot read lockouts from the state store');
      this.#feedHealthy = false;
    }
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#polling;
    await this.#flush();
  }
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
