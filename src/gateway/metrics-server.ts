/**
 * The metrics listener (metrics.listen): GET <metrics.path> answers the Prometheus text format. Its own port, so a
 * firewall can open it to the monitoring network only (seed 002). Scrapers outside metrics.allowed_ips get 403; with
 * metrics.token set, a request without `Authorization: Bearer <token>` gets 401 (compared in constant time).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { constantTimeEqual } from '../core/compare.js';
import { GatehouseError } from '../core/errors.js';
import { ipMatcher } from '../core/net.js';
import type { Logger } from '../core/types.js';
import type { GatehouseConfig } from '../config/index.js';
import { listenOn, parseListen } from './server.js';

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

/** Starts the listener; `render` builds the body of one scrape. A listen failure is GH_LISTEN_FAILED. */
export async function startMetricsServer(cfg: GatehouseConfig['metrics'], render: () => Promise<string>, logger: Logger): Promise<MetricsServer> {
  const allowed = cfg.allowed_ips.length > 0 ? ipMatcher(cfg.allowed_ips) : undefined;
  const token = cfg.token;
  let refusals = 0;
  // Scrapes at the same moment share one collection (under workers, one round of messages to every worker).
  let collecting: Promise<string> | undefined;
  const collect = (): Promise<string> => (collecting ??= render().finally(() => (collecting = undefined)));
  const refuse = (req: IncomingMessage, res: ServerResponse, status: number, why: string, headers?: Record<string, string>): void => {
    // One line per refusal is enough to see a misconfigured scraper; a flood is summed every 100.
    if (++refusals <= 10 || refusals % 100 === 0) logger.warn({ peer_ip: req.socket.remoteAddress, status, refusals }, `metrics scrape refused: ${why}`);
    answer(res, status, `${why}\n`, headers);
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (allowed && !allowed(req.socket.remoteAddress ?? '')) return refuse(req, res, 403, 'forbidden');
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
  const server = createServer({ maxHeaderSize: 8192, requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000 }, onRequest);
  // A scraper needs one connection; a few spare for a second Prometheus and a person with curl.
  server.maxConnections = 64;
  const { host, port } = parseListen(cfg.listen, 'metrics.listen');
  await listenOn(server, host, port).catch((e: unknown) => {
    throw e instanceof GatehouseError ? new GatehouseError(e.code, `metrics.listen: ${e.message}`, { cause: e }) : e;
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    server,
    url: `http://${shownHost}:${addr.port}${cfg.path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
