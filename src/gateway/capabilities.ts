import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatehouseError } from '../core/errors.js';
import type { Exchange, Logger, Stage, StageDeps } from '../core/types.js';
import type { GatehouseConfig } from '../config/index.js';
import { createAuthenticator, type FailureSnapshot } from '../authn/index.js';
import { createPolicyEngine } from '../authz/index.js';
import { createApprovalsAdminHandler } from '../approval/index.js';
import { auditEventFromExchange, openAuditLog } from '../audit/index.js';
import { createRedactor, type Redactor } from '../redact/index.js';
import { createLimits, type Limits, type RateUsage } from '../limits/index.js';
import { createCredentialInjector, openSecrets, type CredentialInjector } from '../secrets/index.js';
import type { TransitCallChecks, TransitHandler } from '../crypto/index.js';
import { createGatewayCrypto } from './crypto.js';
import { createSessionStage, loadSessionKey } from './mcp-session.js';
import type { AuditHandle, Capabilities } from './pipeline.js';
import type { SinkHealth } from './readiness.js';

export type AdminHandler = (req: IncomingMessage, res: ServerResponse, subpath: string, ex: Exchange) => Promise<void>;

export interface WiredCapabilities extends Capabilities {
  admin: AdminHandler;
  limits: Limits;
  /** Under server.workers: what a worker started in place of a dead one takes over from a live one (restoreState). */
  workerState(): WorkerState;
  /** The configured audit sinks (audit.sinks) of this process and their health, for /readyz and the metrics. */
  auditSinks(): SinkHealth[];
}

/** A live worker's counts for a replacement: what rate and bandwidth keys owe, and failed authentications. */
export interface WorkerState {
  owing: RateUsage;
  failures: FailureSnapshot;
}

/**
 * Wires the capabilities (authn, authz, approval, audit, crypto, redact) into the gateway's stages.
 * Each capability is imported through its index.ts; this file is the only place that knows them all.
 */
