import type { Server } from 'node:http';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gatehouseVersion } from '../core/version.js';
import { GatehouseError } from '../core/errors.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { AuditEmitter, Logger } from '../core/types.js';
import type { StateStore } from '../core/store.js';
import { pendingApprovals } from '../approval/index.js';
import { redactConfigForDisplay, type GatehouseConfig } from '../config/index.js';
import { canonicalJson } from '../audit/index.js';
import { ancestorDirProblems, prepareStateDir } from '../store/index.js';
import { trustedDirsOf } from '../doctor/index.js';
import { loadOrCreateKeyFile } from '../crypto/index.js';
import { openConfiguredStore } from './store.js';
import { buildCapabilities, type WorkerState } from './capabilities.js';
import { startEchoServer } from './demo/echo.js';
import { startMcpServer } from './demo/mcp.js';
import { createGatewayLogger } from './logger.js';
import { createRedactor, type Redactor } from '../redact/index.js';
import { createServerTlsProvider } from './tls.js';
import { assertProductionReady, developmentWarnings, isHttpsUpstream } from './production.js';
import { createUpstreamTls } from '../tls/index.js';
import { listenGateway, type RunningGateway, type ServerTlsProvider } from './server.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import { renderMetrics } from './metrics.js';
import { startTracing, type Tracing } from './tracing.js';
import { degradedSinks, UpstreamProber } from './readiness.js';
import type { Limits } from '../limits/index.js';

export interface StartOptions {
  listen?: string;
  logger?: Logger;
  clock?: Clock;
  tls?: ServerTlsProvider;
  /** Set in a worker process (server.workers > 1): its index goes on every log line. */
  worker?: { index: number; count: number };
  /** Alerts are raised by the supervisor: the audit trail's alert-relevant records go here (AlertForwarder). */
  alertsTo?: (r: Record<string, unknown>) => void;
  /** Under server.workers: a live worker's workerState(), taken over before this one serves (a replacement). */
  restoreState?: unknown;
}

export interface Gateway extends RunningGateway {
  /**
   * Graceful close (RunningGateway.close); `reason` (a signal name, default 'close') goes on the gateway.stop record,
   * written once the in-flight requests are done and before the audit log closes.
   */
  close(deadlineMs?: number, reason?: string): Promise<void>;
  /** Replaces the TLS session ticket keys (no-op without TLS): server.workers' supervisor issues them. */
  setTicketKeys(keys: Buffer): void;
  config: GatehouseConfig;
  /** Rate limits and lockouts (server.workers: the worker shares its admissions through these). */
  limits: Limits;
  /** Under server.workers: this worker's counts, for a worker started in place of a dead one (StartOptions.restoreState). */
  workerState(): WorkerState;
  /** The dev CA certificate clients should trust (development, generated). */
  caCertPath: string | undefined;
  /** Where the metrics listener answers (metrics.enabled, one process; under workers the supervisor runs it). */
  metricsUrl: string | undefined;
  /** The tracer and its exporter (tracing.enabled); each worker has its own. */
  tracing: Tracing | undefined;
}

/**
 * A warning for each trusted directory (state_dir, store.path's, audit.dir, spool_dir) with an ancestor through which
 * another user could swap it for their own (ancestorDirProblems): writable by group or others without the sticky
 * bit, or owned by a user other than this one and root. Naming the ancestor and why; nothing is refused.
 */
function warnAncestorDirs(cfg: GatehouseConfig, logger: Logger): void {
  for (const d of trustedDirsOf(cfg)) {
    const problems = ancestorDirProblems(d.dir);
    if (problems.length === 0) continue;
    logger.warn(
      { setting: d.label, dir: d.dir, ancestors: problems.map((p) => ({ path: p.path, problem: p.problem, fix: p.fix })) },
      `${d.label} ${d.dir} can be replaced by another user through an ancestor directory: ${problems.map((p) => `${p.path} ${p.problem}: ${p.risk}`).join('; ')} (gatehouse doctor: state.ancestor_dirs)`,
    );
  }
}

