/**
 * Worker processes (`server.workers`): the gateway on every core. The `gatehouse serve` process becomes a supervisor
 * that forks N workers with Node's cluster module; they share one listening socket, which the supervisor hands
 * connections from round-robin. Each worker runs the whole gateway (startGateway); what they share goes through the
 * state directory, as several gateways on one state directory already do: the SQLite store (approvals, revocations,
 * API keys, usage counts, each update in an immediate transaction) and the audit chain (appended under its
 * cross-process lock, so the chain stays one chain).
 *
 * The supervisor starts worker 1 alone, so a first start's generated state (dev CA, signing secrets, store schema)
 * is created once, then the rest. It forwards SIGTERM/SIGINT as a drain, starts a new worker in place of one that
 * dies, and gives up, draining the others, when workers keep dying (a crash loop must not spin forever). It records
 * the gateway's start and stop in the audit trail once for all the workers, and passes SIGHUP on (log.file reopen).
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Writable } from 'node:stream';
import type { GatehouseConfig } from '../config/index.js';
import { GatehouseError } from '../core/errors.js';
import type { FailureShare, RateUsage } from '../limits/index.js';
import { checkSnapshot, type CollectedSnapshot, type MetricsSnapshot } from './metrics.js';

/** Set in each worker's environment as `INDEX/COUNT` (1-based). */
export const WORKER_ENV = 'GATEHOUSE_WORKER';

/** The number of worker processes `server.workers` asks for ('auto' = one per CPU). */
export function workerCount(setting: number | 'auto'): number {
  return setting === 'auto' ? Math.max(1, availableParallelism()) : setting;
}

export interface WorkerIdentity {
  index: number;
  count: number;
}

/** This process's place among the workers, when it is one (forked by supervise()). */
export function currentWorker(env: NodeJS.ProcessEnv = process.env): WorkerIdentity | undefined {
  if (!cluster.isWorker) return undefined;
  const m = /^([1-9]\d{0,2})\/([1-9]\d{0,2})$/.exec(env[WORKER_ENV] ?? '');
  if (!m) return undefined;
  const index = Number(m[1]);
  const count = Number(m[2]);
  return index <= count ? { index, count } : undefined;
}

/**
 * In a worker: the configuration the supervisor loaded (SuperviseOptions.config). GH_INTERNAL when it does not come
 * within `timeoutMs` or the channel to the supervisor is gone: a worker never falls back to reading the file itself.
 */
/**
 * A live worker's counts (rate and bandwidth keys owed, failed authentications), through the supervisor; undefined
 * when no other worker serves yet (the first start) or none answers in time. A replacement worker takes them over
 * before it serves, so that a worker's death gives no key a fresh allowance.
 */
export function stateFromSupervisor(timeoutMs = 3000, proc: NodeJS.Process = process): Promise<unknown> {
  return new Promise((resolve) => {
    const done = (state: unknown): void => {
      clearTimeout(timer);
      proc.off('message', onMessage);
      resolve(state);
    };
    const onMessage = (m: unknown): void => {
      if (isMessage(m, 'peer-state')) done((m as { state?: unknown }).state);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    proc.on('message', onMessage);
    if (!proc.connected || !proc.send) return done(undefined);
    proc.send({ gatehouse: 'peer-state?' } satisfies WorkerMessage);
  });
}

export function configFromSupervisor(timeoutMs = 10_000, proc: NodeJS.Process = process): Promise<GatehouseConfig> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      proc.off('message', onMessage);
      proc.off('disconnect', onGone);
    };
    const onMessage = (m: unknown): void => {
      if (!isMessage(m, 'config')) return;
      done();
      resolve((m as { config: GatehouseConfig }).config);
    };
    const onGone = (): void => {
      done();
      reject(new GatehouseError('GH_INTERNAL', undefined, { detail: 'the supervisor is gone: no configuration to serve' }));
    };
    const timer = setTimeout(() => {
      done();
      reject(new GatehouseError('GH_INTERNAL', undefined, { detail: `no configuration from the supervisor within ${timeoutMs} ms` }));
    }, timeoutMs);
    proc.on('message', onMessage);
    proc.once('disconnect', onGone);
    if (!proc.connected || !proc.send) return onGone();
    proc.send({ gatehouse: 'config?' } satisfies WorkerMessage);
  });
}

