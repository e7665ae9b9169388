/**
 * A cross-process lock for appending to one audit log: the gateway and CLI commands (token mint, key rotation …)
 * append to the same file and the same chain, one batch at a time. Node has no flock, so the lock is a file
 * created with O_EXCL holding the owner's pid; a lock whose owner is dead (kill -9 while holding it) is stale and
 * taken over.
 */
import { closeSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { GatehouseError } from '../core/errors.js';

const STALE_EMPTY_MS = 5000;

function ownerAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class AppendLock {
  readonly path: string;
  #held = false;

  constructor(path: string) {
    this.path = path;
  }

  /** Waits (up to timeoutMs) for the lock. Throws GH_AUDIT_UNAVAILABLE when another live writer keeps it. */
  async acquire(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let wait = 1; ; wait = Math.min(wait * 2, 20)) {
      try {
        const fd = openSync(this.path, 'wx', 0o600);
        try {
          writeSync(fd, String(process.pid));
        } finally {
          closeSync(fd);
        }
        this.#held = true;
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      if (this.#takeOverStale()) continue;
      if (Date.now() > deadline) {
        throw new GatehouseError('GH_AUDIT_UNAVAILABLE', undefined, { detail: `another writer holds the audit lock ${this.path}` });
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  release(): void {
    if (!this.#held) return;
    this.#held = false;
    try {
      unlinkSync(this.path);
    } catch {
      // Already taken over as stale: nothing to release.
    }
  }

  /** Moves aside a lock whose owner is dead (or that stayed empty too long, its creator having died mid-create). */
  #takeOverStale(): boolean {
    let text: string;
    let age: number;
    try {
      text = readFileSync(this.path, 'utf8');
      age = Date.now() - statSync(this.path).mtimeMs;
    } catch {
      return true;
    }
    const pid = /^\d{1,10}$/.test(text) ? Number(text) : undefined;
    const stale = pid === undefined ? age > STALE_EMPTY_MS : pid !== process.pid && !ownerAlive(pid);
    if (!stale) return false;
    try {
      // rename is atomic: of several waiters that saw the same stale lock, one moves it.
      const aside = `${this.path}.stale-${process.pid}`;
      renameSync(this.path, aside);
      unlinkSync(aside);
    } catch {
      // Another waiter moved it first.
    }
    return true;
  }
}
