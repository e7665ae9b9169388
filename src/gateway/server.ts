import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import { Budget } from '../core/budget.js';
import { GatehouseError, errorBody, toGatehouseError } from '../core/errors.js';
import { requestId } from '../core/ids.js';
import { listenerHosts } from '../core/hosts.js';
import { ipMatcher, normalizeIp } from '../core/net.js';
import { identityHeaderNames, upstreamIdentityHeaderNames } from '../authn/index.js';
import { keyOf } from '../limits/index.js';
import type { AuditEvent, ClientCertIdentity, Exchange } from '../core/types.js';
import type { GatehouseConfig } from '../config/index.js';
import { checkHost, checkTarget, createExchange, networkIdentity } from './exchange.js';
import { answeredByCors, CorsPolicy, forwardedHost, isOwnOrigin } from './cors.js';
import { AdminCors, afterThrottle, ambientCredential, ambientWriteGuard, checkAllowedHost, isMcpOriginRefusal, refuseForeignMcpOrigin, sendMcpTransportRefusal } from './origins.js';
import { ConnectionGuard } from './guard.js';
import { InFlightCap } from './admission.js';
import { runPipeline, type Capabilities } from './pipeline.js';
import { Upstream, type StreamCutReason } from './proxy.js';
import { CredentialWatch, type CredentialEnd } from './credential-watch.js';
import { sendError, sendJson } from './respond.js';
import { Router, type Route } from './router.js';
import { GatewayMetrics } from './metrics.js';
import { listenOn, parseListen } from './listen.js';
import type { Tracer } from './tracing.js';

/** How long a connection answered for a malformed or timed-out request may linger for the answer to reach its client. */
const CLIENT_ERROR_LINGER_MS = 1000;

/** What the TLS capability hands the gateway. */
export interface ServerTlsProvider {
  options: Record<string, unknown>;
  attach(server: Server): void;
  close(): void;
  clientCert(socket: TLSSocket): ClientCertIdentity | undefined;
  checkClient?(identity: ClientCertIdentity | undefined): void;
  hsts: string | undefined;
  /** Replaces the session ticket keys (server.workers: the supervisor issues them). */
  setTicketKeys?(keys: Buffer): void;
  /** The serving certificate's notAfter, ms since the epoch (metrics). */
  notAfter?(): number;
}

export interface GatewayParts {
  config: GatehouseConfig;
  capabilities: Capabilities;
  /** Route name → upstream base URL (demo:… already resolved). */
  upstreamUrls: Map<string, string>;
  tls: ServerTlsProvider | undefined;
  upstreamConnect?: (route: Route) => Record<string, unknown> | undefined;
  /**
   * Readiness probes beyond the audit log (store, upstreams): `problems` make /readyz 503; `degraded` (audit sinks
   * not delivering) are listed in its body and leave it 200. Public: no addresses or error texts.
   */
  readiness?: () => Promise<string[] | { problems: string[]; degraded?: string[] }>;
  admin?: (req: IncomingMessage, res: ServerResponse, subpath: string, ex: Exchange) => Promise<void>;
  /** Request spans (tracing.enabled): absent, nothing is traced and nothing changes per request. */
  tracer?: Tracer;
}

export interface RunningGateway {
  server: Server;
  url: string;
  host: string;
  port: number;
  /** Graceful: stop accepting, drain in-flight requests up to the deadline, then close. */
  close(deadlineMs?: number): Promise<void>;
  readonly inflight: number;
  /** Request counts and gauges for the metrics listener (metrics.enabled). */
  metrics: GatewayMetrics | undefined;
}

export { listenOn, parseListen } from './listen.js';

/** Whether the request carries a body: a non-zero Content-Length or any Transfer-Encoding (Node allows no other framing). */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) !== 0);
}

/** The gateway's credential headers plus those a route injects: a client must not send its own in their place. */
function withInjected(base: ReadonlySet<string>, injected: ReadonlySet<string> | undefined): ReadonlySet<string> {
  return injected && injected.size > 0 ? new Set([...base, ...injected]) : base;
}

/**
 * The path of a request refused before routing, as logged and audited: only an origin-form target (`/…`), up to its
 * query or fragment (either may carry a credential), truncated. An absolute-form target (`http://token@host/…`) or
 * anything else is not kept at all: its userinfo may be a credential.
 */
