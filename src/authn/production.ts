import { trustsEveryAddress, type GatehouseConfig } from '../config/index.js';

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
  // Every previous secret still verifies tokens: a short one is as guessable as a short current secret.
  auth.token.previous_secrets.forEach((s, i) => {
    if (Buffer.byteLength(s) < 32) problems.push(`auth.token.previous_secrets[${i}] is shorter than 32 bytes: it still verifies tokens; remove it or use 32 random bytes`);
  });
  auth.jwt.issuers.forEach((iss, i) => {
    for (const [key, url] of [['issuer', iss.issuer], ['jwks_url', iss.jwks_url]] as const) {
      if (url !== undefined && url.startsWith('http://')) {
        problems.push(`auth.jwt.issuers[${i}].${key} is plain http${LOOPBACK_URL.test(url) ? ' (loopback)' : ''}: keys must be fetched over https`);
      }
    }
    if (iss.secret !== undefined && Buffer.byteLength(iss.secret) < 32) problems.push(`auth.jwt.issuers[${i}].secret is shorter than 32 bytes`);
  });
  const headerValues = Object.entries(auth.header.headers);
  for (const [name, value] of headerValues) {
    if (value.length < 16 && auth.methods.includes('header') && /key|token|secret|auth|pass|pwd|cred/i.test(name)) {
      problems.push(`auth.header.headers.${name} is shorter than 16 characters: use a long random value`);
    }
  }
  // The headers together are the credential, whatever they are called (X-Client-Code: 1234 is a four-digit
  // password): at least one of them must carry a long random value. X-Tenant-ID beside it may stay short.
  if (auth.methods.includes('header') && headerValues.length > 0 && headerValues.every(([, v]) => v.length < 16) && problems.every((p) => !p.startsWith('auth.header.headers.'))) {
    problems.push('auth.header.headers: no header holds a value of 16 characters or more: one must carry a long random secret');
  }
  if (auth.header.trusted_identity.authenticate && auth.methods.includes('header')) {
    if (cfg.server.trusted_proxies.length === 0) problems.push('auth.header.trusted_identity.authenticate is on but server.trusted_proxies is empty');
    // A list that trusts every peer (0.0.0.0/0, ::/0, ::ffff:0:0/96, two /1 halves) believes an identity header from
    // any client: as unauthenticated as an empty list, only spelled differently.
    else if (trustsEveryAddress(cfg.server.trusted_proxies)) {
      problems.push('auth.header.trusted_identity.authenticate is on but server.trusted_proxies trusts every address: any client could name its own identity');
    }
  }
  return problems;
}

/** True for http URLs that stay on this host (allowed for JWKS and discovery outside production, e.g. tests). */
export function isLoopbackHttp(url: string): boolean {
  return LOOPBACK_URL.test(url);
}
