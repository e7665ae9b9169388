/**
 * CORS per route (routes[].cors; seed 003 §7 "Configure CORS appropriately"). The gateway is the only source of
 * Access-Control-* headers on such a route: it answers preflights itself, before identify (a browser sends them
 * without credentials), sets the headers on every answer to an allowed origin (errors included, so a page can read
 * why it was refused), and drops whatever the upstream sent under those names (src/gateway/proxy.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Exchange } from '../core/types.js';
import { parseOriginPattern, type OriginPattern, type RouteCorsConfig } from '../config/index.js';
import { errorBody, GatehouseError } from '../core/errors.js';
import { sendJson } from './respond.js';

/** What a browser MCP client (streamable HTTP) sends and must read, besides the defaults (not Last-Event-ID: MCP routes drop it). */
const MCP_REQUEST_HEADERS = ['mcp-session-id', 'mcp-protocol-version'];
const MCP_EXPOSED_HEADERS = ['mcp-session-id'];
/** Browsers serialise an origin far shorter; anything longer is not one we listed. */
const MAX_ORIGIN = 512;
const MAX_REQUEST_HEADERS = 4096;

export type CorsRefusal = 'cors_origin' | 'cors_method' | 'cors_header';

/** The DNS label characters a wildcard may stand for: lower-case letters, digits, '-' and the dots between labels. */
function isSubdomain(s: string, from: number, to: number): boolean {
  if (to <= from || s.charCodeAt(from) === 46 || s.charCodeAt(to - 1) === 46) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || (c === 46 && s.charCodeAt(i - 1) !== 46);
    if (!ok) return false;
  }
  return true;
}

export class CorsPolicy {
  readonly #any: boolean;
  readonly #exact = new Set<string>();
  readonly #wildcards: Required<OriginPattern>[] = [];
  readonly #methods: Set<string>;
  readonly #headers: Set<string>;
  readonly #allowMethods: string;
  readonly #allowHeaders: string;
  readonly #expose: string;
  readonly #maxAge: string;
  readonly credentials: boolean;
  readonly refuseCrossOriginWrites: boolean;
  /** MCP transport security: an origin neither listed nor the gateway's own is refused whatever the method. */
  readonly refuseEveryForeignRequest: boolean;

  constructor(cfg: RouteCorsConfig, kind: 'http' | 'mcp') {
    this.#any = cfg.allowed_origins.includes('*');
    for (const o of cfg.allowed_origins) {
      if (o === '*') continue;
      const p = parseOriginPattern(o);
      if (typeof p === 'string') throw new TypeError(`routes[].cors.allowed_origins: ${p}`);
      if (p.suffix === undefined) this.#exact.add(p.prefix);
      else this.#wildcards.push({ prefix: p.prefix, suffix: p.suffix });
    }
    const headers = cfg.allowed_headers ?? ['authorization', 'content-type', ...(kind === 'mcp' ? MCP_REQUEST_HEADERS : [])];
    const exposed = cfg.exposed_headers ?? ['x-request-id', ...(kind === 'mcp' ? MCP_EXPOSED_HEADERS : [])];
    this.#methods = new Set(cfg.allowed_methods);
    this.#headers = new Set(headers);
    this.#allowMethods = [...this.#methods].join(', ');
    this.#allowHeaders = [...this.#headers].join(', ');
    this.#expose = [...new Set(exposed)].join(', ');
    this.#maxAge = String(Math.floor(cfg.max_age / 1000));
    this.credentials = cfg.allow_credentials;
    this.refuseCrossOriginWrites = cfg.refuse_cross_origin_writes;
    this.refuseEveryForeignRequest = kind === 'mcp';
  }

