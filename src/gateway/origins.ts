/**
 * The gateway's defences against pages in a browser, besides routes[].cors (cors.ts): the Host allow-list (DNS
 * rebinding), Origin validation on MCP routes, cross-site writes that carry credentials the browser sends on its own,
 * and the admin API's CORS. docs/gateway.md § Allowed hosts, § CORS, § Admin API.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatehouseError } from '../core/errors.js';
import type { HostAllowList } from '../core/hosts.js';
import type { Exchange, Principal, Stage } from '../core/types.js';
import type { GatehouseConfig } from '../config/index.js';
import { forwardedHost, isOwnOrigin, isWrite, mcpOriginRefusal } from './cors.js';
import type { Stages } from './pipeline.js';
import { defaultJsonRpcError, sendJson, type JsonRpcErrorBuilder } from './respond.js';

/**
 * A page whose name an attacker re-points at the gateway (DNS rebinding) reaches it with its own name in Host and is
 * then same-origin with it: only the names the gateway is known by are served. Before identify; 421 (RFC 9110 §15.5.20).
 */
export function checkAllowedHost(hosts: HostAllowList, req: IncomingMessage, trustedPeer: boolean): void {
  // Both the Host header and, from a trusted proxy, the forwarded host: a rebound page that reaches the gateway
  // straight (a trusted proxy on loopback) or through a proxy that passes the header on can set X-Forwarded-Host
  // itself, but not Host, which its browser fills with the rebound name.
  const forwarded = forwardedHost(req, trustedPeer);
  if (!hosts.allows(req.headers.host) || (forwarded !== undefined && !hosts.allows(forwarded))) throw new GatehouseError('GH_HOST_NOT_ALLOWED', 'This gateway does not serve the requested host (server.allowed_hosts).');
}

/** On an MCP route without cors, only the gateway's own origin (or none: not a browser) may call, whatever the method. */
export function refuseForeignMcpOrigin(req: IncomingMessage, ownOrigin: (origin: string) => boolean): void {
  const origin = req.headers.origin;
  if (origin !== undefined && !ownOrigin(origin)) throw mcpOriginRefusal();
}

/** The Origin refusal of an MCP route is a transport refusal: 403, as the MCP specification asks, not a policy 200. */
export function isMcpOriginRefusal(err: GatehouseError): boolean {
  return err.code === 'GH_FORBIDDEN' && err.data?.['reason'] === 'mcp_origin';
}

/** Answers an MCP transport refusal: its own HTTP status, a JSON-RPC error body (id null: the body was not read). */
export function sendMcpTransportRefusal(ex: Exchange, err: GatehouseError, headers: Record<string, string>, jsonRpc: JsonRpcErrorBuilder | undefined): void {
  ex.status = err.status;
  if (ex.res.headersSent) {
    ex.res.destroy();
    return;
  }
  sendJson(ex.res, err.status, (jsonRpc ?? defaultJsonRpcError)(err, ex), headers);
}

/**
 * Whether a principal was authenticated by a credential the browser attaches by itself: a cached Basic password, a
 * client certificate, the session behind a trusted proxy's identity headers, or a cookie (an API key or shared header
 * configured as `Cookie`). Bearer tokens, JWTs and API keys in other headers must be set by the page's own script,
 * which a cross-origin page can do only after a CORS preflight the route does not answer.
 */
export function ambientCredential(auth: GatehouseConfig['auth']): (p: Principal) => boolean {
  const cookieKey = auth.api_key.header.toLowerCase() === 'cookie';
  const cookieHeader = Object.keys(auth.header.headers).some((h) => h.toLowerCase() === 'cookie');
  return (p) => {
    switch (p.method) {
      case 'basic':
      case 'mtls':
        return true;
      case 'header':
        return cookieHeader || p.attributes['via'] === 'trusted_proxy';
      case 'api_key':
        return cookieKey;
      default:
        return false;
    }
  };
}

/**
 * Whether a browser sent the request from another page's origin: Origin present and not the gateway's own (`null`
 * included), or, without Origin, a Sec-Fetch-Site other than same-origin or none (Fetch Metadata; unknown values
 * count as cross-site). Clients that send neither (curl, services) are not browsers.
 */