/**
 * The configuration one worker enforces. Connection limits are per process, so each worker gets its share
 * (rounded up): with round-robin hand-out the workers together admit at most limit + count − 1 connections, and a
 * client's connections spread over the workers as everyone's do. Each worker spools its HTTP audit sink batches in a
 * spool of its own (audit/sinks), so each gets its share of spool_max_bytes as well.
 */
export function workerConfig(cfg: GatehouseConfig, count: number): GatehouseConfig {
  if (count <= 1) return cfg;
  const limits = cfg.server.limits;
  const connRate = cfg.limits.connection_rate_limit;
  return {
    ...cfg,
    server: {
      ...cfg.server,
      limits: { ...limits, max_connections: Math.ceil(limits.max_connections / count), max_connections_per_ip: Math.ceil(limits.max_connections_per_ip / count) },
    },
    // New connections are handed out round-robin too: each worker admits its share of a client's connection rate.
    // (Request rate limits are not divided: workers share their counts instead, limits.sync_interval.)
    limits: connRate ? { ...cfg.limits, connection_rate_limit: { ...connRate, limit: Math.ceil(connRate.limit / count) } } : cfg.limits,
    audit: { ...cfg.audit, sinks: cfg.audit.sinks.map((s) => (s.type === 'http' ? { ...s, spool_max_bytes: Math.ceil(s.spool_max_bytes / count) } : s)) },
  };
}

/** An error for the supervisor's stderr: a GatehouseError's code and secret-free message, else only its code. */
function describe(e: unknown): string {
  if (e instanceof GatehouseError) return `${e.code}: ${e.message}`;
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code.slice(0, 32) : 'error';
}

/** Messages between the supervisor and its workers (over the cluster IPC channel). */
export type WorkerMessage =
  | { gatehouse: 'ready'; url: string }
  | { gatehouse: 'shutdown' }
  | { gatehouse: 'config?' }
  | { gatehouse: 'config'; config: GatehouseConfig }
  | { gatehouse: 'alert'; record: Record<string, unknown> }
  /** Rate-limit admissions and bandwidth bytes of one worker since its last report; the supervisor passes them on. */
  | { gatehouse: 'rate-usage'; usage: RateUsage }
  /** Failed authentications one worker counted, sent on the next turn of its event loop; passed on like rate-usage. */
  | { gatehouse: 'auth-failures'; failures: FailureShare }
  | { gatehouse: 'ticket-keys'; keys: Uint8Array }
  /** SIGHUP reached the supervisor: reopen the log files (logrotate renamed them). */
  | { gatehouse: 'reopen-logs' }
  /** A scrape of the supervisor's metrics listener: each worker answers with its counts. */
  | { gatehouse: 'metrics?'; id: number }
  /** A starting worker asks for a live worker's counts (a replacement takes over what the others count). */
  | { gatehouse: 'peer-state?' }
  | { gatehouse: 'peer-state'; state: unknown }
  /** The supervisor asks a live worker for its counts (Gateway.workerState), on behalf of a starting one. */
  | { gatehouse: 'state?'; id: number }
  | { gatehouse: 'state'; id: number; state: unknown }
  | { gatehouse: 'metrics'; id: number; snapshot: MetricsSnapshot | undefined };

const isMessage = (m: unknown, kind: WorkerMessage['gatehouse']): boolean =>
  typeof m === 'object' && m !== null && (m as { gatehouse?: unknown }).gatehouse === kind;