/**
 * Starts everything `gatehouse serve` runs: state dir, store, capabilities, demo upstreams, the listener. Once it
 * listens, the gateway.start audit record (and config.change when the configuration differs from the last start's)
 * is written and awaited: a gateway whose audit log cannot take it does not start. A worker (opts.worker) writes
 * neither these nor gateway.stop: its supervisor records the gateway once for all of them.
 */
export async function startGateway(cfg: GatehouseConfig, opts: StartOptions = {}): Promise<Gateway> {
  const redactor = createRedactor(cfg.redact);
  const logger = opts.logger ?? createGatewayLogger(cfg, redactor, opts.worker?.index);
  const clock = opts.clock ?? systemClock;
  // Before anything else reads or fills the configuration: the digest is of the configuration as given.
  const configSha256 = opts.worker ? undefined : configDigest(cfg, redactor);
  assertProductionReady(cfg);
  // The directory of store.path, audit.dir and each spool_dir are judged alike where they are opened (prepareTrustedDir).
  prepareStateDir(cfg.state_dir);
  // Their ancestors are not refused (a mount point owned by another account must keep running; `gatehouse doctor`
  // flags it, state.ancestor_dirs): one warning per directory, from the gateway or its first worker only.
  if (!opts.worker || opts.worker.index === 1) warnAncestorDirs(cfg, logger);
  for (const w of developmentWarnings(cfg)) logger.warn({ setting: w }, 'insecure setting allowed in development only');
  const store = openConfiguredStore(cfg, { clock, logger });
  const demoServers: Server[] = [];
  let gateway!: Gateway;
  let audit!: AuditEmitter;
  // Set once gateway.start is recorded; the first close records gateway.stop and clears it.
  let startedAt: number | undefined;
  const upstreamUrls = new Map<string, string>();
  let metricsServer: MetricsServer | undefined;
  let echoUrl: string | undefined;
  let mcpUrl: string | undefined;
  let tracing: Tracing | undefined;
  let prober: UpstreamProber | undefined;
  try {
    for (const [i, route] of cfg.routes.entries()) {
      const name = route.name ?? `route${i}`;
      if (route.upstream === 'demo:echo') {
        if (!echoUrl) {
          const s = await startEchoServer();
          demoServers.push(s.server);
          echoUrl = s.url;
        }
        upstreamUrls.set(name, echoUrl);
      } else if (route.upstream === 'demo:mcp') {
        if (!mcpUrl) {
          const s = await startMcpServer();
          demoServers.push(s.server);
          mcpUrl = s.url;
        }
        upstreamUrls.set(name, mcpUrl);
      } else if (route.upstream.startsWith('demo:')) {
        throw new GatehouseError('GH_CONFIG_INVALID', `routes[${i}].upstream: unknown demo service ${route.upstream.slice(0, 32)}`);
      } else upstreamUrls.set(name, route.upstream);
    }
    // /readyz's upstream probes (readiness.ts): every route but those with readiness: ignore, the demos too (at their
    // loopback URL: an in-process server that stopped listening is as unreachable as any).
    const probed = cfg.routes.flatMap((r, i) => {
      const name = r.name ?? `route${i}`;
      const url = upstreamUrls.get(name);
      return r.readiness === 'ignore' || url === undefined ? [] : [{ name, url, connectTimeoutMs: r.connect_timeout }];
    });
    const upstreamProber = new UpstreamProber(probed, { logger, clock });
    prober = upstreamProber;
    tracing = await startTracing(cfg, { logger, store, clock });
    const capabilities = await buildCapabilities(cfg, { logger, clock, store }, redactor, { ...(opts.worker ? { worker: opts.worker } : {}), ...(opts.alertsTo ? { alertsTo: opts.alertsTo } : {}), ...(opts.restoreState !== undefined ? { restoreState: opts.restoreState } : {}) });
    const tls = opts.tls ? { provider: opts.tls, caCertPath: undefined } : cfg.server.tls.enabled ? await createServerTlsProvider(cfg, logger, { ticketKeysFromOutside: (opts.worker?.count ?? 1) > 1 }) : undefined;
    const running = await listenGateway(
      {
        config: cfg,
        capabilities,
        upstreamUrls,
        tls: tls?.provider,
        upstreamConnect: (route) =>
          isHttpsUpstream(route.config.upstream) ? (createUpstreamTls(route.config.tls, { logger, path: `routes.${route.name}.tls` }) as unknown as Record<string, unknown>) : undefined,
        admin: capabilities.admin,
        ...(tracing ? { tracer: tracing.tracer } : {}),
        readiness: async () => {
          const problems: string[] = [];
          const [, upstreams] = await Promise.all([store.ping().catch(() => problems.push('state store unavailable')), upstreamProber.problems()]);
          problems.push(...upstreams);
          // Not problems: records are durable in the file first and the sinks retry.
          return { problems, degraded: degradedSinks(capabilities.auditSinks()) };
        },
      },
      opts.listen,
    );
    const close = running.close.bind(running);
    const metrics = running.metrics;
    metrics?.watchAuditSinks(() => capabilities.auditSinks());
    // A worker's counts go to its supervisor, which runs the one listener for all of them.
    if (metrics && !opts.worker) {
      try {
        metricsServer = await startMetricsServer(
          cfg,
          async () => renderMetrics([{ snapshot: metrics.snapshot() }], { version: gatehouseVersion(), approvalsPending: await approvalsPendingGauge(store, clock) }),
          logger,
        );
      } catch (e) {
        await running.close(0);
        await capabilities.close();
        throw e;
      }
    }
    gateway = Object.assign(running, {
      config: cfg,
      limits: capabilities.limits,
      workerState: () => capabilities.workerState(),
      caCertPath: tls?.caCertPath,
      metricsUrl: metricsServer?.url,
      tracing,
      setTicketKeys: (keys: Buffer) => tls?.provider.setTicketKeys?.(keys),
      async close(deadlineMs?: number, reason = 'close') {
        // Once, by the first close (a second one, a test's cleanup say, does not record its own reason).
        const since = startedAt;
        startedAt = undefined;
        // First: a scrape during the drain would report a gateway that is going away.
        await metricsServer?.close();
        await close(deadlineMs);
        upstreamProber.close();
        // The drained requests' spans are queued by now: delivered within tracing.timeout.
        await tracing?.close();
        // After the drain (the last requests' records are queued before it), before the audit log closes.
        if (since !== undefined) {
          await recordGatewayStop(capabilities.audit, cfg, reason, clock.now() - since).catch((e: unknown) =>
            logger.error({ code: (e as { code?: unknown }).code }, 'audit: the gateway.stop record could not be written'),
          );
        }
        await capabilities.close();
        // The gateway's own connections to the demos are gone by now; any left belong to local clients calling the
        // demo ports directly, and waiting for them would leave shutdown unbounded.
        const demosClosed = demoServers.map((s) => new Promise<void>((r) => s.close(() => r())));
        for (const s of demoServers) s.closeAllConnections();
        await Promise.all(demosClosed);
        await store.close();
      },
    });
    audit = capabilities.audit;
  } catch (e) {
    prober?.close();
    for (const s of demoServers) s.close();
    await tracing?.close();
    await store.close();
    throw e;
  }
  if (configSha256 !== undefined) {
    try {
      await recordGatewayStart(audit, cfg, { url: gateway.url, workers: 1, configSha256 });
    } catch (e) {
      await gateway.close(0);
      throw e;
    }
    startedAt = clock.now();
  }
  return gateway;
}

