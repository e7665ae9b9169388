/**
 * The metrics listener (metrics.listen): GET <metrics.path> answers the Prometheus text format. Its own port, so a
 * firewall can open it to the monitoring network only (seed 002). Scrapers outside metrics.allowed_ips get 403; with
 * metrics.tls and client certificates, one not on mtls_allowed_common_names/_sans gets 403; with metrics.token set, a
 * request without `Authorization: Bearer <token>` gets 401 (compared in constant time). Each configured guard applies
 * to every scrape: a client certificate does not stand in for the token. On loopback, a Host other than a loopback
 * name gets 421 (DNS rebinding).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { constantTimeEqual } from '../core/compare.js';
import { GatehouseError, isGatehouseError } from '../core/errors.js';
import { listenerHosts } from '../core/hosts.js';
import { ipMatcher } from '../core/net.js';
import type { Logger } from '../core/types.js';
import type { GatehouseConfig } from '../config/index.js';
import { checkClientAllowed, clientCertIdentity, createServerTls, devServerHosts, type ServerTls, type ServerTlsOptions } from '../tls/index.js';
import { listenOn, parseListen } from './server.js';
import { devCertificateHosts } from './tls.js';

export interface MetricsServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function answer(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': status === 200 ? CONTENT_TYPE : 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/**
 * Which generated dev certificate the metrics listener serves (no metrics.tls.cert_file, development). The main
 * listener's <state_dir>/tls/server.crt is issued for the defaults (localhost, 127.0.0.1, ::1) plus server.listen's
 * host, and ensureDevServerCertificate re-issues it whenever asked for other hosts. So when that certificate covers
 * metrics.listen's host (loopback, a wildcard, the same address), the metrics listener asks for exactly the main
 * listener's hosts and reuses it as it is; otherwise it takes its own files (metrics.crt), signed by the same CA, and
 * neither listener ever re-issues the other's certificate.
 */
export function metricsDevCertificate(cfg: Pick<GatehouseConfig, 'server' | 'metrics'>): Pick<ServerTlsOptions, 'hosts' | 'devCertName'> {
  const shared = devCertificateHosts(cfg.server.listen);
  const own = devCertificateHosts(cfg.metrics.listen);
  const covered = new Set(devServerHosts(shared));
  return devServerHosts(own).every((h) => covered.has(h)) ? { hosts: shared } : { hosts: own, devCertName: 'metrics' };
}

/** 127.0.0.0/8 and ::1 (also IPv4-mapped): the address the listener is bound to. */
const isLoopbackAddress = (a: string): boolean => /^(?:::ffff:)?127\./i.test(a) || a === '::1';

/** Starts the listener; `render` builds the body of one scrape. A listen failure is GH_LISTEN_FAILED. */
export async function startMetricsServer(config: GatehouseConfig, render: () => Promise<string>, logger: Logger): Promise<MetricsServer> {
  const cfg = config.metrics;
  const allowed = cfg.allowed_ips.length > 0 ? ipMatcher(cfg.allowed_ips) : undefined;
  const token = cfg.token;
  const tlsCfg = cfg.tls;
  const checksCertificates = tlsCfg.enabled && tlsCfg.client_auth !== 'none';
  const { host, port } = parseListen(cfg.listen, 'metrics.listen');
  // DNS rebinding: a page whose name is re-pointed at 127.0.0.1 would read the figures of a loopback listener.
  const hosts = listenerHosts(undefined, host);
  let refusals = 0;
  // Scrapes at the same moment share one collection (under workers, one round of messages to every worker).
  let collecting: Promise<string> | undefined;
  const collect = (): Promise<string> => (collecting ??= render().finally(() => (collecting = undefined)));
  const refuse = (req: IncomingMessage, res: ServerResponse, status: number, why: string, headers?: Record<string, string>, more: Record<string, unknown> = {}): void => {
    // One line per refusal is enough to see a misconfigured scraper; a flood is summed every 100.
    if (++refusals <= 10 || refusals % 100 === 0) logger.warn({ peer_ip: req.socket.remoteAddress, status, refusals, ...more }, `metrics scrape refused: ${why}`);
    answer(res, status, `${why}\n`, headers);
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (allowed && !allowed(req.socket.remoteAddress ?? '')) return refuse(req, res, 403, 'forbidden');
    if (hosts && !hosts.allows(req.headers.host)) return refuse(req, res, 421, 'host not allowed');
    if (checksCertificates) {
      // The handshake verified the chain (and the CRLs); the allow-lists are judged here (seed 002).
      try {
        checkClientAllowed(clientCertIdentity(req.socket as TLSSocket), tlsCfg);
      } catch (e) {
        // Anything else thrown here refuses too (fail closed).
        const detail = isGatehouseError(e) ? { code: e.code, ...(e.detail ? { detail: e.detail } : {}) } : { code: 'GH_TLS_CLIENT_NOT_ALLOWED' };
        return refuse(req, res, 403, 'forbidden', undefined, detail);
      }
    }
    if (token !== undefined) {
      const h = req.headers.authorization;
      const presented = typeof h === 'string' && h.length <= 4096 && /^Bearer [!-~]+$/i.test(h) ? h.slice(7) : '';
      if (!constantTimeEqual(presented, token)) return refuse(req, res, 401, 'unauthorized', { 'www-authenticate': 'Bearer realm="gatehouse-metrics"' });
    }
    if (path !== cfg.path) return answer(res, 404, 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
    collect().then(
      (body) => answer(res, 200, body),
      (e: unknown) => {
        logger.error({ code: (e as { code?: unknown }).code }, 'metrics could not be collected');
        answer(res, 500, 'metrics unavailable\n');
      },
    );
  };
  const serverOptions = { maxHeaderSize: 8192, requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000 };
  let tls: ServerTls | undefined;
  if (tlsCfg.enabled) {
    // Its messages name metrics.tls.*; certificate files are watched and reloaded as the main listener's are.
    tls = await createServerTls(tlsCfg, { stateDir: config.state_dir, logger, profile: config.profile, path: 'metrics.tls', ...metricsDevCertificate(config) });
  }
  // A handshake that does not finish in 10 s holds one of the few connections for nothing.
  const server: Server = tls ? createHttpsServer({ ...serverOptions, ...tls.options, handshakeTimeout: 10_000 }, onRequest) : createHttpServer(serverOptions, onRequest);
  // A scraper needs one connection; a few spare for a second Prometheus and a person with curl.
  server.maxConnections = 64;
  if (tls) {
    tls.attach(server);
    server.on('tlsClientError', (err: NodeJS.ErrnoException) => logger.debug({ code: err.code }, 'metrics: TLS handshake failed'));
  }
  await listenOn(server, host, port).catch((e: unknown) => {
    tls?.close();
    throw e instanceof GatehouseError ? new GatehouseError(e.code, `metrics.listen: ${e.message}`, { cause: e }) : e;
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  if (!tls && token !== undefined && !isLoopbackAddress(addr.address)) {
    logger.warn({ setting: 'metrics.tls.enabled', listen: cfg.listen }, 'metrics.token crosses the network in clear: the metrics listener is plain HTTP off loopback (enable metrics.tls)');
  }
  return {
    server,
    url: `${tls ? 'https' : 'http'}://${shownHost}:${addr.port}${cfg.path}`,
    close: () =>
      new Promise<void>((resolve) => {
        tls?.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