export interface SuperviseOptions {
  count: number;
  /**
   * The configuration every worker runs, loaded once by the supervisor. Workers ask for it instead of reading the
   * file, so a worker started later (in place of one that died) enforces what the others enforce, even when the
   * file was edited (or broken) since the start.
   */
  config: GatehouseConfig;
  /** The module each worker runs, with its arguments (the same `serve` command line). */
  exec: string;
  args: string[];
  execArgv: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** server.shutdown_timeout: how long workers drain; the supervisor kills what is left 5 s after it. */
  shutdownTimeoutMs: number;
  stderr: Writable;
  /**
   * The one alert engine for all the workers (audit.alerts): each worker forwards the records that matter to alerts
   * (AlertForwarder), so failure thresholds and the alert rate limit count across workers. Closed (its pending alerts
   * sent) after the workers are gone.
   */
  alerts?: { observe(r: Record<string, unknown>): void; close(): Promise<void> };
  /**
   * TLS session ticket keys for all the workers (server.tls.ticket_key_rotation): the supervisor makes them, sends
   * them to each worker once it serves and replaces them every `rotateMs` (0: never), so a session ticket one worker
   * issued resumes on any other. `create` makes a fresh key.
   */
  ticketKeys?: { rotateMs: number; create: () => Buffer };
  /** More than `max` workers dying within `windowMs` ends the gateway (default 5 in 60 s). */
  restarts?: { max: number; windowMs: number };
  /**
   * The gateway's lifecycle audit records, one per gateway however many workers: `started` (gateway.start) once every
   * worker serves, with the address they listen on; a rejection stops the gateway (exit 1), as an audit log that
   * cannot be written stops one process's start. `stopped` (gateway.stop) after the last worker is gone, with the
   * signal that stopped the gateway, or why it stopped itself.
   */
  lifecycle?: { started(url: string): Promise<void>; stopped(reason: string): Promise<void> };
  /**
   * Set when there are log files to reopen (log.file): SIGHUP, which would otherwise end the supervisor, reopens its
   * own (this function) and asks every worker to reopen theirs.
   */
  reopenLogs?: () => void;
  /**
   * The metrics listener (metrics.enabled), started once every worker serves and closed when they are gone. `collect`
   * asks each worker for its counts and waits up to 1 s: a worker that does not answer comes back without a snapshot.
   */
  metrics?: (collect: () => Promise<CollectedSnapshot[]>) => Promise<{ close(): Promise<void> }>;
}

/** How long a scrape waits for the workers' counts. */
const METRICS_WAIT_MS = 1000;
/** How long a starting worker's request for a live worker's counts waits for its answer. */
const STATE_WAIT_MS = 1000;

/**
 * Runs the workers until SIGTERM or SIGINT (then drains them) or until they cannot be kept running. Returns the
 * exit code: 0 after a clean drain, a worker's own code when it could not start (2: configuration), 1 otherwise.
 */
