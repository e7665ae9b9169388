import type { Server } from 'node:http';
import { GatehouseError } from '../core/errors.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Logger } from '../core/types.js';
import type { GatehouseConfig } from '../config/index.js';
import { openStore, prepareStateDir } from '../store/index.js';
import { buildCapabilities } from './capabilities.js';
import { startEchoServer } from './demo/echo.js';
import { startMcpServer } from './demo/mcp.js';
import { createGatewayLogger } from './logger.js';
import { createRedactor } from '../redact/index.js';
import { createServerTlsProvider } from './tls.js';
import { assertProductionReady, developmentWarnings, isHttpsUpstream } from './production.js';
import { createUpstreamTls } from '../tls/index.js';
import { listenGateway, type RunningGateway, type ServerTlsProvider } from './server.js';
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
}

export interface Gateway extends RunningGateway {
  /** Replaces the TLS session ticket keys (no-op without TLS): server.workers' supervisor issues them. */
  setTicketKeys(keys: Buffer): void;
  config: GatehouseConfig;
  /** Rate limits and lockouts (server.workers: the worker shares its admissions through these). */
  limits: Limits;
  /** The dev CA certificate clients should trust (development, generated). */
  caCertPath: string | undefined;
}

/** Starts everything `gatehouse serve` runs: state dir, store, capabilities, demo upstreams, the listener. */
export async function startGateway(cfg: GatehouseConfig, opts: StartOptions = {}): Promise<Gateway> {
  const redactor = createRedactor(cfg.redact);
  const logger = opts.logger ?? createGatewayLogger(cfg, redactor, opts.worker?.index);
  const clock = opts.clock ?? systemClock;
  assertProductionReady(cfg);
  prepareStateDir(cfg.state_dir);
  for (const w of developmentWarnings(cfg)) logger.warn({ setting: w }, 'insecure setting allowed in development only');
  const store = openStore({ kind: cfg.store.kind, ...(cfg.store.path ? { path: cfg.store.path } : {}) }, { clock });
  const demoServers: Server[] = [];
  const upstreamUrls = new Map<string, string>();
  let echoUrl: string | undefined;
  let mcpUrl: string | undefined;
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
    const capabilities = await buildCapabilities(cfg, { logger, clock, store }, redactor, { ...(opts.worker ? { worker: opts.worker } : {}), ...(opts.alertsTo ? { alertsTo: opts.alertsTo } : {}) });
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
        readiness: async () => {
          const problems: string[] = [];
          await store.ping().catch(() => problems.push('state store unavailable'));
          return problems;
        },
      },
      opts.listen,
    );
    const close = running.close.bind(running);
    return Object.assign(running, {
      config: cfg,
      limits: capabilities.limits,
      caCertPath: tls?.caCertPath,
      setTicketKeys: (keys: Buffer) => tls?.provider.setTicketKeys?.(keys),
      async close(deadlineMs?: number) {
        await close(deadlineMs);
        await capabilities.close();
        // The gateway's own connections to the demos are gone by now; any left belong to local clients calling the
        // demo ports directly, and waiting for them would leave shutdown unbounded.
        const demosClosed = demoServers.map((s) => new Promise<void>((r) => s.close(() => r())));
        for (const s of demoServers) s.closeAllConnections();
        await Promise.all(demosClosed);
        await store.close();
      },
    });
  } catch (e) {
    for (const s of demoServers) s.close();
    await store.close();
    throw e;
  }
}
