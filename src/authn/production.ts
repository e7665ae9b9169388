import type { GatehouseConfig } from '../config/index.js';

const LOOPBACK_URL = /^http:\/\/(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(:\d+)?(\/|$)/i;

/**
 * Authentication settings acceptable in development and refused in production (seed 003: never AUTH_PROVIDER=none in
 * production; issue 3: no plaintext passwords in config). The config profile check and createAuthenticator call it.
 */
export function authProductionProblems(cfg: GatehouseConfig): string[] {
  const auth = cfg.auth;
  const problems: string[] = [];
  if (auth.methods.length === 0) problems.push('auth.methods is empty: every request must be authenticated');
  if (auth.methods.includes('none')) problems.push('auth.methods includes "none": authentication is required in production');
  auth.basic.users.forEach((u, i) => {
    if (u.password !== undefined) problems.push(`auth.basic.users[${i}].password is a plaintext password: use password_hash (gatehouse user add)`);
  });
  if (auth.token.secret !== undefined && Buffer.byteLength(auth.token.secret) < 32) {
    problems.push('auth.token.secret is shorter than 32 bytes: use 32 random bytes (openssl rand -hex 32)');
  }
  auth.jwt.issuers.forEach((iss, i) => {
    for (const [key, url] of [['issuer', iss.issuer], ['jwks_url', iss.jwks_url]] as const) {
      if (url !== undefined && url.startsWith('http://')) {
        problems.push(`auth.jwt.issuers[${i}].${key} is plain http${LOOPBACK_URL.test(url) ? ' (loopback)' : ''}: keys must be fetched over https`);
      }
    }
    if (iss.secret !== undefined && Buffer.byteLength(iss.secret) < 32) problems.push(`auth.jwt.issuers[${i}].secret is shorter than 32 bytes`);
  });
  for (const [name, value] of Object.entries(auth.header.headers)) {
    if (value.length < 16 && auth.methods.includes('header') && /key|token|secret|auth/i.test(name)) {
      problems.push(`auth.header.headers.${name} is shorter than 16 characters: use a long random value`);
    }
  }
  if (auth.header.trusted_identity.authenticate && auth.methods.includes('header') && cfg.server.trusted_proxies.length === 0) {
    problems.push('auth.header.trusted_identity.authenticate is on but server.trusted_proxies is empty');
  }
  return problems;
}

/** True for http URLs that stay on this host (allowed for JWKS and discovery outside production, e.g. tests). */
export function isLoopbackHttp(url: string): boolean {
  return LOOPBACK_URL.test(url);
}
