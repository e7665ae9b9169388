import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { loadCliConfig, configOption } from './context.js';
import type { CliContext, Command, ParsedArgs } from './types.js';
import { str, writeLine } from './types.js';
import { approvalsPendingGauge, configDigest, gatehouseVersion, recordGatewayStart, recordGatewayStop, startGateway, type Gateway } from '../gateway/start.js';
import { startMetricsServer } from '../gateway/metrics-server.js';
import { renderMetrics } from '../gateway/metrics.js';
import { configFromSupervisor, currentWorker, stateFromSupervisor, supervise, workerConfig, workerCount, type WorkerIdentity, type WorkerMessage } from '../gateway/workers.js';
import { MAX_WORKERS } from '../config/schema/server.js';
import { GatehouseError } from '../core/errors.js';
import { AlertEngine } from '../audit/alerts.js';
import { systemClock } from '../core/clock.js';
import { createGatewayLogger } from '../gateway/logger.js';
import { newTicketKeys, TICKET_KEY_BYTES } from '../tls/index.js';
import { openAuditLog } from '../audit/index.js';
import { createRedactor } from '../redact/index.js';
import { reopenLogFiles } from '../redact/logger.js';
import type { AuditEmitter } from '../core/types.js';
import type { StateStore } from '../core/store.js';
import { openConfiguredStore } from '../gateway/store.js';
import type { GatehouseConfig } from '../config/index.js';
import type { CollectedSnapshot } from '../gateway/metrics.js';

/** The metrics address as configured (a supervisor's listener is not known to the worker that prints the banner). */
function metricsUrlOf(cfg: GatehouseConfig): string {
  const listen = cfg.metrics.listen;
  return `${cfg.metrics.tls.enabled ? 'https' : 'http'}://${listen}${cfg.metrics.path}`;
}

function banner(gw: Gateway, cfg: GatehouseConfig, workers = 1): string {
  const lines = [`Gatehouse is listening on ${gw.url} (${cfg.profile} profile${workers > 1 ? `, ${workers} workers` : ''})`];
  for (const r of cfg.routes) {
    const what = r.upstream === 'demo:echo' ? 'demo echo service' : r.upstream === 'demo:mcp' ? 'demo MCP server (seed 001 tools)' : `${r.kind} upstream`;
    lines.push(`  ${gw.url}${r.prefix}  →  ${what}`);
  }
  const cacert = gw.caCertPath ? ` --cacert ${gw.caCertPath}` : '';
  const firstHttp = cfg.routes.find((r) => r.kind === 'http');
  lines.push('', 'Call it:');
  lines.push(`  export GATEHOUSE_HOME=${cfg.state_dir}`);
  lines.push('  TOKEN=$(npx gatehouse token mint --agent me --scopes readonly --ttl 1h)');
  if (firstHttp) lines.push(`  curl${cacert} -H "Authorization: Bearer $TOKEN" ${gw.url}${firstHttp.prefix.replace(/\/$/, '')}/hello`);
  lines.push(`  curl${cacert} ${gw.url}/healthz`);
  if (cfg.metrics.enabled) lines.push(`Metrics (Prometheus): ${gw.metricsUrl ?? `${metricsUrlOf(cfg)} (served by the supervisor)`}`);
  return lines.join('\n');
}

/**
 * SIGHUP with log.file: reopens the log files at their paths (logrotate renamed them; see docs/gateway.md § Logs).
 * What could not be reopened says so on stderr, the one place sure to be read: its lines still go to the old file.
 */
function reopenLogs(ctx: CliContext, who: string): void {
  const report = reopenLogFiles();
  for (const file of report.madePrivate) writeLine(ctx.stderr, `SIGHUP${who}: log.file ${file} was readable or writable by group or others: made it 0600`);
  for (const f of report.failed) writeLine(ctx.stderr, `SIGHUP${who}: log.file ${f.file} not reopened (${f.reason}); lines still go to the file as it was opened`);
}

/**
 * Runs until SIGTERM or SIGINT, then drains in-flight requests up to server.shutdown_timeout. The handlers stay
 * installed during the drain: a second signal is common (Ctrl-C under `npm start` arrives from the terminal and
 * again from npm; process managers resend) and, unhandled, would kill the process mid-drain, cutting requests
 * already forwarded before they are answered and audited. The drain is bounded; SIGKILL still stops at once.
 * The signal's name goes on the gateway.stop audit record. With log.file, SIGHUP reopens the log file.
 */