export async function buildCapabilities(
  cfg: GatehouseConfig,
  deps: Omit<StageDeps, 'audit'>,
  redactor: Redactor = createRedactor(cfg.redact),
  opts: { worker?: { index: number; count: number }; alertsTo?: (r: Record<string, unknown>) => void; restoreState?: unknown } = {},
): Promise<WiredCapabilities> {
  const logger: Logger = deps.logger;
  // First, as nothing is open yet to close when the key is unusable. Only when an MCP route can carry sessions: no key
  // file, and no per-request work, otherwise.
  const sessionCfg = cfg.authz.mcp.sessions;
  const session = !sessionCfg.insecure_unbound && cfg.routes.some((r) => r.kind === 'mcp') ? createSessionStage(loadSessionKey(sessionCfg.key_file, cfg.state_dir)) : undefined;
  const audit = await openAudit(cfg, deps, redactor, opts);
  const stageDeps: StageDeps = { ...deps, audit };
  const policy = await createPolicyEngine(cfg, stageDeps);
  const routeNames = new Set(cfg.routes.map((r, i) => r.name ?? `route${i}`));
  const limits = await createLimits(cfg.limits, stageDeps, { routeNames, knownTool: (name) => policy.authorizer.parts.tools.has(name), shareUsage: (opts.worker?.count ?? 1) > 1 });
  const lockouts = limits.lockouts;
  const workers = opts.worker?.count ?? 1;
  const authn = await createAuthenticator(cfg, { ...stageDeps, stateDir: cfg.state_dir, workers, ...(lockouts ? { lockout: lockouts } : {}) });
  if (lockouts) {
    authn.failures.onFailure((e) => lockouts.onFailure(e));
    // Under server.workers, failures the other workers counted are charged here too (limits.applyFailures).
    lockouts.onPeerFailure((ip, principal, counts) => authn.failures.recordPeer(ip, principal, counts));
    lockouts.onChange((key) => {
      const subject = key.slice(key.indexOf(':') + 1);
      if (key.startsWith('ip:')) authn.failures.resetClient(subject);
      else authn.failures.resetPrincipal(subject);
    });
  }
  // A worker started in place of a dead one begins where the others are, not with a fresh allowance for every key.
  if (typeof opts.restoreState === 'object' && opts.restoreState !== null) {
    const state = opts.restoreState as { owing?: unknown; failures?: unknown };
    limits.restoreOwing(state.owing);
    authn.failures.restore(state.failures);
  }
  const identify = authn.identify;
  const approvalsAdmin = createApprovalsAdminHandler(policy);
  const crypto = createGatewayCrypto(cfg, stageDeps);
  const injector = await upstreamCredentials(cfg, stageDeps);
  const guard = policy.residency;
  const residency: Stage | undefined = guard
    ? (ex) => {
        const verdict = guard.check(ex.route?.name, ex.principal?.tenant);
        if (verdict?.allow === false) throw verdict.error;
      }
    : undefined;

  const admin: AdminHandler = async (req, res, subpath, ex) => {
    const p = identify(ex);
    if (p) await p;
    // The throttle stage as on every route: a rate limit naming no route bounds a principal's admin calls too.
    const t = limits.throttle?.(ex);
    if (t) await t;
    if (subpath === '/approvals' || subpath.startsWith('/approvals/')) {
      // The list's filters (?status=…&limit=…) are in the query, which the exchange keeps apart from the path.
      await approvalsAdmin(req, res, ex.query ? `${subpath}?${ex.query}` : subpath, ex.principal);
      ex.status = res.statusCode;
      return;
    }
    if (crypto.transit && subpath.startsWith('/v1/')) {
      if (!ex.principal || ex.principal.type === 'anonymous') throw new GatehouseError('GH_AUTH_REQUIRED');
      // The transit API processes the tenant's data here: refused to a tenant whose regions exclude this gateway's.
      // Judged on the tenant the call acts for, which a principal without one names in the body (the handler
      // resolves it), not on the principal's alone.
      const transit: TransitHandler = crypto.transit;
      const route = ex.route?.name;
      const checks: TransitCallChecks | undefined = guard
        ? {
            tenant: (tenant) => {
              const verdict = guard.check(route, tenant);
              if (verdict?.allow === false) throw verdict.error;
            },
          }
        : undefined;
      await transit(req, res, ex.principal, subpath, checks);
      ex.status = res.statusCode;
      return;
    }
    throw new GatehouseError('GH_NOT_FOUND');
  };

  return {
    stages: { identify, throttle: limits.throttle, ...(session ? { session } : {}), decrypt: crypto.decrypt, classify: policy.classify, authorize: policy.authorize, throttleOperation: limits.throttleOperation, approve: policy.approve, ...(injector ? { transform: injector.stage } : {}) },
    // Client-encrypted bodies are decrypted, and bodies an HTTP approval must bind are hashed, before the policy stages.
    needsBody: (ex, endToEnd) => crypto.needsBody(ex, endToEnd) || policy.needsBody(ex),
    // Public routes are throttled too (per address for anonymous callers): they are the ones open to everyone. Their
    // regions were judged at load for requests without a tenant; a caller whose token binds a tenant is held to its own.
    publicStages: { identify: authn.identifyOptional, throttle: limits.throttle, ...(session ? { session } : {}), ...(residency ? { authorize: residency } : {}) },
    audit,
    auditEvent: (ex) => {
      const event = auditEventFromExchange(ex);
      // The resource an MCP client named (resources/read's uri) is the client's text, whatever its form (`token:…`,
      // `urn:…`): redacted whole, as the path is. The record redacts URIs of every emitter; policy ids stay as written.
      if (ex.operation?.kind === 'mcp' && event.resource !== undefined) event.resource = redactor.redactText(event.resource);
      // So is a tool name no policy knows (it was refused): a client may put anything there, a token included.
      if (event.tool !== undefined && !policy.authorizer.parts.tools.has(event.tool)) event.tool = redactor.redactText(event.tool);
      return event;
    },
    jsonRpcError: (err, ex) => policy.jsonRpcError(err, ex),
    logger,
    redactText: (text) => redactor.redactText(text),
    onRevoked: (fn) => authn.onRevoked(fn),
    isRevoked: (kind, id) => authn.isRevoked(kind, id),
    keyStillValid: (p) => authn.keyStillValid(p),
    admin,
    limits,
    workerState: () => ({ owing: limits.owing(), failures: authn.failures.snapshot() }),
    auditSinks: () => audit.sinkHealth(),
    ...(injector ? { injectedHeaders: (route: string) => injector.headerNames(route), echoedSecrets: (route: string) => injector.secretsFor(route), upstreamRefused: (ex: Exchange) => injector.upstreamRefused(ex) } : {}),
    ...(limits.connectionRate ? { connectionRate: limits.connectionRate } : {}),
    async close() {
      injector?.close();
      await policy.close();
      await authn.close();
      await limits.close();
      await audit.close();
    },
  };
}

