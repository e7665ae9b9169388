/**
 * The one list of settings refused in production. `gatehouse serve`, startGateway and `config check` refuse them
 * (through gateway/production.ts); `gatehouse doctor` reports each of them as a failing check.
 */
import { parsePostgresUrl, productionProblems, type GatehouseConfig } from '../config/index.js';
import { authProductionProblems } from '../authn/index.js';
import { tlsProductionProblems, upstreamTlsProductionProblems } from '../tls/index.js';
import { isLoopbackHost, listenHost } from './outcome.js';
import { outboundClientTls, usesTls } from './files.js';
import { isHttpsUrl } from '../core/net.js';

/** URL schemes are case-insensitive (RFC 3986 §3.1): `HTTPS://` is a TLS upstream too, with its route's tls block. */
export const isHttpsUpstream = isHttpsUrl;

/**
 * Every setting refused in production, each named: the configuration's own (demo services, wildcard CORS on admin
 * routes, unauthenticated routes, audit off), server and upstream TLS (dev CA, TLS below 1.2, insecure_skip_verify),
 * authentication (no method, `none`, plaintext passwords, short secrets) and the approval webhook's transport.
 * Every message starts with the config path it is about (doctor sorts them into checks by it).
 */
export function productionRefusals(cfg: GatehouseConfig): string[] {
  return [
    ...tlsProductionProblems(cfg.server.tls),
    ...cfg.routes.flatMap((r, i) => (isHttpsUpstream(r.upstream) ? upstreamTlsProductionProblems(r.tls, `routes[${i}].tls`) : [])),
    ...outboundTlsProblems(cfg),
    ...authProductionProblems(cfg),
    ...productionProblems(cfg),
    ...approvalProblems(cfg),
    ...metricsProblems(cfg),
    ...storeProblems(cfg),
  ];
}

/**
 * The TLS blocks of the outbound clients (approval.webhook.tls, audit.sinks[].tls, auth.jwt.issuers[].tls, tracing.tls,
 * audit.alerts.tls, store.postgres.tls), judged as routes[].tls is, when the client uses TLS (docs/tls.md § TLS for
 * outbound clients).
 */
export function outboundTlsProblems(cfg: GatehouseConfig): string[] {
  return outboundClientTls(cfg)
    .filter(usesTls)
    .flatMap((c) => upstreamTlsProductionProblems(c.tls, c.path));
}

/**
 * Seed 000 "TLS everywhere": the PostgreSQL store carries the role's password and every revocation, API key hash and
 * approval; off this host (not loopback, not a Unix socket) it needs store.postgres.tls.
 */
export function storeProblems(cfg: GatehouseConfig): string[] {
  const pg = cfg.store.kind === 'postgres' ? cfg.store.postgres : undefined;
  if (pg === undefined || pg.tls.enabled) return [];
  const target = parsePostgresUrl(pg.url);
  if (typeof target === 'string' || target.socket || isLoopbackHost(target.host)) return [];
  return [`store.postgres.url names ${target.host}, not loopback, and store.postgres.tls.enabled is false: the store's password and state would cross the network in clear`];
}

/**
 * Metrics on a port others can reach need a guard: request counts per route and status map the traffic. The token
 * is one; client certificates required at the handshake (metrics.tls.client_auth: require) are the other. With
 * metrics.tls on, its block is judged as server.tls is (dev CA, TLS below 1.2, a client CA that is the dev CA).
 */
export function metricsProblems(cfg: GatehouseConfig): string[] {
  const m = cfg.metrics;
  if (!m.enabled) return [];
  const problems = m.tls.enabled ? tlsProductionProblems(m.tls, 'metrics.tls') : [];
  const host = listenHost(m.listen);
  const mtls = m.tls.enabled && m.tls.client_auth === 'require';
  if (m.token === undefined && !mtls && !(host !== undefined && isLoopbackHost(host))) {
    problems.unshift(`metrics.listen is ${m.listen.slice(0, 64)}, not loopback, and neither metrics.token nor metrics.tls.client_auth: require is set: anyone who reaches the port reads the gateway's traffic figures`);
  }
  return problems;
}

const LOOPBACK_HTTP = /^http:\/\/(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(:\d+)?(\/|$)/i;

/** The approval webhook carries signed approval requests: over the network it must be https. */
export function approvalProblems(cfg: GatehouseConfig): string[] {
  const url = cfg.approval.webhook.url;
  if (url && /^http:\/\//i.test(url) && !LOOPBACK_HTTP.test(url)) return ['approval.webhook.url is plain http to another host: approval requests must travel over https'];
  return [];
}

/** The config path a refusal message starts with, array indexes as `[]`: "routes[2].tls.x is …" → "routes[].tls.x". */
export function refusalPath(message: string): string {
  return (/^[^\s:]+/.exec(message)?.[0] ?? '').replace(/\[\d+\]/g, '[]');
}
