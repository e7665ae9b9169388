import type { GatehouseConfig } from './schema/index.js';

/**
 * Settings that are acceptable in development and refused in production, each named (issue 2, seed 003's
 * checklist: no AUTH_PROVIDER=none, no wildcard CORS, HTTPS only; seed 000: no insecure_skip_verify, TLS ≥ 1.2).
 * Capability-specific sections are read structurally so config stays below the capabilities.
 */
export function productionProblems(cfg: GatehouseConfig): string[] {
  const problems: string[] = [];
  const tls = cfg.server.tls;
  if (!tls.enabled) problems.push('server.tls.enabled is false: production serves HTTPS only');
  else {
    if (!tls.cert_file || !tls.key_file) problems.push('server.tls.cert_file/key_file are not set: the generated dev CA is for development only');
    if (tls.min_version === 'tls10' || tls.min_version === 'tls11') problems.push(`server.tls.min_version is ${tls.min_version}: production needs tls12 or tls13`);
    if (tls.insecure_allow_legacy_tls) problems.push('server.tls.insecure_allow_legacy_tls is true');
  }
  cfg.routes.forEach((r, i) => {
    if (r.tls.insecure_skip_verify) problems.push(`routes[${i}].tls.insecure_skip_verify is true: upstream certificates must be verified`);
    if (r.tls.min_version === 'tls10' || r.tls.min_version === 'tls11') problems.push(`routes[${i}].tls.min_version is ${r.tls.min_version}`);
    if (r.upstream.startsWith('demo:')) problems.push(`routes[${i}].upstream is ${r.upstream}: the demo upstreams are for development only`);
  });
  if (cfg.server.admin_cors_origins.includes('*')) problems.push('server.admin_cors_origins contains "*": wildcard CORS on admin routes');
  if (cfg.demo.enabled) problems.push('demo.enabled is true: the demo upstreams are for development only');

  const auth = cfg.auth as { methods?: readonly string[]; basic?: { users?: readonly { password?: string }[] } };
  const methods = auth.methods ?? [];
  if (methods.length === 0) problems.push('auth.methods is empty: every request must be authenticated');
  if (methods.includes('none')) problems.push('auth.methods includes "none": authentication is required in production');
  (auth.basic?.users ?? []).forEach((u, i) => {
    if (typeof u.password === 'string') problems.push(`auth.basic.users[${i}].password is a plaintext password: use password_hash`);
  });
  cfg.routes.forEach((r, i) => {
    if (!r.auth_required) problems.push(`routes[${i}].auth_required is false: every route needs an identity`);
  });
  const audit = cfg.audit as { enabled?: boolean; on_failure?: string };
  if (audit.enabled === false) problems.push('audit.enabled is false');
  return problems;
}

/** Risky opt-outs that are allowed in development but warned about at start (named insecure_… or dangerously_…). */
export function developmentWarnings(cfg: GatehouseConfig): string[] {
  return cfg.profile === 'production' ? [] : productionProblems(cfg).filter((p) => /insecure|dangerously|none|plaintext|wildcard/.test(p));
}