export async function serveUntilSignal(cfg: GatehouseConfig, ctx: CliContext, listen: string | undefined, worker?: WorkerIdentity): Promise<number> {
  // A worker hears of the shutdown from the supervisor, possibly before it serves.
  let stopRequested: (() => void) | undefined;
  let stopEarly = false;
  // Session ticket keys from the supervisor (they may come before this worker's gateway is up: kept until it is).
  let gateway: Gateway | undefined;
  let pendingKeys: Buffer | undefined;
  // log.file only: without a file there is nothing to reopen, and a hangup keeps its usual meaning. A worker is asked
  // by its supervisor (reopen-logs) and, signalled itself (systemctl kill), reopens too: twice does no harm.
  const onHangup = cfg.log.file ? () => reopenLogs(ctx, worker ? ` (worker ${worker.index})` : '') : undefined;
  const onMessage = (m: unknown) => {
    const msg = m as WorkerMessage | undefined;
    if (msg?.gatehouse === 'rate-usage') {
      gateway?.limits.applyUsage(msg.usage);
      return;
    }
    if (msg?.gatehouse === 'auth-failures') {
      gateway?.limits.applyFailures(msg.failures);
      return;
    }
    if (msg?.gatehouse === 'reopen-logs') {
      onHangup?.();
      return;
    }
    if (msg?.gatehouse === 'state?') {
      // A replacement worker takes over these counts (Gateway.workerState); before this one serves, there are none.
      if (process.connected) process.send?.({ gatehouse: 'state', id: msg.id, state: gateway?.workerState() } satisfies WorkerMessage);
      return;
    }
    if (msg?.gatehouse === 'metrics?') {
      // Before this worker serves there is nothing to count yet: the answer says so, and the scrape need not wait.
      if (process.connected) process.send?.({ gatehouse: 'metrics', id: msg.id, snapshot: gateway?.metrics?.snapshot() } satisfies WorkerMessage);
      return;
    }
    if (msg?.gatehouse === 'ticket-keys') {
      // From the supervisor only; anything but the 48 bytes a key set is is dropped, not thrown in this listener.
      if (!(msg.keys instanceof Uint8Array) || msg.keys.length !== TICKET_KEY_BYTES) return;
      const keys = Buffer.from(msg.keys);
      if (gateway) gateway.setTicketKeys(keys);
      else pendingKeys = keys;
      return;
    }
    if (msg?.gatehouse !== 'shutdown') return;
    if (stopRequested) stopRequested();
    else stopEarly = true;
  };
  if (worker) process.on('message', onMessage);
  // Before the start: SIGHUP's default action would end the process.
  if (onHangup) process.on('SIGHUP', onHangup);
  let onOrphaned: (() => void) | undefined;
  let usageTimer: NodeJS.Timeout | undefined;
  try {
    // A worker's alert-relevant audit records go to the supervisor's one alert engine (thresholds across workers).
    const alertsTo = worker && cfg.audit.enabled && cfg.audit.alerts.enabled
      ? (record: Record<string, unknown>) => void (process.connected && process.send?.({ gatehouse: 'alert', record } satisfies WorkerMessage))
      : undefined;
    // A worker started in place of a dead one begins with a live worker's counts, not a fresh allowance for every key.
    const restoreState = worker && worker.count > 1 ? await stateFromSupervisor() : undefined;
    const gw = await startGateway(worker ? workerConfig(cfg, worker.count) : cfg, { ...(listen ? { listen } : {}), ...(worker ? { worker } : {}), ...(alertsTo ? { alertsTo } : {}), ...(restoreState !== undefined ? { restoreState } : {}) });
    gateway = gw;
    if (pendingKeys) gw.setTicketKeys(pendingKeys);
    // Rate-limit admissions go to the other workers (through the supervisor) every limits.sync_interval.
    if (worker && worker.count > 1) {
      usageTimer = setInterval(() => {
        const usage = gw.limits.takeUsage();
        if (usage && process.connected) process.send?.({ gatehouse: 'rate-usage', usage } satisfies WorkerMessage);
      }, cfg.limits.sync_interval);
      usageTimer.unref();
      // Failed authentications go at once (one message per turn of the event loop): a lockout's allowance is small.
      gw.limits.shareFailures((failures) => {
        if (process.connected) process.send?.({ gatehouse: 'auth-failures', failures } satisfies WorkerMessage);
      });
    }
    if (!worker || worker.index === 1) writeLine(ctx.stderr, banner(gw, cfg, worker?.count));
    if (worker && process.connected) process.send?.({ gatehouse: 'ready', url: gw.url } satisfies WorkerMessage);
    const handlers: Array<[NodeJS.Signals, () => void]> = [];
    await new Promise<void>((resolve) => {
      let draining = false;
      const drain = (why: string, announce: boolean) => {
        if (draining) {
          if (announce) writeLine(ctx.stderr, `${why}: already draining (ends within ${cfg.server.shutdown_timeout} ms)`);
          return;
        }
        draining = true;
        if (announce) writeLine(ctx.stderr, `${why}: draining in-flight requests (up to ${cfg.server.shutdown_timeout} ms)`);
        gw.close(undefined, why).then(resolve, resolve);
      };
      // Workers drain quietly: the supervisor announces the drain once for all of them.
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        const onSignal = () => drain(signal, !worker);
        handlers.push([signal, onSignal]);
        process.on(signal, onSignal);
      }
      stopRequested = () => drain('shutdown', false);
      if (stopEarly) stopRequested();
      // The supervisor gone (killed with SIGKILL, say): Node's cluster would end this worker at once, right after
      // this event, cutting its in-flight requests and the audit records not yet written. Marked an expected
      // disconnect, the worker instead drains as on SIGTERM (no new connection can reach it) and exits.
      const self = cluster.worker;
      if (worker && self) {
        onOrphaned = () => {
          if (self.exitedAfterDisconnect) return;
          (self as { exitedAfterDisconnect: boolean }).exitedAfterDisconnect = true;
          writeLine(ctx.stderr, `worker ${worker.index} (pid ${process.pid}): the supervisor is gone; draining in-flight requests (up to ${cfg.server.shutdown_timeout} ms)`);
          drain('supervisor gone', false);
        };
        self.on('disconnect', onOrphaned);
      }
    });
    for (const [signal, onSignal] of handlers) process.off(signal, onSignal);
    return 0;
  } finally {
    if (onHangup) process.off('SIGHUP', onHangup);
    if (usageTimer) clearInterval(usageTimer);
    if (worker) {
      process.off('message', onMessage);
      if (onOrphaned) cluster.worker?.off('disconnect', onOrphaned);
      // The IPC channel would keep the worker alive. cluster.worker.disconnect(), unlike process.disconnect(), is an
      // expected one: the worker then ends with its own exit code rather than cluster's forced 0.
      if (process.connected) cluster.worker?.disconnect();
      setTimeout(() => process.exit(), 1000).unref();
    }
  }
}

