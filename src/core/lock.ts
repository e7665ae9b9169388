/**
 * A cross-process lock on one file, for shared state several processes change: the audit log (the gateway, its
 * workers and CLI commands append to one file and one chain, one batch at a time) and the token key file (rotations
 * by operators and by gateway workers). Node has no flock, so the lock is a file created with O_EXCL holding the
 * owner's pid; a lock whose owner is dead (kill -9 while holding it) is stale and taken over.
 *
 * A lease, not a lock per batch: creating and unlinking the lock file costs about 30 µs, which per batch was most of
 * an audit record's cost on a busy gateway. So `relax()` after a batch keeps the lock while this process keeps
 * writing, and lets it go when (a) it was idle for IDLE_RELEASE_MS, (b) another process asks for it, or (c) the owner
 * closes. A process that finds the lock taken asks by writing its pid into `<lock>.want`; the holder looks for that
 * file at most every WANT_CHECK_MS, releases after its current batch and then stands back while the want file names a
 * live process, so a CLI command appending during heavy gateway traffic waits milliseconds, not until a timeout.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync, type BigIntStats } from 'node:fs';
import { GatehouseError } from './errors.js';

const STALE_EMPTY_MS = 5000;
/** A held lock is given back after this long without a batch. */
const IDLE_RELEASE_MS = 20;
/** How often a holder looks for another process's request. */
const WANT_CHECK_MS = 2;
/** How long a writer stands back for another's request before it competes anyway (a stopped waiter must not block it). */
const STAND_BACK_MS = 500;
/**
 * A waiter rewrites its request this often, so a request a holder once ignored (its writer seemed stopped) is a new
 * request again within this time: a live waiter cannot be ignored for good while a busy holder never goes idle.
 */
const WANT_REFRESH_MS = 100;

function ownerAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Locks this process holds, released synchronously if the process exits without closing its writer. */
const heldLocks = new Set<FileLock>();
let exitHook = false;
function track(lock: FileLock, held: boolean): void {
  if (held) heldLocks.add(lock);
  else heldLocks.delete(lock);
  if (!exitHook && held) {
    exitHook = true;
    process.once('exit', () => {
      for (const l of [...heldLocks]) l.release();
    });
  }
}

export class FileLock {
  readonly path: string;
  readonly wantPath: string;
  #held = false;
  #idle: NodeJS.Timeout | undefined;
  #nextWantCheck = 0;
  /** A request that went unanswered for STAND_BACK_MS: not deferred to again. */
  #ignoredWant: string | undefined;
  #nextOwnCheck = 0;
  /** The lock file this process created (device, inode, change time): a file put in its place differs in one of them. */
  #own: BigIntStats | undefined;

  readonly #idleMs: number;
  readonly #busy: (detail: string) => Error;

  /**
   * `idleMs`: how long a kept lock outlives its last batch (default IDLE_RELEASE_MS). `busy`: the error acquire()
   * throws when another live process keeps the lock past the timeout (default GH_STORE_UNAVAILABLE).
   */
  constructor(path: string, idleMs = IDLE_RELEASE_MS, busy: (detail: string) => Error = (detail) => new GatehouseError('GH_STORE_UNAVAILABLE', undefined, { detail })) {
    this.path = path;
    this.wantPath = `${path}.want`;
    this.#idleMs = idleMs;
    this.#busy = busy;
  }

