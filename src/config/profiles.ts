import { ipMatcher } from '../core/net.js';
import type { GatehouseConfig, RouteConfig } from './schema/index.js';
import { isPlainHttpOffLoopback } from './schema/tracing.js';

/**
 * The configuration-level production refusals (issue 2, seed 003's checklist: no demo services, no wildcard CORS on
 * admin or authenticated routes, every route authenticated, audit on). TLS and authentication add their own checks, composed with
 * these in doctor/refusals.ts (`productionRefusals`), which `serve`, `config check`, startGateway and `doctor` use.
 */
export function productionProblems(cfg: GatehouseConfig): string[] {
  const problems: string[] = [];
  // server.trusted_proxies that believes every peer lets any client choose the source address rate limits, lockouts
  // and the audit trail see (and, with trusted identity headers, its identity): untrusted, only spelled differently.
  if (trustsEveryAddress(cfg.server.trusted_proxies)) {
    problems.push('server.trusted_proxies trusts every address (0.0.0.0/0, ::/0 or equivalent): any client can set X-Forwarded-For and choose the source address that rate limits, lockouts and the audit trail see; list your proxies only');
  }
  cfg.routes.forEach((r, i) => {
    if (r.upstream.startsWith('demo:')) problems.push(`routes[${i}].upstream is ${r.upstream}: the demo upstreams are for development only`);
    if (!r.auth_required) problems.push(`routes[${i}].auth_required is false: every route needs an identity`);
    if (r.cors?.allowed_origins.includes('*')) problems.push(`routes[${i}].cors.allowed_origins contains "*": wildcard CORS on an authenticated route`);
    if (injectsCredential(r) && isPlainHttpOffLoopback(r.upstream)) {
      problems.push(`routes[${i}].upstream_auth is set and routes[${i}].upstream is plain http to another host: the injected upstream credential would travel in clear`);
    }
    // error_bodies: pass skips the scrub of the route's own injected credential from error bodies (an upstream that
    // echoes its request headers in a 4xx/5xx hands the credential to every caller).
    if (injectsCredential(r) && r.error_bodies === 'pass') {
      problems.push(`routes[${i}].upstream_auth is set and routes[${i}].error_bodies is pass: an upstream that echoes its request in an error body would hand the injected credential to the client; use redact (the default) or replace`);
    }
  });
  if (cfg.server.admin_cors_origins.includes('*')) problems.push('server.admin_cors_origins contains "*": wildcard CORS on admin routes');
  const hsts = cfg.server.tls.hsts;
  // RFC 6797 §6.1.1: max-age=0 tells browsers to delete the policy they hold, which is worse than sending none.
  if (cfg.server.tls.enabled && hsts.enabled && Math.floor(hsts.max_age / 1000) === 0) {
    problems.push('server.tls.hsts.max_age is 0: browsers told max-age=0 delete the HSTS policy they hold (RFC 6797 §6.1.1); use 365d, or hsts.enabled: false to send none');
  }
  if (cfg.demo.enabled) problems.push('demo.enabled is true: the demo upstreams are for development only');
  if (!cfg.audit.enabled) problems.push('audit.enabled is false');
  if (cfg.authz.mcp.sessions.insecure_unbound) problems.push('authz.mcp.sessions.insecure_unbound is true: any principal who learns an MCP session id can use that session');
  const t = cfg.tracing;
  if (t.enabled && Object.keys(t.headers).length > 0 && isPlainHttpOffLoopback(t.endpoint)) {
    problems.push('tracing.endpoint is plain http to another host and tracing.headers are set: the collector credentials would travel in clear');
  }
  // The same rule for the other outbound clients that carry configured headers (seed 000 "TLS everywhere").
  cfg.audit.sinks.forEach((s, i) => {
    if (s.type === 'http' && Object.keys(s.headers).length > 0 && isPlainHttpOffLoopback(s.url)) {
      problems.push(`audit.sinks[${i}].headers are set and audit.sinks[${i}].url is plain http to another host: the sink credentials would travel in clear`);
    }
  });
  const a = cfg.audit.alerts;
  if (a.enabled && Object.keys(a.headers).length > 0 && isPlainHttpOffLoopback(a.webhook_url)) {
    problems.push('audit.alerts.headers are set and audit.alerts.webhook_url is plain http to another host: the webhook credentials would travel in clear');
  }
  return problems;
}

/** Whether the route adds a credential of its own to what it forwards (bearer, basic, oauth2 or credential headers). */
export function injectsCredential(r: Pick<RouteConfig, 'upstream_auth'>): boolean {
  const ua = r.upstream_auth;
  return ua !== undefined && (ua.bearer !== undefined || ua.basic !== undefined || ua.oauth2 !== undefined || Object.keys(ua.headers).length > 0);
}

/** Addresses spread over both address spaces: a peer list matching all of either family's trusts everyone. */
const SPREAD_V4 = ['0.0.0.1', '64.0.0.1', '127.0.0.1', '128.0.0.1', '192.0.2.1', '255.255.255.254'];
const SPREAD_V6 = ['::2', '2001:db8::1', '7fff::1', '8000::1', 'fe80::1', 'ffff::1'];

/**
 * Whether a server.trusted_proxies list believes every peer: 0.0.0.0/0, ::/0, ::ffff:0:0/96, two /1 halves … (the
 * "trust proxy: true" of other frameworks). False for a list that is no address list at all (the listener refuses it).
 */
export function trustsEveryAddress(entries: readonly string[]): boolean {
  if (entries.length === 0) return false;
  let trusted: (ip: string) => boolean;
  try {
    trusted = ipMatcher(entries);
  } catch {
    return false;
  }
  return SPREAD_V4.every(trusted) || SPREAD_V6.every(trusted);
}