/** `--workers N|auto`, or server.workers. */
function workersWanted(args: ParsedArgs, cfg: GatehouseConfig): number {
  const flag = str(args, 'workers');
  if (flag === undefined) return workerCount(cfg.server.workers);
  if (flag === 'auto') return workerCount('auto');
  const n = /^\d{1,3}$/.test(flag) ? Number(flag) : NaN;
  if (!(n >= 1 && n <= MAX_WORKERS)) throw new GatehouseError('GH_USAGE', `--workers: expected auto or a whole number from 1 to ${MAX_WORKERS}`);
  return n;
}

/** The supervisor: forks the workers, each running this same `serve` command line. */
async function superviseWorkers(args: ParsedArgs, cfg: GatehouseConfig, ctx: CliContext, count: number): Promise<number> {
  const here = fileURLToPath(import.meta.url);
  const exec = here.replace(/serve\.([cm]?[jt]s)$/, 'entry.$1');
  const argv = ['serve'];
  const config = str(args, 'config');
  if (config !== undefined) argv.push('--config', config);
  const listen = str(args, 'listen');
  if (listen !== undefined) argv.push('--listen', listen);
  // The workers run with this process's Node options (a --import loader, heap limits), not with its -e script.
  const execArgv: string[] = [];
  for (let i = 0; i < process.execArgv.length; i++) {
    const a = process.execArgv[i] as string;
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print') i++;
    else if (!a.startsWith('--eval=') && !a.startsWith('--print=') && !a.startsWith('--input-type')) execArgv.push(a);
  }
  // The supervisor's own lines (alerts, its audit records' sink warnings) go where the workers' do (log.file, stdout).
  const logger = createGatewayLogger(cfg);
  // One alert engine for all the workers, here.
  const alerts = cfg.audit.enabled && cfg.audit.alerts.enabled ? new AlertEngine(cfg.audit.alerts, { clock: systemClock, logger, env: ctx.env }) : undefined;
  const ticketKeys = cfg.server.tls.enabled ? { ticketKeys: { rotateMs: cfg.server.tls.ticket_key_rotation, create: newTicketKeys } } : {};
  // gateway.start and gateway.stop once for the gateway, here: the digest of the configuration every worker runs.
  const configSha256 = configDigest(cfg);
  let startedAt = 0;
  const lifecycle = {
    started: (url: string) => withSupervisorAudit(cfg, ctx, logger, alerts, (audit) => recordGatewayStart(audit, cfg, { url, workers: count, configSha256 })).then(() => void (startedAt = Date.now())),
    stopped: (reason: string) => withSupervisorAudit(cfg, ctx, logger, alerts, (audit) => recordGatewayStop(audit, cfg, reason, Date.now() - startedAt)),
  };
  const hangup = cfg.log.file ? { reopenLogs: () => reopenLogs(ctx, ' (supervisor)') } : {};
  // One metrics listener for the gateway, here: a scrape sums what every worker counted. The approval queue is shared
  // state, counted once from the store (opened on the first scrape); a memory store lives in each worker: no gauge.
  let store: StateStore | undefined;
  const approvalsPending = async (): Promise<number | undefined> => {
    if (cfg.store.kind === 'memory') return undefined;
    store ??= openConfiguredStore(cfg, { logger, env: ctx.env });
    return approvalsPendingGauge(store, systemClock);
  };
  const metrics = cfg.metrics.enabled
    ? {
      metrics: (collect: () => Promise<CollectedSnapshot[]>) =>
        startMetricsServer(cfg, async () => renderMetrics(await collect(), { version: gatehouseVersion(), approvalsPending: await approvalsPending() }), logger),
    }
    : {};
  try {
    return await supervise({ count, config: cfg, ...(alerts ? { alerts } : {}), ...ticketKeys, lifecycle, ...hangup, ...metrics, exec, args: argv, execArgv, cwd: ctx.cwd, env: ctx.env, shutdownTimeoutMs: cfg.server.shutdown_timeout, stderr: ctx.stderr });
  } finally {
    await store?.close();
  }
}

