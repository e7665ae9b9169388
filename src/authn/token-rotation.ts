/**
 * Automatic rotation of the state directory's token signing keys (auth.token.rotation; seed 000 roadmap "Key rotation
 * automation", seed 001 "Rotate tokens monthly" and "Automated token rotation"). The gateway looks at start and then
 * every min(every / 10, 1h) whether the signing key is `every` old; rotateTokenSecretIfDue decides again under the
 * key file's lock, so of several gateway workers (or gateways sharing a state directory) exactly one rotates.
 */
import type { GatehouseConfig } from '../config/index.js';
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { formatDuration } from '../core/durations.js';
import type { AuditEmitter, Logger } from '../core/types.js';
import { rotateTokenSecretIfDue, type RotationResult } from './token-keys.js';
import type { TokenService } from './tokens.js';

/** The longest wait between two looks: a due rotation happens at most this late (or every / 10, when shorter). */
export const MAX_ROTATION_CHECK_MS = 3_600_000;

export interface TokenRotationPolicy {
  everyMs: number;
  overlapMs: number;
}

/**
 * auth.token.rotation as the gateway applies it: undefined without `every`, or when the secret comes from
 * configuration (the schema refuses that pairing; a library caller's hand-built config is not rotated either).
 * The overlap defaults to max_ttl.default, as `token rotate-secret`'s: every token minted before lives out its lifetime.
 */
export function tokenRotationPolicy(cfg: GatehouseConfig): TokenRotationPolicy | undefined {
  const t = cfg.auth.token;
  if (t.rotation.every === undefined || t.secret !== undefined) return undefined;
  return { everyMs: t.rotation.every, overlapMs: t.rotation.overlap ?? t.max_ttl.default };
}

/** How often the gateway looks: a tenth of `every` (so a rotation is at most 10% late), at most hourly. */
export const rotationCheckInterval = (everyMs: number): number => Math.max(1000, Math.min(Math.floor(everyMs / 10), MAX_ROTATION_CHECK_MS));

export interface TokenKeyRotatorOptions extends TokenRotationPolicy {
  stateDir: string;
  clock?: Clock;
  /** token.key.rotate is recorded here (subject `gateway`, metadata.automatic: true). */
  audit?: AuditEmitter;
  logger?: Logger;
  /** This process's token service: it signs with the new key at once, and keeps verifying the old ones. */
  tokens?: TokenService;
  /** Who rotated, for the audit record (default `gateway`). */
  subject?: string;
  /** Between looks (default rotationCheckInterval(everyMs)). */
  checkEveryMs?: number;
  /** How long a look waits for another process's change of the key file (default 5 s). */
  lockTimeoutMs?: number;
}

export class TokenKeyRotator {
  readonly #o: TokenKeyRotatorOptions;
  readonly #clock: Clock;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<RotationResult | undefined> | undefined;
  #closed = false;

  constructor(opts: TokenKeyRotatorOptions) {
    this.#o = opts;
    this.#clock = opts.clock ?? systemClock;
  }

  /** The first look (awaited, so a gateway starts on a current key), then one every checkEveryMs on an unref'd timer. */
  async start(): Promise<void> {
    await this.checkNow();
    if (this.#closed || this.#timer) return;
    this.#timer = setInterval(() => void this.checkNow(), this.#o.checkEveryMs ?? rotationCheckInterval(this.#o.everyMs));
    this.#timer.unref();
  }

  /**
   * Rotates when due; the rotation, or undefined. Never rejects: a failure (the lock held past its timeout, an
   * unreadable key file) is logged, the current key keeps signing and the next look tries again. Looks do not overlap.
   */
  checkNow(): Promise<RotationResult | undefined> {
    if (this.#closed) return Promise.resolve(undefined);
    this.#running ??= this.#check().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #check(): Promise<RotationResult | undefined> {
    const o = this.#o;
    let r: RotationResult | undefined;
    try {
      r = await rotateTokenSecretIfDue(o.stateDir, { everyMs: o.everyMs, overlapMs: o.overlapMs, clock: this.#clock, ...(o.lockTimeoutMs !== undefined ? { lockTimeoutMs: o.lockTimeoutMs } : {}) });
    } catch (e) {
      o.logger?.error({ event: 'token.key.rotate', code: (e as { code?: unknown }).code ?? 'GH_INTERNAL' }, 'automatic token key rotation failed; the current key keeps signing');
      return undefined;
    }
    if (r === undefined) return undefined;
    try {
      o.tokens?.reloadKeysIfChanged();
    } catch {
      // Unreadable just after our own write: the authenticator's once-a-second reload picks it up.
    }
    o.logger?.info({ event: 'token.key.rotate', kid: r.kid, previous: r.previous, overlap: formatDuration(o.overlapMs) }, 'token signing key rotated (auth.token.rotation)');
    try {
      await o.audit?.emit({
        event_type: 'token.key.rotate',
        result_status: 'success',
        subject: o.subject ?? 'gateway',
        action: 'rotate',
        metadata: { kid: r.kid, overlap: formatDuration(o.overlapMs), overlapping: r.overlapping.map((k) => k.kid), retired: r.retired, automatic: true, every: formatDuration(o.everyMs) },
      });
    } catch (e) {
      // The rotation is done (the file is written): refusing it now would not undo it.
      o.logger?.error({ event: 'token.key.rotate', code: (e as { code?: unknown }).code ?? 'GH_INTERNAL', kid: r.kid }, 'audit: the token.key.rotate record could not be written');
    }
    return r;
  }

  /** Stops the timer and waits for a look in progress (it may hold the key file's lock). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
