import { ConfigError, productionProblems, type GatehouseConfig } from '../config/index.js';
import { authProductionProblems } from '../authn/index.js';
import { tlsProductionProblems, upstreamTlsProductionProblems } from '../tls/index.js';

/** URL schemes are case-insensitive (RFC 3986 §3.1): `HTTPS://` is a TLS upstream too, with its route's tls block. */
export const isHttpsUpstream = (url: string): boolean => /^https:/i.test(url);

/**
 * Every setting refused in production, each named: the configuration's own (demo services, wildcard CORS on admin
 * routes, unauthenticated routes, audit off), server and upstream TLS (dev CA, TLS below 1.2, insecure_skip_verify)
 * and authentication (no method, `none`, plaintext passwords, short secrets).
 */
export function productionRefusals(cfg: GatehouseConfig): string[] {
  return [
    ...tlsProductionProblems(cfg.server.tls),
    ...cfg.routes.flatMap((r, i) => (isHttpsUpstream(r.upstream) ? upstreamTlsProductionProblems(r.tls, `routes[${i}].tls`) : [])),
    ...authProductionProblems(cfg),
    ...productionProblems(cfg),
    ...approvalProblems(cfg),
  ];
}

const LOOPBACK_HTTP = /^http:\/\/(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(:\d+)?(\/|$)/i;

/** The approval webhook carries signed approval requests: over the network it must be https. */
function approvalProblems(cfg: GatehouseConfig): string[] {
  const url = cfg.approval.webhook.url;
  if (url && url.startsWith('http://') && !LOOPBACK_HTTP.test(url)) return ['approval.webhook.url is plain http to another host: approval requests must travel over https'];
  return [];
}

/** In production, throws one ConfigError listing every refused setting (exit status 2 from the CLI). */
export function assertProductionReady(cfg: GatehouseConfig): void {
  if (cfg.profile !== 'production') return;
  const problems = productionRefusals(cfg);
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `production: ${p}`), 'GH_CONFIG_PRODUCTION_REFUSED');
}

/** The same settings, allowed in development: warned about at start when they are risky opt-outs. */
export function developmentWarnings(cfg: GatehouseConfig): string[] {
  if (cfg.profile === 'production') return [];
  return productionRefusals(cfg).filter((p) => /insecure|dangerously|"none"|plaintext|wildcard/.test(p));
}