export function refusedPath(raw: string | undefined): string | undefined {
  if (raw === undefined || !raw.startsWith('/') || raw.startsWith('//')) return undefined;
  let end = Math.min(raw.length, 256);
  for (const c of ['?', '#']) {
    const i = raw.indexOf(c);
    if (i >= 0 && i < end) end = i;
  }
  return raw.slice(0, end);
}

/** Composes listen → stages → forward → record over one HTTP(S) server. */
export async function listenGateway(parts: GatewayParts, listen?: string): Promise<RunningGateway> {
  const { config: cfg, capabilities: caps, tls } = parts;
  const limits = cfg.server.limits;
  const router = new Router(cfg.routes);
  const isTrustedProxy = ipMatcher(cfg.server.trusted_proxies);
  const logger = caps.logger;
  const upstreams = new Map<string, Upstream>();
  // Credentials the gateway consumes stay at the gateway, as Authorization does: an API key or a shared-secret header
  // forwarded upstream would hand every upstream (and the echo demo) a gateway-wide credential.
  const methods: readonly string[] = cfg.auth.methods;
  const credentialHeaders = new Set([
    ...(methods.includes('api_key') ? [cfg.auth.api_key.header] : []),
    ...(methods.includes('header') ? Object.keys(cfg.auth.header.headers) : []),
  ].map((h) => h.toLowerCase()));
  const identityHeaders = new Set(identityHeaderNames(cfg.auth.header.trusted_identity));
  // Identity headers the gateway sends on any route (routes[].identity_headers) are the gateway's to set: a client's
  // are dropped on every route, or one sent through a route without identity headers would reach a service another
  // route names the caller to (two routes, one upstream).
  for (const r of cfg.routes) if (r.identity_headers) for (const h of upstreamIdentityHeaderNames(r.identity_headers.prefix)) credentialHeaders.add(h);
  // With tracing on, the trace context the upstream sees is the gateway's (tracing.ts): a client's is dropped with the
  // headers above, so tracing off leaves the proxy's work untouched.
  const tracer = parts.tracer;
  if (tracer) credentialHeaders.add('traceparent').add('tracestate');
  for (const route of router.routes) {
    const url = parts.upstreamUrls.get(route.name);
    if (!url) throw new GatehouseError('GH_CONFIG_INVALID', `routes: no upstream for ${route.name}`);
    const connect = parts.upstreamConnect?.(route);
    upstreams.set(route.name, new Upstream(url, route.config, {
      ...(connect ? { connect } : {}),
      stripAuthorization: true,
      identityHeaders,
      credentialHeaders: withInjected(credentialHeaders, caps.injectedHeaders?.(route.name)),
      ...(caps.echoedSecrets && route.config.upstream_auth ? { echoedSecrets: () => caps.echoedSecrets?.(route.name) ?? [] } : {}),
      errorBodies: route.config.error_bodies,
      ...(route.config.cors ? { cors: true } : {}),
      redactText: caps.redactText,
      maxBodySize: route.config.max_body_size ?? limits.max_body_size,
    }));
  }
  // routes[].max_in_flight_per_principal, per process: absent for a route without it (the usual case).
  const inFlightCaps = new Map<string, InFlightCap>();
  for (const route of router.routes) if (route.config.max_in_flight_per_principal !== undefined) inFlightCaps.set(route.name, new InFlightCap(route.config.max_in_flight_per_principal));
  const corsPolicies = new Map<string, CorsPolicy>();
  for (const route of router.routes) if (route.config.cors) corsPolicies.set(route.name, new CorsPolicy(route.config.cors, route.config.kind));
  const bind = parseListen(listen ?? cfg.server.listen);
  // DNS rebinding: undefined (nothing checked) only off loopback with server.allowed_hosts unset (doctor warns).
  const allowedHosts = listenerHosts(cfg.server.allowed_hosts, bind.host);
  // Routes without cors: cross-site writes with ambient credentials are refused after identify (origins.ts).
  const crossSite = ambientWriteGuard(new Set(router.routes.filter((r) => !r.config.cors).map((r) => r.name)), ambientCredential(cfg.auth), tls !== undefined, isTrustedProxy);
  const routeStages = afterThrottle(caps.stages, crossSite);
  const publicStages = afterThrottle(caps.publicStages, crossSite);
  const adminPrefix = cfg.server.admin.enabled ? cfg.server.admin.prefix : undefined;
  const extraHeaders = (ex: Exchange): Record<string, string> => {
    return { 'x-request-id': ex.id };
  };
  // Building the per-request log object costs; skip it entirely when info lines would be dropped anyway.
  const logRequests = (logger as { isLevelEnabled?: (l: string) => boolean }).isLevelEnabled?.('info') ?? true;
  let inflight = 0;
  let metrics: GatewayMetrics | undefined;
  let shuttingDown = false;
  let drained: (() => void) | undefined;

  /** Records the exchange; with fsync: always the caller waits for durability, and a failed write refuses (fail closed). */
  const record = (ex: Exchange): Promise<void> | undefined => {
    if (caps.audit.waitForDurable) return caps.audit.emit(caps.auditEvent(ex));
    caps.audit.record(caps.auditEvent(ex), (e) => logger.error({ req_id: ex.id, code: toGatehouseError(e).code }, 'audit record could not be written'));
    return undefined;
  };

  /**
   * A request refused before an exchange exists — a target or Host the gateway refuses, TRACE, or one Node's parser
   * rejects (smuggling, bad header characters, oversized headers, a slow sender) — is audited like a refusal inside a
   * route, so probes leave a record and the alert engine's malformed_requests sees them. These come before any
   * throttle and are answered at once (a client can pipeline them), so they draw on a budget of their own: past it they
   * are counted, and the next one recorded says how many were not. The path is kept only in origin form, up to its
   * query or fragment (either may carry a credential), truncated (the record redacts it, as every record's path); no
   * header is kept.
   */
  // At most 100 a second on average, 200 at once.
  const refusalBudget = new Budget(100, 200);
  const recordRefusal = (err: GatehouseError, source: string, fields: { id?: string; method?: string | undefined; path?: string | undefined }): void => {
    const skipped = refusalBudget.take(performance.now());
    if (skipped === undefined) return;
    const event: AuditEvent = { event_type: 'http.request', result_status: 'error', source_ip: source, error: err.message, error_code: err.code, status: err.status };
    if (fields.id !== undefined) event.request_id = fields.id;
    if (fields.method !== undefined) event.method = fields.method.slice(0, 32);
    const path = refusedPath(fields.path);
    if (path !== undefined) event.path = path;
    if (skipped > 0) event.metadata = { refusals_not_recorded: skipped };
    caps.audit.record(event, (e) => logger.error({ ...(fields.id ? { req_id: fields.id } : {}), code: toGatehouseError(e).code }, 'audit record could not be written'));
  };

  // Requests forwarded on a credential that is revoked or expires while they run are ended (credential-watch.ts).
  const credentials = new CredentialWatch({ ...(caps.isRevoked ? { isRevoked: caps.isRevoked } : {}), ...(caps.keyStillValid ? { keyStillValid: caps.keyStillValid } : {}) });
  caps.onRevoked?.((kind, id) => {
    const n = credentials.revoked(kind, id);
    if (n > 0) logger.info({ credential_kind: kind, requests: n }, 'requests on a revoked credential ended');
  });

  const hooks = {
    beforeResponse: (ex: Exchange, status: number) => {
      ex.status = status;
      if (status === 401 && caps.upstreamRefused) caps.upstreamRefused(ex);
      return record(ex);
    },
    responseHeaders: extraHeaders,
    // The request's own record was written when its response started; this one says the gateway ended its body.
    watch: (ex: Exchange, end: (reason: CredentialEnd) => void) => credentials.watch(ex, end),
    echoMasked: (ex: Exchange, count: number) => {
      logger.warn({ req_id: ex.id, route: ex.route?.name, occurrences: count }, 'the upstream echoed the route\'s injected credential in a response body: masked');
    },
    streamCut: (ex: Exchange, reason: StreamCutReason) => {
      ex.meta['stream_cut'] = reason;
      logger.info({ req_id: ex.id, route: ex.route?.name, principal: ex.principal?.id, reason }, 'response stream ended by the gateway');
      caps.audit.record({ ...caps.auditEvent(ex), event_type: 'http.stream_cut' }, (e) => logger.error({ req_id: ex.id, code: toGatehouseError(e).code }, 'audit record could not be written'));
    },
  };

  /**
   * The forward, counted against the route's max_in_flight_per_principal when it has one: per principal (method,
   * tenant and id), anonymous callers per address (IPv4, IPv6 /64), as rate limits key `per: [principal]`. Queued
   * requests count too. Past the cap: 429, nothing forwarded.
   */
  const PER_PRINCIPAL = { per: ['principal'] as const };
  function forwardCounted(ex: Exchange, upstream: Upstream, cap: InFlightCap | undefined): Promise<void> {
    if (cap === undefined) return upstream.forward(ex, isTrustedProxy(ex.network.peer_ip), hooks);
    const key = keyOf(PER_PRINCIPAL, ex);
    if (!cap.enter(key)) {
      throw new GatehouseError('GH_RATE_LIMITED', 'Too many requests in flight on this route.', {
        detail: 'max_in_flight_per_principal',
        headers: { 'retry-after': '1' },
        data: { limit: 'max_in_flight_per_principal' },
      });
    }
    let counted: Promise<void>;
    try {
      counted = upstream.forward(ex, isTrustedProxy(ex.network.peer_ip), hooks);
    } catch (e) {
      cap.leave(key);
      throw e;
    }
    return counted.then(
      () => cap.leave(key),
      (e: unknown) => {
        cap.leave(key);
        throw e;
      },
    );
  }

  async function fail(ex: Exchange, e: unknown): Promise<void> {
    let err = toGatehouseError(e);
    ex.error = err;
    ex.status = err.status;
    try {
      const p = record(ex);
      if (p) await p;
    } catch {
      err = new GatehouseError('GH_AUDIT_UNAVAILABLE');
      ex.error = err;
    }
    if (isMcpOriginRefusal(err)) sendMcpTransportRefusal(ex, err, extraHeaders(ex), caps.jsonRpcError);
    else sendError(ex, err, extraHeaders(ex), caps.jsonRpcError);
  }

  /** The stages, then the forward. Not async: a request whose stages all finish synchronously allocates no frame here. Throws or rejects alike. */
  function handle(ex: Exchange, route: Route): Promise<void> {
    ex.route = { name: route.name, prefix: route.prefix, kind: route.config.kind };
    if (!caps.audit.healthy()) throw new GatehouseError('GH_AUDIT_UNAVAILABLE');
    if (tls?.checkClient && ex.network.tls) tls.checkClient(ex.network.client_cert);
    // On an MCP endpoint only a POST body is read and classified; GET (the SSE stream) and DELETE (session end) pass as
    // transport. A body on them would reach the upstream unchecked, and an upstream that hands every non-GET to its
    // message handler runs the tools/call inside a DELETE. Such a body has no meaning anyway (RFC 9110 §9.3.1, §9.3.5).
    if (route.config.kind === 'mcp' && !route.config.end_to_end && ex.method !== 'POST' && hasBody(ex.req)) {
      throw new GatehouseError('GH_BAD_REQUEST', 'On an MCP endpoint only POST requests carry a body.');
    }
    const needsBody = (route.config.kind === 'mcp' && ex.method === 'POST' && !route.config.end_to_end) || (caps.needsBody?.(ex, route.config.end_to_end) ?? false);
    const upstream = upstreams.get(route.name) as Upstream;
    const stages = runPipeline(route.config.auth_required ? routeStages : publicStages, ex, route.config.max_body_size ?? limits.max_body_size, needsBody);
    const cap = route.config.max_in_flight_per_principal === undefined ? undefined : inFlightCaps.get(route.name);
    if (stages) return stages.then(() => forwardCounted(ex, upstream, cap));
    return forwardCounted(ex, upstream, cap);
  }

  const hsts = tls?.hsts;
  const adminCors = new AdminCors(cfg.server.admin_cors_origins);
  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    lastExchange.set(req.socket, { req, res });
    if (shuttingDown) res.setHeader('connection', 'close');
    // Every HTTPS response, health and errors included, carries the gateway's HSTS policy.
    if (hsts) res.setHeader('strict-transport-security', hsts);
    let target: ReturnType<typeof checkTarget>;
    try {
      target = checkTarget(req.url);
      checkHost(req.rawHeaders);
      // An upstream that echoes TRACE would hand the client the headers the gateway adds (injected upstream
      // credentials, identity headers): refused here, as nginx does. (TRACK never gets here: Node's parser refuses it.)
      if (req.method === 'TRACE') throw new GatehouseError('GH_METHOD_NOT_ALLOWED');
      // Orchestrators probe health by pod IP, a name no allow-list holds; the probes reveal nothing worth a rebinding.
      if (allowedHosts !== undefined && target.path !== '/healthz' && target.path !== '/readyz') {
        checkAllowedHost(allowedHosts, req, isTrustedProxy(normalizeIp(req.socket.remoteAddress)));
      }
    } catch (e) {
      // Refused before an exchange exists, yet a refusal like any other: a request id, and a log line, so that
      // path-confusion probes leave a trace. The raw path is attacker text: truncated, JSON-escaped by the logger, and
      // without its query, which may carry a credential.
      const err = toGatehouseError(e);
      const id = requestId();
      sendJson(res, err.status, errorBody(err, id), { 'x-request-id': id });
      metrics?.observe('-', req.method ?? '', err.status, 0, err.code);
      // The refused Host is logged (not secret, its characters checked): it is the name to add to server.allowed_hosts.
      const forwarded = err.code === 'GH_HOST_NOT_ALLOWED' ? forwardedHost(req, isTrustedProxy(normalizeIp(req.socket.remoteAddress))) : undefined;
      const host = err.code === 'GH_HOST_NOT_ALLOWED' ? { host: (req.headers.host ?? '').slice(0, 128), ...(forwarded !== undefined ? { forwarded_host: forwarded.slice(0, 128) } : {}) } : {};
      if (logRequests) {
        const path = refusedPath(req.url);
        logger.info({ req_id: id, method: req.method, ...(path !== undefined ? { path } : {}), status: err.status, code: err.code, ...host }, 'request');
      }
      recordRefusal(err, networkIdentity(req, { isTrustedProxy, tls: tls !== undefined }).source_ip, { id, method: req.method, path: req.url });
      return;
    }
    if (target.path === '/healthz') return sendJson(res, 200, '{"status":"ok"}');
    if (target.path === '/readyz') return readyz(res);
    const network = networkIdentity(req, { isTrustedProxy, tls: tls !== undefined, ...(tls ? { clientCert: tls.clientCert } : {}) });
    const ex = createExchange(req, res, target, network, isTrustedProxy(network.peer_ip));
    const span = tracer?.start(ex);
    inflight++;
    try {
      if (shuttingDown) throw new GatehouseError('GH_SHUTTING_DOWN');
      if (adminPrefix && parts.admin && (ex.path === adminPrefix || ex.path.startsWith(adminPrefix + '/'))) {
        ex.route = { name: 'admin', prefix: adminPrefix, kind: 'http' };
        if (adminCors.answered(req, res)) {
          ex.status = 204;
          return;
        }
        res.setHeader('x-request-id', ex.id);
        adminCors.refuseCrossSite(req);
        // The same door checks as any route: an admin action (an approval decided) that cannot be audited is refused,
        // and a client certificate outside the mTLS allow-list reaches the admin API no more than an upstream.
        if (!caps.audit.healthy()) throw new GatehouseError('GH_AUDIT_UNAVAILABLE');
        if (tls?.checkClient && ex.network.tls) tls.checkClient(ex.network.client_cert);
        await parts.admin(req, res, ex.path.slice(adminPrefix.length) || '/', ex);
        // Admin actions (approvals decided, transit calls) are audited like any request, refusals included:
        // the admin handlers answer their own errors, so the status is what tells.
        ex.status = res.statusCode;
        ex.meta['admin'] = true;
        const p = record(ex);
        if (p) await p;
      } else {
        const route = router.match(ex.path);
        if (!route) throw new GatehouseError('GH_NOT_FOUND');
        const cors = corsPolicies.get(route.name);
        if (cors !== undefined && answeredByCors(cors, ex, route, tls !== undefined, isTrustedProxy(ex.network.peer_ip))) return;
        if (cors === undefined && route.config.kind === 'mcp') {
          ex.route = { name: route.name, prefix: route.prefix, kind: 'mcp' };
          refuseForeignMcpOrigin(req, (origin) => isOwnOrigin(origin, req, tls !== undefined, isTrustedProxy(ex.network.peer_ip)));
        }
        await handle(ex, route);
      }
    } catch (e) {
      await fail(ex, e);
    } finally {
      inflight--;
      metrics?.observe(ex.route?.name ?? '-', ex.method, ex.status ?? res.statusCode, (performance.now() - ex.startedAt) / 1000, ex.error?.code);
      if (span !== undefined) tracer?.end(span, ex, ex.status ?? res.statusCode);
      if (logRequests) logger.info({ req_id: ex.id, method: ex.method, path: ex.path, route: ex.route?.name, status: ex.status ?? res.statusCode, ms: Math.round((performance.now() - ex.startedAt) * 100) / 100, principal: ex.principal?.id, code: ex.error?.code }, 'request');
      if (shuttingDown && inflight === 0) drained?.();
    }
  }

  async function readyz(res: ServerResponse): Promise<void> {
    const found = parts.readiness ? await parts.readiness().catch(() => ['readiness probe failed']) : [];
    const { problems, degraded = [] } = Array.isArray(found) ? { problems: found } : found;
    if (!caps.audit.healthy()) problems.push('audit log not writable');
    const extra = degraded.length > 0 ? { degraded } : {};
    if (problems.length) sendJson(res, 503, JSON.stringify({ status: 'not_ready', problems, ...extra }));
    else sendJson(res, 200, JSON.stringify({ status: 'ready', ...extra }));
  }

  const serverOptions = {
    maxHeaderSize: limits.max_header_size,
    requestTimeout: limits.request_timeout,
    headersTimeout: limits.header_timeout,
    keepAliveTimeout: limits.idle_timeout,
    // Node checks header/request timeouts on this interval (default 30 s): keep it well below header_timeout.
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(limits.header_timeout / 2))),
    noDelay: true,
    requireHostHeader: true,
    joinDuplicateHeaders: false,
  };
  const listener = (req: IncomingMessage, res: ServerResponse) => void onRequest(req, res);
  /** Each connection's latest request: a parse error in its body after its response went out must not get a second one. */
  const lastExchange = new WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>();
  const server: Server = tls ? createHttpsServer({ ...serverOptions, ...tls.options }, listener) : createHttpServer(serverOptions, listener);
  if (limits.max_requests_per_socket > 0) server.maxRequestsPerSocket = limits.max_requests_per_socket;
  // Every header line is seen (max_header_size bounds them): past Node's default of 2,000 lines the rest were dropped
  // unseen, so a second Host (refused when seen) or any other checked header could hide behind 2,000 fillers.
  server.maxHeadersCount = 0;
  const guard = new ConnectionGuard(limits.max_connections, limits.max_connections_per_ip, caps.connectionRate ? { table: caps.connectionRate, exempt: isTrustedProxy, now: Date.now } : undefined);
  guard.attach(server);
  metrics = cfg.metrics.enabled
    ? new GatewayMetrics({
        inflight: () => inflight,
        connections: () => guard.open,
        auditHealthy: () => caps.audit.healthy(),
        ...(tls?.notAfter ? { certificateNotAfter: tls.notAfter } : {}),
        ...(tracer ? { tracing: () => tracer.metricsSample() } : {}),
      })
    : undefined;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // Malformed requests (CL.TE, bad header characters, oversized headers, timeouts) are answered and closed; nothing is forwarded.
    // A response already on the wire (the upstream answered before the request body went bad) gets no second one
    // spliced after or into it: the connection is just cut.
    const last = lastExchange.get(socket);
    if (!socket.writable || (last !== undefined && !last.req.complete && last.res.headersSent)) {
      socket.destroy();
      return;
    }
    const code = err.code === 'HPE_HEADER_OVERFLOW' ? 'GH_HEADERS_TOO_LARGE' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'GH_REQUEST_TIMEOUT' : 'GH_BAD_REQUEST';
    const e = new GatehouseError(code);
    const body = JSON.stringify({ error: { code: e.code, message: e.publicMessage } });
    socket.end(`HTTP/1.1 ${e.status} ${e.status === 431 ? 'Request Header Fields Too Large' : e.status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    // end() only half-closes: a client that keeps its side open (a request body that stopped half-way) would keep the
    // connection, its max_connections slots and — through the request still being forwarded — an upstream connection
    // for good. A short linger lets the answer reach the client; then the socket goes, and with it the exchange's
    // upstream request (aborted when its response closes).
    const linger = setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS);
    linger.unref();
    socket.once('close', () => clearTimeout(linger));
    logger.warn({ code: e.code, parser: err.code }, 'client error');
    recordRefusal(e, normalizeIp(socket.remoteAddress), {});
  });
  if (tls) {
    tls.attach(server);
    server.on('tlsClientError', (err: NodeJS.ErrnoException) => logger.debug({ code: err.code }, 'TLS handshake failed'));
  }

  await listenOn(server, bind.host, bind.port);
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;

  return {
    server,
    host: addr.address,
    port: addr.port,
    url: `${tls ? 'https' : 'http'}://${shownHost}:${addr.port}`,
    get inflight() {
      return inflight;
    },
    metrics,
    async close(deadlineMs = cfg.server.shutdown_timeout) {
      if (shuttingDown) return;
      shuttingDown = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inflight > 0) {
        await Promise.race([new Promise<void>((r) => (drained = r)), new Promise<void>((r) => setTimeout(r, deadlineMs).unref())]);
      }
      guard.destroyAll();
      credentials.close();
      await closed;
      tls?.close();
      metrics?.close();
      await Promise.all([...upstreams.values()].map((u) => u.destroy()));
    },
  };
}
