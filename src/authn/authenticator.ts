import type { GatehouseConfig } from '../config/index.js';
import { GatehouseError, isGatehouseError, type ErrorCode } from '../core/errors.js';
import { ipMatcher } from '../core/net.js';
import type { AuthMethod, Exchange, NetworkIdentity, Principal, Stage, StageDeps } from '../core/types.js';
import { readCredentials } from './credentials.js';
import { FailureCounter, type FailureSnapshot } from './failures.js';
import { VerificationGate, type Release } from './gate.js';
import { parseApiKey } from './api-key-store.js';
import { CredentialError, type AuthMethodImpl, type Credentials } from './method.js';
import { buildMethods } from './methods/index.js';
import { anonymousPrincipal } from './methods/none.js';
import { authProductionProblems } from './production.js';
import { RevocationWatcher } from './revocation.js';
import { openTokenService } from './setup.js';
import type { TokenService } from './tokens.js';
import { TokenKeyRotator, tokenRotationPolicy } from './token-rotation.js';
import { trustedProxyIdentity } from './trusted-identity.js';
import { UsageRecorder } from './usage.js';

/** The limits capability's lockout check, run before a credential is looked at (injected: authn does not import limits). */
export interface LockoutCheck {
  /** Throws GH_LOCKED_OUT when the client is locked out. */
  checkIp(sourceIp: string): void;
  /** Throws GH_LOCKED_OUT when the principal a credential claims is locked out. */
  checkPrincipal(claimed: string | undefined): void;
}

export interface AuthenticatorDeps extends StageDeps {
  stateDir: string;
  lockout?: LockoutCheck;
  /**
   * Worker processes sharing the failure counts (server.workers; 1 by default). Each may have its share of the
   * lockout allowance in flight, so that together they verify no more guesses at once than one process would.
   */
  workers?: number;
}

export interface Authenticator {
  /** The identify stage: sets ex.principal or throws (401 with WWW-Authenticate per RFC 6750, 400 when ambiguous). */
  identify: Stage;
  /** The identify stage of public routes: a request without any credential is the anonymous principal (no scopes). */
  identifyOptional: Stage;
  /** Verifies a bare bearer credential through the bearer methods (admin API, WebSocket upgrades). */
  verifyBearer(bearer: string, network: NetworkIdentity): Principal | Promise<Principal>;
  /** Failures per source IP and claimed principal (the limits capability locks out on these). */
  failureCounts(): FailureSnapshot;
  readonly failures: FailureCounter;
  /** The token service (mint, revoke, inspect) when tokens are configured. */
  readonly tokens: TokenService | undefined;
  readonly methods: readonly AuthMethod[];
  /**
   * Hears of each revocation this process learns of (made here, or read from the shared store's feed within
   * auth.revocation_poll): a token id (jti, Gatehouse tokens and JWTs) or an API key id.
   */
  onRevoked(fn: (kind: 'token' | 'api_key', id: string) => void): void;
  /** Whether a token id (jti) or an API key id is revoked, as this process knows now. */
  isRevoked(kind: 'token' | 'api_key', id: string): boolean;
  /**
   * Whether the key that signed a principal's credential still verifies: false for a Gatehouse token whose signing key
   * was retired since (`token rotate-secret --overlap 0` or `--retire` after a leak), and for a JWT whose key a
   * successful JWKS refresh dropped or replaced under its kid (the IdP rotated it out); true for other methods.
   * Synchronous, never a fetch: the credential watch asks it every sweep.
   */
  keyStillValid(principal: Principal): boolean;
  close(): Promise<void>;
}

type Family = 'token' | 'credentials';

/**
 * Builds the identify stage from `auth.methods`: tried in order, the first method that recognises the credential
 * decides, and a recognised but invalid credential is refused — never passed to the next method (issue 3).
 */
/** Under server.workers: how long a gate's waiters give the other workers' failures to arrive (gate.ts settleMs). */
const GATE_SETTLE_MS = 10;