  /**
   * Waits (up to timeoutMs) for the lock. Resolves true when this process still held it from an earlier batch (no
   * other process can have written since), false when it was taken now. Throws the constructor's `busy` error when
   * another live process keeps it past the timeout.
   */
  async acquire(timeoutMs = 10_000): Promise<boolean> {
    if (this.#held) {
      // No idle release while a batch is being written, however long the write takes: relax() re-arms it after.
      if (this.#idle) clearTimeout(this.#idle);
      this.#idle = undefined;
      if (this.#stillOurs()) return true;
      // The lock file no longer names us (two waiters raced for a stale lock, or it was removed by hand): stop
      // writing as its holder and take it again like any process, so the appender re-reads the head from disk.
      this.#held = false;
      track(this, false);
    }
    const started = Date.now();
    const deadline = started + timeoutMs;
    let asked = false;
    let askedAt = 0;
    try {
      for (let wait = 1; ; wait = Math.min(wait * 2, 20)) {
        // Another process asked first: stand back, unless that is us or it died. A request still there after
        // STAND_BACK_MS (its process stopped, say) is ignored from then on, here and in relax().
        const want = asked ? undefined : this.#othersWant();
        if (want !== undefined && Date.now() - started > STAND_BACK_MS) this.#ignoredWant = want;
        if (want === undefined || want === this.#ignoredWant) {
          try {
            const fd = openSync(this.path, 'wx', 0o600);
            try {
              writeSync(fd, String(process.pid));
              this.#own = fstatSync(fd, { bigint: true });
            } finally {
              closeSync(fd);
            }
            this.#held = true;
            track(this, true);
            this.#nextWantCheck = 0;
            this.#nextOwnCheck = Date.now() + WANT_CHECK_MS;
            return false;
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
          }
          if (this.#takeOverStale()) continue;
          if (!asked || Date.now() - askedAt >= WANT_REFRESH_MS) {
            writeFileSync(this.wantPath, String(process.pid), { mode: 0o600 });
            asked = true;
            askedAt = Date.now();
          }
        }
        if (Date.now() > deadline) {
          throw this.#busy(`another process holds the lock ${this.path}`);
        }
        await new Promise((r) => setTimeout(r, wait));
      }
    } finally {
      if (asked) this.#withdraw();
    }
  }

  /**
   * After a batch: keeps the lock for the next one, unless another process asked for it (then it is released now).
   * Released anyway after the idle time (IDLE_RELEASE_MS unless given) without a batch.
   */
  relax(): void {
    if (!this.#held) return;
    const now = Date.now();
    if (now >= this.#nextWantCheck) {
      this.#nextWantCheck = now + WANT_CHECK_MS;
      const want = this.#othersWant();
      if (want !== undefined && want !== this.#ignoredWant) {
        this.release();
        return;
      }
    }
    if (this.#idle) clearTimeout(this.#idle);
    this.#idle = setTimeout(() => this.release(), this.#idleMs);
    this.#idle.unref();
  }

  release(): void {
    if (this.#idle) clearTimeout(this.#idle);
    this.#idle = undefined;
    if (!this.#held) return;
    this.#held = false;
    track(this, false);
    try {
      unlinkSync(this.path);
    } catch {
      // Already taken over as stale: nothing to release.
    }
  }

  /**
   * The request in the want file when it names another live process, as "pid:mtime" (so a new request by the same
   * process is a new one); undefined otherwise. A want file left by a dead process is removed.
   */
  #othersWant(): string | undefined {
    if (!existsSync(this.wantPath)) return undefined;
    let text: string;
    let mtime: number;
    try {
      text = readFileSync(this.wantPath, 'utf8');
      mtime = statSync(this.wantPath).mtimeMs;
    } catch {
      return undefined;
    }
    const pid = /^\d{1,10}$/.test(text) ? Number(text) : undefined;
    if (pid === process.pid) return undefined;
    if (pid !== undefined && ownerAlive(pid)) return `${pid}:${mtime}`;
    try {
      unlinkSync(this.wantPath);
    } catch {
      // Gone already.
    }
    return undefined;
  }

  /** Removes our request (only if it is still ours: a later waiter may have written its own). */
  #withdraw(): void {
    try {
      if (readFileSync(this.wantPath, 'utf8') === String(process.pid)) unlinkSync(this.wantPath);
    } catch {
      // Gone already.
    }
  }

  /**
   * Whether the lock file is still the one this process created; looked at most every WANT_CHECK_MS while batches
   * flow. One stat(2), not a read of the file (open, fstat, read, close): the file is never written after it was
   * created, so a lock taken over (moved aside, then created anew by another process) differs in its inode or, where
   * the file system reused the inode number, in its change time (nanoseconds).
   */
  #stillOurs(): boolean {
    const now = Date.now();
    if (now < this.#nextOwnCheck) return true;
    this.#nextOwnCheck = now + WANT_CHECK_MS;
    const own = this.#own;
    let st: BigIntStats | undefined;
    try {
      st = statSync(this.path, { bigint: true, throwIfNoEntry: false });
    } catch {
      return false;
    }
    return own !== undefined && st !== undefined && st.ino === own.ino && st.dev === own.dev && st.ctimeNs === own.ctimeNs;
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
    // Our own pid on a lock no lock of ours holds was left by an earlier process that had the same pid: a restarted
    // container runs as pid 1 again, and would otherwise wait for itself at every start.
    const ours = pid === process.pid && ![...heldLocks].some((l) => l.path === this.path);
    const stale = pid === undefined ? age > STALE_EMPTY_MS : ours || (pid !== process.pid && !ownerAlive(pid));
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