export async function supervise(o: SuperviseOptions): Promise<number> {
  const restarts = o.restarts ?? { max: 5, windowMs: 60_000 };
  const say = (line: string): void => void o.stderr.write(`${line}\n`);
  cluster.schedulingPolicy = cluster.SCHED_RR;
  // 'advanced' (structured clone) carries the configuration as loaded: undefined members, Infinity, nested arrays.
  cluster.setupPrimary({ exec: o.exec, args: o.args, execArgv: o.execArgv, cwd: o.cwd, serialization: 'advanced' });

  const workers = new Map<number, Worker>();
  const serving = new Set<Worker>();
  const deaths: number[] = [];
  // A starting worker's request for a live worker's counts (stateFromSupervisor), by request id.
  let stateId = 0;
  const stateWaits = new Map<number, (state: unknown) => void>();
  const peerState = (asker: Worker): Promise<unknown> => {
    const source = [...serving].find((w) => w !== asker && w.isConnected());
    if (!source) return Promise.resolve(undefined);
    const id = ++stateId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => answer(undefined), STATE_WAIT_MS);
      const answer = (state: unknown): void => {
        clearTimeout(timer);
        stateWaits.delete(id);
        resolve(state);
      };
      stateWaits.set(id, answer);
      source.send({ gatehouse: 'state?', id } satisfies WorkerMessage);
    });
  };
  let ticketKeys = o.ticketKeys?.create();
  const sendTicketKeys = (w: Worker): void => {
    if (ticketKeys && w.isConnected()) w.send({ gatehouse: 'ticket-keys', keys: ticketKeys } satisfies WorkerMessage);
  };
  const rotation = o.ticketKeys && o.ticketKeys.rotateMs > 0
    ? setInterval(() => {
        ticketKeys = o.ticketKeys?.create();
        for (const w of workers.values()) sendTicketKeys(w);
      }, o.ticketKeys.rotateMs)
    : undefined;
  let stopping = false;
  let stopReason = 'close';
  let exitCode = 0;
  // Where the workers listen (each reports it when ready; they share one socket).
  let url: string | undefined;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  // Scrapes waiting for the workers' answers, by request id.
  let scrapeId = 0;
  const scrapes = new Map<number, { answers: Map<number, MetricsSnapshot | undefined>; expected: number; done: () => void }>();
  const collectMetrics = async (): Promise<CollectedSnapshot[]> => {
    const id = ++scrapeId;
    const asked = [...workers].filter(([, w]) => w.isConnected());
    const answers = new Map<number, MetricsSnapshot | undefined>();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, METRICS_WAIT_MS);
      scrapes.set(id, { answers, expected: asked.length, done: () => (clearTimeout(timer), resolve()) });
      for (const [, w] of asked) w.send({ gatehouse: 'metrics?', id } satisfies WorkerMessage);
      if (asked.length === 0) scrapes.get(id)?.done();
    });
    scrapes.delete(id);
    return Array.from({ length: o.count }, (_, i) => ({ worker: i + 1, snapshot: answers.get(i + 1) }));
  };

  /** Forks worker `index`; resolves true once it serves, or the code it exits with first (1 when none). */
  const start = (index: number): Promise<true | number> =>
    new Promise((resolve) => {
      const w = cluster.fork({ ...o.env, [WORKER_ENV]: `${index}/${o.count}` });
      workers.set(index, w);
      let ready = false;
      w.on('message', (m: unknown) => {
        if (isMessage(m, 'peer-state?')) {
          void peerState(w).then((state) => {
            if (w.isConnected()) w.send({ gatehouse: 'peer-state', state } satisfies WorkerMessage);
          });
          return;
        }
        if (isMessage(m, 'state')) {
          stateWaits.get(Number((m as { id?: unknown }).id))?.((m as { state?: unknown }).state);
          return;
        }
        if (isMessage(m, 'rate-usage') || isMessage(m, 'auth-failures')) {
          for (const [i, other] of workers) if (i !== index && other.isConnected()) other.send(m as WorkerMessage);
          return;
        }
        if (isMessage(m, 'alert')) {
          const record = (m as { record?: unknown }).record;
          if (o.alerts && record !== null && typeof record === 'object') o.alerts.observe(record as Record<string, unknown>);
          return;
        }
        if (isMessage(m, 'metrics')) {
          const scrape = scrapes.get(Number((m as { id?: unknown }).id));
          if (!scrape || scrape.answers.has(index)) return;
          scrape.answers.set(index, checkSnapshot((m as { snapshot?: unknown }).snapshot));
          if (scrape.answers.size >= scrape.expected) scrape.done();
          return;
        }
        if (isMessage(m, 'config?')) {
          if (w.isConnected()) w.send({ gatehouse: 'config', config: o.config } satisfies WorkerMessage);
          return;
        }
        if (ready || !isMessage(m, 'ready')) return;
        ready = true;
        serving.add(w);
        const at = (m as { url?: unknown }).url;
        if (typeof at === 'string') url ??= at;
        sendTicketKeys(w);
        resolve(true);
      });
      w.once('exit', (code, signal) => {
        if (workers.get(index) === w) workers.delete(index);
        serving.delete(w);
        if (!ready) resolve(code ?? 1);
        onExit(index, w, ready, code, signal);
      });
    });

  /** Counts a death; true when too many fell within the window. */
  const crashLoop = (): boolean => {
    const now = Date.now();
    deaths.push(now);
    while ((deaths[0] as number) < now - restarts.windowMs) deaths.shift();
    return deaths.length > restarts.max;
  };

  const onExit = (index: number, w: Worker, wasReady: boolean, code: number | null, signal: string | null): void => {
    const how = signal ? `signal ${signal}` : `code ${code}`;
    if (stopping) {
      if (code !== 0) exitCode = 1;
      if (workers.size === 0) finish();
      return;
    }
    if (!wasReady) return; // start() reports it to whoever is starting it
    if (crashLoop()) {
      say(`worker ${index} (pid ${w.process.pid}) exited with ${how}; ${deaths.length} workers died within ${restarts.windowMs / 1000} s: stopping the gateway`);
      exitCode = 1;
      stop('worker crash loop');
      return;
    }
    say(`worker ${index} (pid ${w.process.pid}) exited with ${how}; starting a new one`);
    void restart(index);
  };

  const restart = async (index: number): Promise<void> => {
    while (!stopping) {
      if ((await start(index)) === true) {
        const w = workers.get(index);
        return say(`worker ${index} serving again (pid ${w?.process.pid})`);
      }
      if (crashLoop()) {
        say(`worker ${index} could not be started again: stopping the gateway`);
        exitCode = 1;
        stop('worker crash loop');
        return;
      }
      await new Promise((r) => setTimeout(r, 200 * deaths.length));
    }
  };

  let killTimer: NodeJS.Timeout | undefined;
  const stop = (reason: string): void => {
    if (stopping) return;
    stopping = true;
    stopReason = reason;
    if (workers.size === 0) return finish();
    for (const w of workers.values()) if (w.isConnected()) w.send({ gatehouse: 'shutdown' } satisfies WorkerMessage);
    killTimer = setTimeout(() => {
      for (const w of workers.values()) w.process.kill('SIGKILL');
    }, o.shutdownTimeoutMs + 5000);
  };

  const handlers: Array<[NodeJS.Signals, () => void]> = [];
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const onSignal = () => {
      if (stopping) return say(`${signal}: already draining (ends within ${o.shutdownTimeoutMs} ms)`);
      say(`${signal}: draining in-flight requests in ${workers.size} workers (up to ${o.shutdownTimeoutMs} ms)`);
      stop(signal);
    };
    handlers.push([signal, onSignal]);
    process.on(signal, onSignal);
  }
  const reopenLogs = o.reopenLogs;
  if (reopenLogs) {
    // A message rather than the signal: a worker still starting has no SIGHUP handler yet, and the signal would end it.
    const onHangup = () => {
      reopenLogs();
      for (const w of workers.values()) if (w.isConnected()) w.send({ gatehouse: 'reopen-logs' } satisfies WorkerMessage);
    };
    handlers.push(['SIGHUP', onHangup]);
    process.on('SIGHUP', onHangup);
  }
  let recorded = false;
  let metricsListener: { close(): Promise<void> } | undefined;

  try {
    // Worker 1 alone first: a first start generates the dev CA, signing secrets and the store schema exactly once.
    const first = await start(1);
    if (first !== true) {
      stopping = true;
      return first;
    }
    const rest = await Promise.all(Array.from({ length: o.count - 1 }, (_, i) => start(i + 2)));
    const failed = rest.find((r): r is number => r !== true);
    if (failed !== undefined) {
      exitCode = failed;
      stop('worker failed to start');
    } else {
      const pids = [...workers.values()].map((w) => w.process.pid as number);
      say(`${o.count} workers serving (pids ${pids.join(', ')})`);
      if (o.metrics) {
        try {
          metricsListener = await o.metrics(collectMetrics);
        } catch (e) {
          say(`the metrics listener could not be started (${describe(e)}): stopping the gateway`);
          exitCode = 1;
          stop('metrics listener failed');
        }
      }
      if (o.lifecycle && url !== undefined) {
        try {
          await o.lifecycle.started(url);
          recorded = true;
        } catch (e) {
          say(`the gateway.start audit record could not be written (${describe(e)}): stopping the gateway`);
          exitCode = 1;
          stop('audit unavailable');
        }
      }
    }
    await finished;
    // After the last worker: no request record of this run can follow it.
    if (recorded) await o.lifecycle?.stopped(stopReason).catch((e: unknown) => say(`the gateway.stop audit record could not be written (${describe(e)})`));
    return exitCode;
  } finally {
    if (killTimer) clearTimeout(killTimer);
    if (rotation) clearInterval(rotation);
    await metricsListener?.close();
    await o.alerts?.close();
    for (const [signal, onSignal] of handlers) process.off(signal, onSignal);
  }
}