/**
 * The digest gateway.start records: SHA-256 of the canonical JSON (audit/canonical) of the effective configuration
 * as `gatehouse config check` shows it, secrets [REDACTED] by key name and by the redactor's value rules. Never over
 * raw secrets: a hash of a low-entropy secret can be guessed offline. So a change of a secret alone is no config.change.
 */
export function configDigest(cfg: GatehouseConfig, redactor: Redactor = createRedactor(cfg.redact)): string {
  const shown = redactor.redactText(canonicalJson(redactConfigForDisplay(cfg)));
  return createHash('sha256').update(shown).digest('hex');
}

export { gatehouseVersion };

/** The approvals gauge for a scrape: omitted when the store cannot answer (the scrape itself still succeeds). */
export async function approvalsPendingGauge(store: StateStore, clock: Clock): Promise<number | undefined> {
  try {
    return await pendingApprovals(store, clock.now());
  } catch {
    return undefined;
  }
}

/** `<state_dir>/last-config.sha256`: the digest of the last recorded start, so a start need not scan the audit log. */
const LAST_CONFIG_FILE = 'last-config.sha256';
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** `<state_dir>/last-config.mac`: the keyed digest of the last recorded start (configMac). */
const LAST_MAC_FILE = 'last-config.mac';

/**
 * A keyed digest (HMAC-SHA256) of the configuration as loaded, what config_sha256 leaves out included: secrets, URL
 * paths and queries. It tells a start whether anything hidden changed (a rotated secret, an upstream moved to another
 * path on the same host) without publishing anything a reader could test guesses against: the key is 32 random bytes
 * generated once into `<state_dir>/keys/config-mac.key` (0600), and the digest itself stays in the state directory —
 * the audit record says only that hidden values changed.
 */