/**
 * The supervisor's audit log, open only while it writes one of its records: the workers append to the same chain
 * under its cross-process lock, as a CLI command does meanwhile. Transient, as a CLI command's: an HTTP sink spools
 * apart from the workers' batches. Its alert-relevant records (config.change, when listed) go to the one engine.
 */
async function withSupervisorAudit(cfg: GatehouseConfig, ctx: CliContext, logger: ReturnType<typeof createGatewayLogger>, alerts: AlertEngine | undefined, write: (audit: AuditEmitter) => Promise<void>): Promise<void> {
  if (!cfg.audit.enabled) return;
  const redactor = createRedactor(cfg.redact);
  const log = await openAuditLog(cfg.audit, { stateDir: cfg.state_dir, logger, env: ctx.env, redact: (v) => redactor.redactValue(v), transient: true, ...(alerts ? { alertsTo: (r: Record<string, unknown>) => alerts.observe(r) } : {}) });
  try {
    await write(log);
  } finally {
    await log.close();
  }
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the gateway',
  usage: 'gatehouse serve [--config FILE] [--listen HOST:PORT] [--workers N|auto]',
  description:
    'Without --config, runs the embedded default: https://127.0.0.1:8443 with a generated dev CA, the demo echo\n' +
    'service at /echo and the demo MCP server at /mcp, token authentication with a secret in $GATEHOUSE_HOME.\n\n' +
    'With --workers N (or server.workers), this process supervises N worker processes that share the listening\n' +
    'socket: it forwards SIGTERM/SIGINT as a drain and replaces a worker that dies. Connection limits are split\n' +
    'between the workers; the store and the audit chain are shared through the state directory.\n\n' +
    'The audit trail records gateway.start (with the configuration\'s digest, secrets redacted), config.change when\n' +
    'the configuration differs from the last start\'s, and gateway.stop. With log.file, SIGHUP reopens the log file\n' +
    '(logrotate: rename, then kill -HUP); the supervisor passes it on to its workers.',
  options: {
    ...configOption,
    listen: { type: 'string', short: 'l', value: 'HOST:PORT', description: 'listen address (overrides server.listen)' },
    workers: { type: 'string', short: 'w', value: 'N|auto', description: 'worker processes (overrides server.workers; auto = one per CPU)' },
  },
  async run(args, ctx) {
    // A worker runs the configuration its supervisor loaded at the start, never the file as it is now.
    const worker = currentWorker(ctx.env);
    if (worker) return serveUntilSignal(await configFromSupervisor(), ctx, str(args, 'listen'), worker);
    // The full production check (with TLS and authentication) runs in startGateway and names every problem.
    const cfg = await loadCliConfig(args, ctx, { skipProfileCheck: true });
    const count = workersWanted(args, cfg);
    if (count > 1 && !cluster.isWorker) return superviseWorkers(args, cfg, ctx, count);
    return serveUntilSignal(cfg, ctx, str(args, 'listen'));
  },
};