/**
 * Upstream credentials (routes[].upstream_auth) from the secrets store, the environment or mounted files, and identity
 * headers (routes[].identity_headers, signed with a key from the same places), resolved before the gateway listens:
 * a reference that does not resolve stops the start, naming the route.
 */
async function upstreamCredentials(cfg: GatehouseConfig, deps: StageDeps): Promise<CredentialInjector | undefined> {
  const routes = cfg.routes.flatMap((r, i) =>
    r.upstream_auth || r.identity_headers
      ? [{ name: r.name ?? `route${i}`, ...(r.upstream_auth ? { auth: r.upstream_auth } : {}), ...(r.identity_headers ? { identity: r.identity_headers } : {}) }]
      : [],
  );
  if (routes.length === 0) return undefined;
  const secrets = openSecrets(cfg.secrets, { store: deps.store, stateDir: cfg.state_dir, profile: cfg.profile, clock: deps.clock });
  let injector: CredentialInjector;
  try {
    injector = await createCredentialInjector(routes, { resolver: secrets.resolver, vault: secrets.vault, refreshMs: cfg.secrets.refresh, logger: deps.logger, audit: deps.audit, nowMs: () => deps.clock.now() });
  } catch (e) {
    secrets.close();
    throw e;
  }
  // Closing the injector also forgets the store's keys held in this process.
  return { ...injector, close: () => (injector.close(), secrets.close()) };
}

/** Public routes: a credential, when sent, is still verified; without one the request proceeds as anonymous. */
/**
 * The audit log behind the gateway's record stage. With `fsync: always` responses wait for durability; with the
 * default group commit they do not, but a log that cannot be written refuses every audited request (fail closed)
 * unless `on_failure: continue`.
 */
async function openAudit(
  cfg: GatehouseConfig,
  deps: Omit<StageDeps, 'audit'>,
  redactor: Redactor,
  opts: { worker?: { index: number; count: number }; alertsTo?: (r: Record<string, unknown>) => void },
): Promise<AuditHandle & { sinkHealth(): SinkHealth[] }> {
  if (!cfg.audit.enabled) {
    if (cfg.profile === 'production') throw new GatehouseError('GH_CONFIG_PRODUCTION_REFUSED', 'production: audit.enabled is false');
    return { waitForDurable: false, emit: async () => {}, record: () => {}, healthy: () => true, close: async () => {}, sinkHealth: () => [] };
  }
  const log = await openAuditLog(cfg.audit, { stateDir: cfg.state_dir, logger: deps.logger, clock: deps.clock, redact: (v) => redactor.redactValue(v), redactCopiesOnWrite: true, ...(opts.worker ? { worker: opts.worker } : {}), ...(opts.alertsTo ? { alertsTo: opts.alertsTo } : {}) });
  const failOpen = cfg.audit.on_failure === 'continue';
  return {
    waitForDurable: cfg.audit.fsync === 'always',
    emit: (event) => log.emit(event),
    record: (event, onError) => log.record(event, onError),
    healthy: () => failOpen || log.health().ok,
    close: () => log.close(),
    sinkHealth: () => log.sinkHealth(),
  };
}
