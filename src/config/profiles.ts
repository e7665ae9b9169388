import type { GatehouseConfig } from './schema/index.js';
import { isPlainHttpOffLoopback } from './schema/tracing.js';

/**
 * The configuration-level production refusals (issue 2, seed 003's checklist: no demo services, no wildcard CORS on
 * admin or authenticated routes, every route authenticated, audit on). TLS and authentication add their own checks, composed with
 * these in doctor/refusals.ts (`productionRefusals`), which `serve`, `config check`, startGateway and `doctor` use.
 */
export function productionProblems(cfg: GatehouseConfig): string[] {
  const problems: string[] = [];
  cfg.routes.forEach((r, i) => {
    if (r.upstream.startsWith('demo:')) problems.push(`routes[${i}].upstream is ${r.upstream}: the demo upstreams are for development only`);
    if (!r.auth_required) problems.push(`routes[${i}].auth_required is false: every route needs an identity`);
    if (r.cors?.allowed_origins.includes('*')) problems.push(`routes[${i}].cors.allowed_origins contains "*": wildcard CORS on an authenticated route`);
  });
  if (cfg.server.admin_cors_origins.includes('*')) problems.push('server.admin_cors_origins contains "*": wildcard CORS on admin routes');
  if (cfg.demo.enabled) problems.push('demo.enabled is true: the demo upstreams are for development only');
  if (!cfg.audit.enabled) problems.push('audit.enabled is false');
  if (cfg.authz.mcp.sessions.insecure_unbound) problems.push('authz.mcp.sessions.insecure_unbound is true: any principal who learns an MCP session id can use that session');
  const t = cfg.tracing;
  if (t.enabled && Object.keys(t.headers).length > 0 && isPlainHttpOffLoopback(t.endpoint)) {
    problems.push('tracing.endpoint is plain http to another host and tracing.headers are set: the collector credentials would travel in clear');
  }
  return problems;
}
