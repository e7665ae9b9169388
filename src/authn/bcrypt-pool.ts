import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { GatehouseError } from '../core/errors.js';

/**
 * bcrypt verification off the main thread. bcryptjs is pure JavaScript: a cost-12 check holds the thread that runs
 * it for about 270 ms, and on the event loop a handful of unauthenticated guesses against an imported bcrypt hash
 * froze every other request (/healthz included). argon2 already runs on libuv's pool. Here a few worker threads run
 * bcryptjs, and the verifications waiting for them are capped process-wide: past the cap a verification is refused
 * at once (429 GH_RATE_LIMITED, Retry-After) instead of queueing without bound — fail closed, nothing verified.
 * No native dependency: `bcrypt` (node-gyp) would need a toolchain wherever Gatehouse is installed.
 */

/** Threads: one core is left to the event loop; at most 4 (libuv's default pool, which argon2 uses, is 4). */
export const BCRYPT_THREADS = Math.max(1, Math.min(4, availableParallelism() - 1));
/** Verifications running or queued per thread before more are refused: 16 cost-12 checks are about 4 s of waiting. */
export const BCRYPT_PENDING_PER_THREAD = 16;

interface Job {
  resolve(ok: boolean): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  jobs: Map<number, Job>;
}

/** The worker's source: CommonJS, evaluated (no file to find beside src/ or dist/, no TypeScript loader needed). */
const workerSource = (bcryptPath: string): string => `
const { parentPort, threadId } = require('node:worker_threads');
const bcrypt = require(${JSON.stringify(bcryptPath)});
parentPort.on('message', (m) => {
  let ok = false;
  try { ok = bcrypt.compareSync(m.secret, m.hash) === true; } catch { ok = false; }
  parentPort.postMessage({ id: m.id, ok, threadId });
});
`;

const busy = (): GatehouseError =>
  new GatehouseError('GH_RATE_LIMITED', 'Too many password verifications are in progress; try again shortly.', { detail: 'bcrypt_busy', headers: { 'retry-after': '1' } });

export class BcryptPool {
  readonly threads: number;
  readonly maxPending: number;
  readonly #slots: Slot[] = [];
  #pending = 0;
  #nextId = 1;
  #source: string | undefined;
  /** Threads that answered a verification (a test seam: the main thread must never be among them). */
  readonly threadIds = new Set<number>();

  constructor(opts: { threads?: number; maxPending?: number } = {}) {
    this.threads = opts.threads ?? BCRYPT_THREADS;
    this.maxPending = opts.maxPending ?? this.threads * BCRYPT_PENDING_PER_THREAD;
    if (!Number.isInteger(this.threads) || this.threads < 1) throw new TypeError('threads must be a positive integer');
    if (!Number.isInteger(this.maxPending) || this.maxPending < 1) throw new TypeError('maxPending must be a positive integer');
  }

  /** Verifications running or queued now. */
  get pending(): number {
    return this.#pending;
  }

  /**
   * Whether `secret` matches the bcrypt `hash`, computed in a worker thread. Throws GH_RATE_LIMITED (synchronously)
   * when maxPending verifications already run or wait; rejects when the worker fails (the caller answers no).
   */
  compare(secret: string, hash: string): Promise<boolean> {
    if (this.#pending >= this.maxPending) throw busy();
    const slot = this.#pick();
    const id = this.#nextId++;
    this.#pending++;
    if (slot.jobs.size === 0) slot.worker.ref();
    return new Promise<boolean>((resolve, reject) => {
      slot.jobs.set(id, { resolve, reject });
      slot.worker.postMessage({ id, secret, hash });
    });
  }

  /** Ends the threads; verifications in flight fail. */
  async close(): Promise<void> {
    const slots = this.#slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  /** The least busy thread, started when every running one has work and there is room for another. */
  #pick(): Slot {
    let best: Slot | undefined;
    for (const s of this.#slots) if (best === undefined || s.jobs.size < best.jobs.size) best = s;
    if (best !== undefined && (best.jobs.size === 0 || this.#slots.length >= this.threads)) return best;
    return this.#spawn();
  }

  #spawn(): Slot {
    this.#source ??= workerSource(createRequire(import.meta.url).resolve('bcryptjs'));
    // execArgv: [] — the parent's loaders (tsx under test) are not needed by plain CommonJS.
    const worker = new Worker(this.#source, { eval: true, execArgv: [] });
    const slot: Slot = { worker, jobs: new Map() };
    // Idle threads do not keep the process alive; a thread with work does (compare() refs it).
    worker.unref();
    worker.on('message', (m: { id: number; ok: boolean; threadId: number }) => {
      const job = slot.jobs.get(m.id);
      if (job === undefined) return;
      slot.jobs.delete(m.id);
      this.#pending--;
      if (slot.jobs.size === 0) worker.unref();
      this.threadIds.add(m.threadId);
      job.resolve(m.ok === true);
    });
    const fail = (): void => {
      const i = this.#slots.indexOf(slot);
      if (i !== -1) this.#slots.splice(i, 1);
      for (const job of slot.jobs.values()) {
        this.#pending--;
        job.reject(new Error('bcrypt worker ended'));
      }
      slot.jobs.clear();
    };
    worker.on('error', fail);
    worker.on('exit', fail);
    this.#slots.push(slot);
    return slot;
  }
}

let shared: BcryptPool | undefined;

/** The process's pool, started on first use. */
export function bcryptPool(): BcryptPool {
  shared ??= new BcryptPool();
  return shared;
}