export function configMac(cfg: GatehouseConfig): string {
  const key = loadOrCreateKeyFile(join(cfg.state_dir, 'keys', 'config-mac.key'));
  return createHmac('sha256', key).update(JSON.stringify(cfg)).digest('hex');
}

/** The last start's digest; undefined before the first start; null when the file is not one (config.change says so). */
function readLastConfigDigest(stateDir: string, file = LAST_CONFIG_FILE): string | null | undefined {
  const path = join(stateDir, file);
  try {
    if (statSync(path).size > 256) return null;
    const text = readFileSync(path, 'utf8').trim();
    return SHA256_HEX.test(text) ? text : null;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Atomic replace, 0600, like the other files of the state directory. */
function writeLastConfigDigest(stateDir: string, digest: string, file = LAST_CONFIG_FILE): void {
  const path = join(stateDir, file);
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, `${digest}\n`, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Writes gateway.start (seed 002: administrative operations, configuration changes) and, when the configuration's
 * digest differs from the last recorded start's, config.change; then remembers the digest. Rejects when a record
 * cannot be made durable, before the digest is remembered: the next start reports the change again rather than never.
 * Without an audit log (audit.enabled: false, development only) nothing is recorded, nor remembered.
 */
export async function recordGatewayStart(audit: AuditEmitter, cfg: GatehouseConfig, facts: { url: string; workers: number; configSha256: string }): Promise<void> {
  if (!cfg.audit.enabled) return;
  const previous = readLastConfigDigest(cfg.state_dir);
  const mac = configMac(cfg);
  const previousMac = readLastConfigDigest(cfg.state_dir, LAST_MAC_FILE);
  const policyVersion = cfg.authz.policy_version;
  await audit.emit({
    event_type: 'gateway.start',
    result_status: 'success',
    subject: 'gateway',
    metadata: {
      listen: new URL(facts.url).host,
      profile: cfg.profile,
      version: gatehouseVersion(),
      workers: facts.workers,
      config_sha256: facts.configSha256,
      // Only when configured: the computed one needs the ACL files, which the policy engine reads on its own.
      ...(policyVersion !== undefined ? { policy_version: policyVersion } : {}),
    },
  });
  const shownChanged = previous !== undefined && previous !== facts.configSha256;
  // Unknown before the first start after an upgrade that added it: nothing to compare then.
  const hiddenChanged = previousMac !== undefined && previousMac !== mac;
  if (shownChanged || hiddenChanged) {
    // Only the hidden values changed (config_sha256 is the same twice): said so, since the digests cannot show it.
    const metadata = { previous_sha256: previous ?? null, config_sha256: facts.configSha256, ...(shownChanged ? {} : { hidden_values_changed: true }) };
    await audit.emit({ event_type: 'config.change', result_status: 'success', subject: 'gateway', metadata });
  }
  writeLastConfigDigest(cfg.state_dir, facts.configSha256);
  writeLastConfigDigest(cfg.state_dir, mac, LAST_MAC_FILE);
}

/** gateway.stop: `reason` is the signal (SIGTERM, SIGINT) or 'close'. */
export async function recordGatewayStop(audit: AuditEmitter, cfg: GatehouseConfig, reason: string, uptimeMs: number): Promise<void> {
  if (!cfg.audit.enabled) return;
  await audit.emit({ event_type: 'gateway.stop', result_status: 'success', subject: 'gateway', metadata: { reason: reason.slice(0, 64), uptime_s: Math.max(0, Math.floor(uptimeMs / 1000)) } });
}
