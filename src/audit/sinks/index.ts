/** Builds the configured sinks and the alert engine (docs/audit.md § Sinks, § Alerts). */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/types.js';
import type { AuditConfig } from '../../config/schema/audit.js';
import { createUpstreamTls, type UpstreamTlsOptions } from '../../tls/index.js';
import { AlertEngine, AlertForwarder } from '../alerts.js';
import { HttpSink } from './http.js';
import { createStdoutSink } from './stdout.js';
import { createSyslogSink } from './syslog.js';
import type { AuditSink } from './types.js';
import { isHttpsUrl } from '../../core/net.js';
import { loadOrCreateKeyFile } from '../../crypto/keyfile.js';

export { HttpSink, batchId, spoolMac, SPOOL_MAGIC, type SpoolAuth } from './http.js';
export { createStdoutSink } from './stdout.js';
export { createSyslogSink, syslogMessage, octetFrame } from './syslog.js';
export type { AuditSink } from './types.js';

/** This process's place among the gateway's workers (server.workers); absent for one process. */
export interface SinkWorker {
  index: number;
  count: number;
}

const WORKER_SPOOL_RE = /^worker-([1-9]\d{0,2})$/;
const CLI_SPOOL_RE = /^cli-([1-9]\d{0,9})$/;

const processGone = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
};

/**
 * An HTTP sink's spool for this process. Worker 1 (and a single process) uses the configured spool itself; worker k
 * uses `<spool>/worker-k`, and a CLI command (transient) `<spool>/cli-<pid>`, so no two processes ever send, rename
 * or remove the same batch. Worker 1 also takes over the spools of worker indexes above the current count (left by
 * a run with more workers) and those of CLI commands that ended with batches unsent: at start, and again every
 * minute while it runs (a CLI that could not reach the endpoint must not wait for the gateway's next restart).
 */
function workerSpool(base: string, worker: SinkWorker | undefined, transient: boolean): { spoolDir: string; adopt?: () => string[]; removeWhenEmpty?: boolean } {
  if (transient) return { spoolDir: join(base, `cli-${process.pid}`), removeWhenEmpty: true };
  const index = worker?.index ?? 1;
  const count = worker?.count ?? 1;
  if (index > 1) return { spoolDir: join(base, `worker-${index}`) };
  const cliGone = (e: string): boolean => {
    const pid = Number(CLI_SPOOL_RE.exec(e)?.[1] ?? 0);
    return pid > 0 && processGone(pid);
  };
  const adopt = (): string[] => {
    let entries: string[] = [];
    try {
      entries = readdirSync(base);
    } catch {
      // No spool yet.
    }
    return entries.filter((e) => Number(WORKER_SPOOL_RE.exec(e)?.[1] ?? 0) > count || cliGone(e)).map((e) => join(base, e));
  };
  return { spoolDir: base, adopt };
}

/** The key that MACs HTTP sinks' spooled batches (docs/audit.md § Sinks): 32 random bytes, 0600, created on first use. */
export const spoolKeyPath = (stateDir: string): string => join(stateDir, 'keys', 'audit-spool.key');
/** Markers of the batches an HTTP sink spooled and has not delivered yet, one directory per sink index. */
export const spoolPendingDir = (stateDir: string, index: number): string => join(stateDir, 'audit-spool', String(index));

let processSpoolKey: Buffer | undefined;

/**
 * The spool key: from the state directory (created there once, whole, by the first process: createFileOnce), so the
 * gateway's workers, its CLI commands and its next start verify each other's batches. A caller that names no state
 * directory gets a key of this process alone: batches another process spooled are then set aside, never sent.
 */
function spoolKey(stateDir: string | undefined): Buffer {
  if (stateDir !== undefined) return loadOrCreateKeyFile(spoolKeyPath(stateDir));
  processSpoolKey ??= randomBytes(32);
  return processSpoolKey;
}

export interface SinkOptions {
  /** The audit directory: the default spool_dir is `<dir>/spool/<sink index>`. */
  dir: string;
  /**
   * The state directory: the spool key and the pending markers live there, out of reach of whoever may write the
   * audit directory (openAuditLog gives it). Without it, see spoolKey.
   */
  stateDir?: string;
  logger: Logger;
  clock: Clock;
  env?: NodeJS.ProcessEnv;
  worker?: SinkWorker;
  /** A short-lived process (a CLI command): its HTTP sinks spool apart and never send the gateway's batches. */
  transient?: boolean;
  /** How often worker 1's HTTP sinks look for spools to take over (default 60 s). */
  spoolAdoptEveryMs?: number;
  /** Alerts are raised elsewhere (the supervisor of server.workers): records that matter to them go here instead. */
  alertsTo?: (r: Record<string, unknown>) => void;
}

/**
 * TLS of each https sink (audit.sinks[].tls, docs/tls.md § TLS for outbound clients), built before any sink starts:
 * an unreadable, mismatched or expired client certificate stops the start, with no sink left running.
 */
function sinkTls(cfg: AuditConfig, logger: Logger): (UpstreamTlsOptions | undefined)[] {
  return cfg.sinks.map((s, i) =>
    s.type === 'http' && isHttpsUrl(s.url)
      ? createUpstreamTls(s.tls, { logger: logger.child({ client: `audit sink ${i}` }), path: `audit.sinks[${i}].tls` })
      : undefined,
  );
}

export function createSinks(cfg: AuditConfig, opts: SinkOptions): AuditSink[] {
  const tls = sinkTls(cfg, opts.logger);
  const key = cfg.sinks.some((s) => s.type === 'http') ? spoolKey(opts.stateDir) : undefined;
  const sinks: AuditSink[] = cfg.sinks.map((s, i): AuditSink => {
    switch (s.type) {
      case 'stdout':
        return createStdoutSink({ batchMax: s.batch_max, intervalMs: s.batch_interval, maxQueue: s.max_queue, logger: opts.logger, sharedStream: (opts.worker?.count ?? 1) > 1 });
      case 'syslog':
        return createSyslogSink({
          transport: s.transport, host: s.host, port: s.port, facility: s.facility, appName: s.app_name, caFile: s.ca_file,
          serverName: s.server_name, batchMax: s.batch_max, intervalMs: s.batch_interval, maxQueue: s.max_queue, logger: opts.logger,
        });
      case 'http':
        return new HttpSink({
          url: s.url, headers: s.headers, batchMax: s.batch_max, intervalMs: s.batch_interval, timeoutMs: s.timeout,
          ...workerSpool(s.spool_dir ?? join(opts.dir, 'spool', String(i)), opts.worker, opts.transient === true), spoolMaxBytes: s.spool_max_bytes,
          ...(opts.spoolAdoptEveryMs ? { adoptEveryMs: opts.spoolAdoptEveryMs } : {}),
          retryMinMs: s.retry_min, retryMaxMs: s.retry_max, logger: opts.logger, index: i,
          spoolAuth: { key: key as Buffer, ...(opts.stateDir !== undefined ? { pendingDir: spoolPendingDir(opts.stateDir, i) } : {}) },
          ...(tls[i] !== undefined ? { connect: tls[i] } : {}),
        });
    }
  });
  if (cfg.alerts.enabled) {
    sinks.push(opts.alertsTo ? new AlertForwarder(cfg.alerts, opts.alertsTo) : new AlertEngine(cfg.alerts, { clock: opts.clock, logger: opts.logger, ...(opts.env ? { env: opts.env } : {}) }));
  }
  return sinks;
}