export async function createAuthenticator(cfg: GatehouseConfig, deps: AuthenticatorDeps): Promise<Authenticator> {
  if (cfg.profile === 'production') {
    const problems = authProductionProblems(cfg);
    if (problems.length > 0) throw new GatehouseError('GH_CONFIG_PRODUCTION_REFUSED', `production: ${problems[0]}`, { detail: problems.join('; ') });
  }
  const auth = cfg.auth;
  const realm = auth.realm;
  const { clock, store, logger } = deps;
  const lockoutCfg = cfg.limits.lockout;
  const exempt = ipMatcher(lockoutCfg.exempt);
  const failures = new FailureCounter({ now: () => clock.now(), windowMs: lockoutCfg.window, exempt });
  const lockout = deps.lockout;
  const revocations = new RevocationWatcher(store, { intervalMs: auth.revocation_poll, logger });
  await revocations.start();
  const usage = new UsageRecorder(store, { flushMs: auth.usage_flush, logger });
  const tokens = auth.methods.includes('token') ? openTokenService(cfg, { stateDir: deps.stateDir, store, clock, revocations }) : undefined;
  const keyTimer = tokens ? setInterval(() => safeReload(tokens), 1000) : undefined;
  keyTimer?.unref();

  const methods = await buildMethods(cfg, { ...deps, tokens, revocations, usage });
  const jwtKeys = methods.find((m) => m.name === 'jwt');
  const gate = lockout
    ? new VerificationGate({ maxFailures: lockoutCfg.max_failures, perIp: lockoutCfg.per.includes('ip'), perPrincipal: lockoutCfg.per.includes('principal'), exempt, shares: deps.workers ?? 1 }, failures, { settleMs: (deps.workers ?? 1) > 1 ? GATE_SETTLE_MS : 0 })
    : undefined;
  const isTrustedPeer = ipMatcher(cfg.server.trusted_proxies);
  const trusted = auth.header.trusted_identity;
  const allowedTags = trusted.allowed_tags.length > 0 ? new Set(trusted.allowed_tags) : undefined;
  if (allowedTags && cfg.server.trusted_proxies.length === 0) {
    throw new GatehouseError('GH_CONFIG_INVALID', 'auth.header.trusted_identity.allowed_tags: server.trusted_proxies is empty, so no request could carry a tag');
  }
  const maxAuthorization = Math.max(auth.token.max_length, auth.jwt.max_length, 4096) + 32;
  const basicChallenge = auth.methods.includes('basic') ? `, Basic realm="${realm}", charset="UTF-8"` : '';
  const challenges = {
    required: `Bearer realm="${realm}"${basicChallenge}`,
    invalidToken: `Bearer realm="${realm}", error="invalid_token"`,
    invalidBasic: `Basic realm="${realm}", charset="UTF-8"`,
    invalidRequest: `Bearer realm="${realm}", error="invalid_request"`,
  };

  /** Maps a method's precise failure to the public one; records the reason for the audit record and counts it. */
  const refuse = (ex: Exchange, method: AuthMethod | undefined, family: Family, err: unknown): GatehouseError => {
    if (!isGatehouseError(err)) {
      logger.error({ event: 'authn.method_error', method }, 'authentication method failed unexpectedly');
      err = new CredentialError('GH_INTERNAL', 'method_error');
    }
    const e = err as GatehouseError;
    const reason = e.detail ?? 'invalid';
    ex.meta['auth_failure'] = { method: method ?? 'chain', code: e.code, reason };
    const detail = `${method ?? 'chain'}:${e.code}:${reason}`;
    if (e.code === 'GH_AUTH_AMBIGUOUS') return new GatehouseError('GH_AUTH_AMBIGUOUS', undefined, { detail, headers: { 'WWW-Authenticate': challenges.invalidRequest } });
    if (e.code === 'GH_STORE_UNAVAILABLE' || e.code === 'GH_INTERNAL') return new GatehouseError(e.code, undefined, { detail });
    // Overloaded (bcrypt verifications capped, bcrypt-pool.ts; or this client's share of them): nothing was verified,
    // so, like the gate's own refusal, not a failure — for the principal, counting would let anyone lock a user out by
    // sending at once; for the client, its verified guesses already count, and a NAT's burst of logins is no guess.
    if (e.code === 'GH_RATE_LIMITED') return new GatehouseError(e.code, e.message, { detail, ...(e.headers ? { headers: e.headers } : {}) });
    failures.record(ex.network.source_ip, (e as CredentialError).claimed, method ?? 'chain', reason);
    const code: ErrorCode = family === 'token' ? 'GH_TOKEN_INVALID' : 'GH_CREDENTIALS_INVALID';
    const challenge = method === 'basic' ? challenges.invalidBasic : challenges.invalidToken;
    return new GatehouseError(code, undefined, { detail, headers: { 'WWW-Authenticate': challenge } });
  };

  /** Verifies one credential; failures are counted (refuse) before the verification's gate slot is given back. */
  const verify = (ex: Exchange, m: AuthMethodImpl, claim: unknown, release: Release): Principal | Promise<Principal> => {
    let result: Principal | Promise<Principal>;
    try {
      result = m.authenticate(ex, claim);
    } catch (e) {
      const err = refuse(ex, m.name, m.failure, e);
      release();
      throw err;
    }
    if (!(result instanceof Promise)) {
      release();
      return result;
    }
    return result.then(
      (p) => {
        release();
        return p;
      },
      (e: unknown) => {
        const err = refuse(ex, m.name, m.failure, e);
        release();
        throw err;
      },
    );
  };

  /**
   * Methods whose verification is asynchronous (argon2, a JWKS signature, an API key hash) pass the gate: the guesses
   * in flight count against the lockout's allowance (gate.ts). A waiter looks at the lockout again before it starts.
   */
  const gated = (ex: Exchange, m: AuthMethodImpl, claim: unknown, claimed: string | undefined): Principal | Promise<Principal> => {
    if (gate === undefined || !GATED_METHODS.has(m.name)) return verify(ex, m, claim, noRelease);
    const ip = ex.network.source_ip;
    const entered = gate.enter(ip, claimed);
    if (!(entered instanceof Promise)) return verify(ex, m, claim, entered);
    return entered.then((release) => {
      try {
        lockout?.checkIp(ip);
        lockout?.checkPrincipal(claimed);
      } catch (e) {
        release();
        throw e;
      }
      return verify(ex, m, claim, release);
    });
  };

  const run = (ex: Exchange, creds: Credentials, optional: boolean): void | Promise<void> => {
    // Two different carriers (e.g. Authorization and X-API-Key) are two credentials: refuse rather than pick one —
    // also when one method finds its credential in both (two API keys).
    let carrier: string | undefined;
    for (const m of methods) {
      const c = m.carrier(ex, creds);
      if (c === undefined) continue;
      for (const one of typeof c === 'string' ? [c] : c) {
        if (carrier === undefined) carrier = one;
        else if (one !== carrier) throw refuse(ex, undefined, 'credentials', new CredentialError('GH_AUTH_AMBIGUOUS', 'two_credentials'));
      }
    }
    for (const m of methods) {
      const claim = m.recognise(ex, creds);
      if (claim === undefined) continue;
      // A locked-out principal is refused before its credential is checked: a right guess while locked gains nothing.
      const claimed = claimedPrincipal(m, creds, claim);
      if (lockout) lockout.checkPrincipal(claimed);
      const result = gated(ex, m, claim, claimed);
      if (result instanceof Promise) {
        return result.then((p) => {
          ex.principal = p;
        });
      }
      ex.principal = result;
      return undefined;
    }
    if (creds.scheme !== undefined || carrier !== undefined) {
      throw refuse(ex, undefined, creds.bearer !== undefined ? 'token' : 'credentials', new CredentialError('GH_CREDENTIALS_INVALID', 'unrecognised_credential'));
    }
    if (optional) {
      ex.principal = anonymousPrincipal(ex);
      return undefined;
    }
    ex.meta['auth_failure'] = { method: 'chain', code: 'GH_AUTH_REQUIRED', reason: 'no_credentials' };
    throw new GatehouseError('GH_AUTH_REQUIRED', undefined, { detail: 'chain:GH_AUTH_REQUIRED:no_credentials', headers: { 'WWW-Authenticate': challenges.required } });
  };

  const identifyWith = (ex: Exchange, optional: boolean): void | Promise<void> => {
    if (trusted.enabled) {
      const id = trustedProxyIdentity(ex, trusted, isTrustedPeer);
      // Layer 1 before any credential is looked at (or counted as a failure): a valid token from an untagged node is
      // still refused.
      if (allowedTags && !id?.tailscale_tags?.some((t) => allowedTags.has(t))) {
        ex.meta['network_refused'] = id ? 'tag_not_allowed' : 'no_trusted_identity';
        throw new GatehouseError('GH_NETWORK_NOT_ALLOWED', undefined, { detail: id ? 'tag_not_allowed' : 'no_trusted_identity' });
      }
    }
    if (lockout) lockout.checkIp(ex.network.source_ip);
    let creds: Credentials;
    try {
      creds = readCredentials(ex, maxAuthorization);
    } catch (e) {
      const basic = (e as GatehouseError).detail === 'basic_syntax';
      throw refuse(ex, basic ? 'basic' : undefined, basic ? 'credentials' : 'token', e);
    }
    return run(ex, creds, optional);
  };
  const identify: Stage = (ex) => identifyWith(ex, false);
  /** For public routes: no credential at all is the anonymous principal (no scopes); a bad credential is still refused. */
  const identifyOptional: Stage = (ex) => identifyWith(ex, true);

  const bearerMethods = methods.filter((m) => m.name === 'token' || m.name === 'jwt' || m.name === 'api_key' || m.name === 'static');
  const verifyBearer = (bearer: string, network: NetworkIdentity): Principal | Promise<Principal> => {
    const ex = { network, req: { headers: {}, rawHeaders: [] }, meta: {} } as unknown as Exchange;
    const creds: Credentials = { scheme: 'bearer', bearer, basic: undefined };
    if (lockout) lockout.checkIp(network.source_ip);
    for (const m of bearerMethods) {
      const claim = m.recognise(ex, creds);
      if (claim === undefined) continue;
      const claimed = claimedPrincipal(m, creds, claim);
      if (lockout) lockout.checkPrincipal(claimed);
      return gated(ex, m, claim, claimed);
    }
    throw refuse(ex, undefined, 'token', new CredentialError('GH_CREDENTIALS_INVALID', 'unrecognised_credential'));
  };

  // auth.token.rotation (last, so nothing above can fail and leave its timer running): the first look before the
  // gateway serves, then on an unref'd timer; stopped by close().
  const rotation = tokens ? tokenRotationPolicy(cfg) : undefined;
  const rotator = rotation ? new TokenKeyRotator({ ...rotation, stateDir: deps.stateDir, clock, audit: deps.audit, logger, tokens }) : undefined;
  await rotator?.start();

  return {
    identify,
    identifyOptional,
    verifyBearer,
    failureCounts: () => failures.snapshot(),
    failures,
    tokens,
    methods: methods.map((m) => m.name),
    onRevoked: (fn) => revocations.onRevoked(fn),
    isRevoked: (kind, id) => (kind === 'token' ? revocations.isTokenRevoked(id) : revocations.isApiKeyRevoked(id)),
    keyStillValid: (p) => {
      if (p.method === 'jwt') return jwtKeys?.keyStillValid?.(p) ?? true;
      const kid = p.attributes['kid'];
      return p.method !== 'token' || tokens === undefined || typeof kid !== 'string' || tokens.verifiesKid(kid);
    },
    async close() {
      if (keyTimer) clearInterval(keyTimer);
      await rotator?.close();
      await revocations.close();
      await usage.close();
      for (const m of methods) await m.close?.();
    },
  };
}

/**
 * The principal a credential claims before it is verified, as failures are counted under it (CredentialError.claimed):
 * a Basic user name, an API key id. Bearer tokens and JWTs claim nobody until their signature is checked.
 */
/** Methods that may verify asynchronously: their guesses in flight are gated (gate.ts). */
const GATED_METHODS: ReadonlySet<AuthMethod> = new Set<AuthMethod>(['basic', 'jwt', 'api_key']);
const noRelease: Release = () => undefined;

function claimedPrincipal(m: AuthMethodImpl, creds: Credentials, claim: unknown): string | undefined {
  if (m.name === 'basic') return creds.basic?.user.slice(0, 128);
  if (m.name === 'api_key' && typeof claim === 'string') return parseApiKey(claim)?.id;
  return undefined;
}

function safeReload(tokens: TokenService): void {
  try {
    tokens.reloadKeysIfChanged();
  } catch {
    // A half-written or unreadable key file: keep the keys already loaded and try again next second.
  }
}