  /** Whether a page from this origin may read the route's answers. String comparisons only, linear in the origin. */
  allows(origin: string): boolean {
    // An opaque origin (sandboxed frame, file: page) is no origin to trust with an MCP session, even under "*".
    if (this.#any) return !(this.refuseEveryForeignRequest && origin === 'null');
    if (origin.length > MAX_ORIGIN) return false;
    if (this.#exact.has(origin)) return true;
    for (const w of this.#wildcards) {
      if (origin.startsWith(w.prefix) && origin.endsWith(w.suffix) && isSubdomain(origin, w.prefix.length, origin.length - w.suffix.length)) return true;
    }
    return false;
  }

  /** Why a preflight from an allowed origin is refused, or undefined when it may proceed. */
  checkPreflight(method: string, requestHeaders: string | undefined): CorsRefusal | undefined {
    if (!this.#methods.has(method)) return 'cors_method';
    if (requestHeaders === undefined || requestHeaders === '') return undefined;
    if (requestHeaders.length > MAX_REQUEST_HEADERS) return 'cors_header';
    for (const part of requestHeaders.split(',')) {
      const name = part.trim().toLowerCase();
      if (name !== '' && !this.#headers.has(name)) return 'cors_header';
    }
    return undefined;
  }

  /** The headers every answer to an allowed origin carries. */
  setResponseHeaders(res: ServerResponse, origin: string): void {
    res.setHeader('access-control-allow-origin', this.#any ? '*' : origin);
    if (this.credentials) res.setHeader('access-control-allow-credentials', 'true');
    if (this.#expose !== '') res.setHeader('access-control-expose-headers', this.#expose);
  }

  setPreflightHeaders(res: ServerResponse): void {
    res.setHeader('access-control-allow-methods', this.#allowMethods);
    if (this.#allowHeaders !== '') res.setHeader('access-control-allow-headers', this.#allowHeaders);
    res.setHeader('access-control-max-age', this.#maxAge);
  }
}

/**
 * The last value of a forwarding header: the one the nearest proxy — the trusted one — wrote. Earlier values (and a
 * header line the client sent itself) come from further away: a proxy that appends, or passes the header through,
 * leaves the client's text first.
 */
const lastValue = (v: string | string[] | undefined): string | undefined => {
  const joined = Array.isArray(v) ? v.join(',') : v;
  if (joined === undefined) return undefined;
  return joined.slice(joined.lastIndexOf(',') + 1).trim() || undefined;
};

/** The host the browser reached: the Host header, or the nearest X-Forwarded-Host when a trusted proxy sent the request. */
export function requestHost(req: IncomingMessage, trustedPeer: boolean): string | undefined {
  return (trustedPeer ? lastValue(req.headers['x-forwarded-host']) : undefined) ?? req.headers.host;
}

/** The forwarded host a trusted proxy passed on, if any (the Host header is checked besides it: server.allowed_hosts). */
export function forwardedHost(req: IncomingMessage, trustedPeer: boolean): string | undefined {
  return trustedPeer ? lastValue(req.headers['x-forwarded-host']) : undefined;
}

/**
 * Whether `origin` is the gateway's own, as the browser reached it: the Host header and the connection's scheme, or
 * X-Forwarded-Host/-Proto when a trusted proxy sent the request. Pages the upstream serves through the gateway post
 * to it with this Origin. Only as good as the Host: server.allowed_hosts keeps a rebound name from being "own".
 */
export function isOwnOrigin(origin: string, req: IncomingMessage, tls: boolean, trustedPeer: boolean): boolean {
  const proto = (trustedPeer ? lastValue(req.headers['x-forwarded-proto']) : undefined) ?? (tls ? 'https' : 'http');
  let host = requestHost(req, trustedPeer)?.toLowerCase();
  if (host === undefined) return false;
  if (proto === 'https' && host.endsWith(':443')) host = host.slice(0, -4);
  else if (proto === 'http' && host.endsWith(':80')) host = host.slice(0, -3);
  return origin.length === proto.length + 3 + host.length && origin === `${proto}://${host}`;
}

/** Methods that change nothing by definition (RFC 9110 §9.2.1); a write is anything else. */
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const isWrite = (method: string | undefined): boolean => !READ_METHODS.has(method ?? '');

/**
 * MCP streamable HTTP, security warning: "Servers MUST validate the Origin header on all incoming connections to
 * prevent DNS rebinding attacks", answering 403 (the gateway sends a JSON-RPC error body, id null: the body is unread).
 */
export function mcpOriginRefusal(): GatehouseError {
  return new GatehouseError('GH_FORBIDDEN', 'Forbidden: requests from this origin are not allowed on this MCP endpoint', { data: { reason: 'mcp_origin' } });
}

/**
 * Applies a route's CORS policy before any stage. Returns the preflight's outcome when the request was a preflight
 * (answered here, nothing forwarded), else undefined and the request goes on. Throws GH_FORBIDDEN for a cross-origin
 * write the policy refuses (on MCP routes: any request from such an origin), which the gateway answers and audits.
 */
export function applyCors(policy: CorsPolicy, req: IncomingMessage, res: ServerResponse, ownOrigin: (origin: string) => boolean): { status: number; refusal?: CorsRefusal } | undefined {
  const origin = req.headers.origin;
  // Every answer on the route depends on Origin, whether it was allowed or not (caches must not mix them).
  res.setHeader('vary', 'Origin');
  if (origin === undefined) return undefined;
  const allowed = policy.allows(origin);
  const preflightMethod = req.method === 'OPTIONS' ? req.headers['access-control-request-method'] : undefined;
  if (preflightMethod !== undefined) {
    res.setHeader('vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
    const refusal = allowed ? policy.checkPreflight(preflightMethod, req.headers['access-control-request-headers']) : 'cors_origin';
    if (refusal !== undefined) return { status: 403, refusal };
    policy.setResponseHeaders(res, origin);
    policy.setPreflightHeaders(res);
    return { status: 204 };
  }
  if (allowed) {
    policy.setResponseHeaders(res, origin);
    return undefined;
  }
  if (policy.refuseEveryForeignRequest && !ownOrigin(origin)) throw mcpOriginRefusal();
  if (policy.refuseCrossOriginWrites && isWrite(req.method) && !ownOrigin(origin)) {
    throw new GatehouseError('GH_FORBIDDEN', 'Forbidden: requests from this origin are not allowed on this route (routes[].cors.allowed_origins)', { data: { reason: 'cross_origin' } });
  }
  return undefined;
}

/**
 * A route's CORS policy at the gateway, before any stage: true when the request was a preflight, answered here and
 * never forwarded (not audited: it carries no identity and changes nothing; it is logged and counted). Throws for a
 * refused cross-origin write, which the gateway answers and audits like any refusal.
 */
export function answeredByCors(cors: CorsPolicy, ex: Exchange, route: { name: string; prefix: string; config: { kind: 'http' | 'mcp' } }, tls: boolean, trustedPeer: boolean): boolean {
  ex.route = { name: route.name, prefix: route.prefix, kind: route.config.kind };
  const preflight = applyCors(cors, ex.req, ex.res, (origin) => isOwnOrigin(origin, ex.req, tls, trustedPeer));
  if (preflight === undefined) return false;
  ex.status = preflight.status;
  if (preflight.refusal === undefined) {
    ex.res.writeHead(204, { 'x-request-id': ex.id }).end();
    return true;
  }
  ex.error = new GatehouseError('GH_FORBIDDEN', "Forbidden: this origin, method or header is not allowed by the route's CORS policy", { data: { reason: preflight.refusal } });
  sendJson(ex.res, 403, errorBody(ex.error, ex.id), { 'x-request-id': ex.id });
  return true;
}
