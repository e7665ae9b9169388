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
 *
 * The authenticator reserves a slot (reserve) before it looks the user or key up, so that a full pool refuses every
 * principal alike — unknown, argon2 and bcrypt — instead of only the ones with a bcrypt hash (an oracle for which
 * names exist: bcrypt-admission.ts). One client (core/net clientKey: an IPv4 address, an IPv6 /64) holds at most
 * maxPerClient slots, so that one address cannot fill the pool alone.
 */

/** Threads: one core is left to the event loop; at most 4 (libuv's default pool, which argon2 uses, is 4). */
export const BCRYPT_THREADS = Math.max(1, Math.min(4, availableParallelism() - 1));
/** Verifications running or queued per thread before more are refused: 16 cost-12 checks are about 4 s of waiting. */
export const BCRYPT_PENDING_PER_THREAD = 16;
/** Slots one client may hold at once (reserved or verifying): a few concurrent logins, not the pool. */
export const BCRYPT_PER_CLIENT = 4;

interface Job {
  resolve(ok: boolean): void;
  reject(e: Error): void;
  /** Gives the job's slot back (pool and client). */
  done(): void;
}

/** A slot reserved in the pool: used by one compare, or given back by release. */
export interface BcryptTicket {
  /** Verifies in the reserved slot, past no cap (it was checked at reserve); once — a second call throws TypeError. */
  compare(secret: string, hash: string): Promise<boolean>;
  /** Gives the slot back when compare was not called; otherwise (and a second time) does nothing. */
  release(): void;
  /**
   * The lookup found no bcrypt hash: the process-wide slot goes back (argon2 runs elsewhere and must not fill the
   * pool), the client's share stays held until release(), so a client's next request is refused alike whatever the
   * name it guessed has. Does nothing after compare or release, or a second time.
   */
  yieldGlobal(): void;
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

// One public answer for both caps (only the detail, kept for the audit record, tells them apart).
const busy = (detail: 'bcrypt_busy' | 'bcrypt_client_busy'): GatehouseError =>
  new GatehouseError('GH_RATE_LIMITED', 'Too many password verifications are in progress; try again shortly.', { detail, headers: { 'retry-after': '1' } });

export class BcryptPool {
  readonly threads: number;
  readonly maxPending: number;
  readonly maxPerClient: number;
  readonly #slots: Slot[] = [];
  /** Slots held per client key (reserved or verifying); a Map, so a key like `__proto__` is only a key. */
  readonly #perClient = new Map<string, number>();
  #pending = 0;
  #nextId = 1;
  #source: string | undefined;
  /** Threads that answered a verification (a test seam: the main thread must never be among them). */
  readonly threadIds = new Set<number>();

  constructor(opts: { threads?: number; maxPending?: number; maxPerClient?: number } = {}) {
    this.threads = opts.threads ?? BCRYPT_THREADS;
    this.maxPending = opts.maxPending ?? this.threads * BCRYPT_PENDING_PER_THREAD;
    this.maxPerClient = opts.maxPerClient ?? BCRYPT_PER_CLIENT;
    if (!Number.isInteger(this.threads) || this.threads < 1) throw new TypeError('threads must be a positive integer');
    if (!Number.isInteger(this.maxPending) || this.maxPending < 1) throw new TypeError('maxPending must be a positive integer');
    if (!Number.isInteger(this.maxPerClient) || this.maxPerClient < 1) throw new TypeError('maxPerClient must be a positive integer');
  }

  /** Slots held now: verifications running or queued, and reservations not yet used. */
  get pending(): number {
    return this.#pending;
  }

  /** Slots one client key holds now. */
  heldBy(client: string): number {
    return this.#perClient.get(client) ?? 0;
  }

  /**
   * Reserves a slot for `client` (a clientKey; undefined: counted against the pool's cap only). Throws GH_RATE_LIMITED
   * (synchronously) when maxPending slots are held, or when the client holds maxPerClient.
   */
  reserve(client?: string): BcryptTicket {
    if (this.#pending >= this.maxPending) throw busy('bcrypt_busy');
    if (client !== undefined && this.heldBy(client) >= this.maxPerClient) throw busy('bcrypt_client_busy');
    this.#pending++;
    if (client !== undefined) this.#perClient.set(client, this.heldBy(client) + 1);
    let state: 'reserved' | 'used' | 'released' = 'reserved';
    let global = true;
    const done = (): void => {
      if (global) this.#pending--;
      global = false;
      if (client === undefined) return;
      const n = this.heldBy(client) - 1;
      if (n <= 0) this.#perClient.delete(client);
      else this.#perClient.set(client, n);
    };
    return {
      compare: (secret, hash) => {
        if (state !== 'reserved') throw new TypeError('a bcrypt ticket verifies once, before it is released');
        state = 'used';
        try {
          return this.#run(secret, hash, done);
        } catch (e) {
          // No thread took the job (bcryptjs unresolvable, no thread to start): its slot must not stay counted, or
          // sixteen such failures would leave the pool full for good.
          done();
          throw e;
        }
      },
      release: () => {
        if (state !== 'reserved') return;
        state = 'released';
        done();
      },
      yieldGlobal: () => {
        if (state !== 'reserved' || !global) return;
        global = false;
        this.#pending--;
      },
    };
  }

  /**
   * Whether `secret` matches the bcrypt `hash`, computed in a worker thread. Throws GH_RATE_LIMITED (synchronously)
   * when maxPending verifications already run or wait; rejects when the worker fails (the caller answers no).
   */
  compare(secret: string, hash: string): Promise<boolean> {
    return this.reserve().compare(secret, hash);
  }

  #run(secret: string, hash: string, done: () => void): Promise<boolean> {
    const slot = this.#pick();
    const id = this.#nextId++;
    if (slot.jobs.size === 0) slot.worker.ref();
    return new Promise<boolean>((resolve, reject) => {
      slot.jobs.set(id, { resolve, reject, done });
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
      job.done();
      if (slot.jobs.size === 0) worker.unref();
      this.threadIds.add(m.threadId);
      job.resolve(m.ok === true);
    });
    const fail = (): void => {
      const i = this.#slots.indexOf(slot);
      if (i !== -1) this.#slots.splice(i, 1);
      for (const job of slot.jobs.values()) {
        job.done();
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