export function isCrossSite(req: IncomingMessage, ownOrigin: (origin: string) => boolean): boolean {
  const origin = req.headers.origin;
  if (origin !== undefined) return !ownOrigin(origin);
  const site = req.headers['sec-fetch-site'];
  return site !== undefined && site !== 'same-origin' && site !== 'none';
}

/**
 * The crossSite check, after identify (afterThrottle): on the routes named (those without cors), a write authenticated by an ambient
 * credential and sent cross-site is refused before any body is read or approval asked. A browser sends such "simple"
 * requests (form POSTs, no-cors fetch) without a preflight; the page cannot read the answer but the write is done.
 * Routes with cors are judged by their policy before identify; listing an origin there is the way to allow it.
 */
export function ambientWriteGuard(routes: ReadonlySet<string>, ambient: (p: Principal) => boolean, tls: boolean, isTrustedProxy: (ip: string) => boolean): Stage | undefined {
  if (routes.size === 0) return undefined;
  return (ex) => {
    const p = ex.principal;
    if (!isWrite(ex.method) || p === undefined || !routes.has(ex.route?.name ?? '') || !ambient(p)) return;
    const trusted = isTrustedProxy(ex.network.peer_ip);
    if (!isCrossSite(ex.req, (origin) => isOwnOrigin(origin, ex.req, tls, trusted))) return;
    throw new GatehouseError('GH_FORBIDDEN', 'Forbidden: a cross-site write with credentials the browser sent on its own (list the page\'s origin in routes[].cors)', { data: { reason: 'cross_origin_ambient' } });
  };
}

/** CORS for the admin API (server.admin_cors_origins): only listed origins ('*' is refused in production). */
export class AdminCors {
  readonly #origins: ReadonlySet<string>;

  constructor(origins: readonly string[]) {
    this.#origins = new Set(origins);
  }

  #allows(origin: string): boolean {
    return this.#origins.has(origin) || this.#origins.has('*');
  }

  /** Sets the grant for a listed origin; true when the request was a preflight, answered here. */
  answered(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    if (!origin || this.#origins.size === 0) return false;
    const allowed = this.#allows(origin);
    if (allowed) {
      res.setHeader('access-control-allow-origin', this.#origins.has('*') ? '*' : origin);
      res.setHeader('vary', 'Origin');
    }
    if (req.method !== 'OPTIONS' || !req.headers['access-control-request-method']) return false;
    if (allowed) {
      res.setHeader('access-control-allow-methods', 'GET, POST');
      res.setHeader('access-control-allow-headers', 'authorization, content-type');
      res.setHeader('access-control-max-age', '600');
    }
    res.writeHead(allowed ? 204 : 403).end();
    return true;
  }

  /**
   * CSRF: a browser attaches credentials on its own (a cached Basic password, a client certificate, the cookie of an
   * authenticating proxy) and sends "simple" cross-origin POSTs (text/plain forms, no-cors fetch) without a preflight.
   * The page cannot read the answer, but an approval decided or a transit call made does not need it. Browsers send
   * Origin on every POST (Fetch standard §3.1), so an admin action from an origin not in admin_cors_origins — the
   * gateway's own included, since it serves the proxied upstreams' pages — is refused; clients without Origin
   * (curl, scripts) are not browsers and are unaffected. Reads (GET) change nothing and stay unreadable cross-origin.
   */
  refuseCrossSite(req: IncomingMessage): void {
    if (!isWrite(req.method)) return;
    const origin = req.headers.origin;
    const site = req.headers['sec-fetch-site'];
    const fromBrowserPage = origin !== undefined || (site !== undefined && site !== 'none');
    if (!fromBrowserPage) return;
    if (origin !== undefined && this.#allows(origin)) return;
    throw new GatehouseError('GH_FORBIDDEN', 'Forbidden: admin actions from this origin are not allowed (server.admin_cors_origins)', { data: { reason: 'cross_origin' } });
  }
}

/**
 * Runs `check` right after the throttle stage: it needs the principal identify found, and must come before the
 * body is read, a session checked or an approval asked.
 */
export function afterThrottle(stages: Stages, check: Stage | undefined): Stages {
  if (check === undefined) return stages;
  const throttle = stages.throttle;
  const both: Stage = throttle
    ? (ex) => {
        const p = throttle(ex);
        return p ? p.then(() => check(ex)) : check(ex);
      }
    : check;
  return { ...stages, throttle: both };
}
