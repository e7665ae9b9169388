import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import { GatehouseError } from '../core/errors.js';
import { isSafeRequestId, requestId } from '../core/ids.js';
import { isIP } from 'node:net';
import { normalizeIp, rawHeaderValues } from '../core/net.js';
import type { ClientCertIdentity, Exchange, NetworkIdentity } from '../core/types.js';

/**
 * Splits and checks the request target. Refuses anything that could escape a route prefix after decoding:
 * encoded slashes, backslashes or NULs, dot segments (raw or percent-encoded), absolute-form targets, and what an
 * upstream would read differently: a fragment, `;` path parameters.
 * Returns the decoded path used for routing and the raw path forwarded upstream (identical in meaning).
 */
export function checkTarget(url: string | undefined): { path: string; rawPath: string; query: string } {
  if (!url || url.charCodeAt(0) !== 47 /* '/' */ || url.length > 8192) throw new GatehouseError('GH_PATH_INVALID');
  // A fragment has no place in a request target (RFC 9112 §3.2); upstreams that parse it as one serve a shorter path
  // than the one authorized (`/files/secret#/x` → /files/secret).
  if (url.includes('#')) throw new GatehouseError('GH_PATH_INVALID');
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  // Servlet containers strip `;params` from each segment before routing, so `/files/secret;x/key` would be authorized
  // as written and served as /files/secret/key. Percent-encoded (%3b) it stays a plain character everywhere.
  if (rawPath.includes('\\') || rawPath.includes(';')) throw new GatehouseError('GH_PATH_INVALID');
  let path = rawPath;
  if (rawPath.includes('%')) {
    // %2f %5c %00 would let a decoded path differ from what the upstream routes on: refuse them outright.
    if (/%(2f|5c|00)/i.test(rawPath)) throw new GatehouseError('GH_PATH_INVALID');
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      throw new GatehouseError('GH_PATH_INVALID');
    }
  }
  // Dot segments are refused, not resolved: a client that sends them is probing. `..;x` (here only from `..%3b`) counts
  // too: a container that decodes before stripping path parameters resolves it (the /..;/ bypass).
  if (path.includes('/.') && /\/\.\.?(;[^/]*)?(\/|$)/.test(path)) throw new GatehouseError('GH_PATH_INVALID');
  if (path.includes('//')) throw new GatehouseError('GH_PATH_INVALID');
  return { path, rawPath, query };
}

// RFC 9110 §7.2: uri-host [":" port]; an IP literal or a reg-name (unreserved, pct-encoded, sub-delims). Empty is allowed.
const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::[0-9]{0,5})?$/;

/**
 * RFC 9112 §3.2: a request with more than one Host line, or a Host that is not a host[:port], is answered 400. Node
 * keeps the first of two Host lines; the forwarded X-Forwarded-Host (which upstreams build links from) would carry
 * whichever the proxy read, and a value like `good.example/x` or `user@evil` turns into someone else's URL there.
 */
export function checkHost(rawHeaders: readonly string[]): void {
  const hosts = rawHeaderValues(rawHeaders, 'host');
  if (hosts.length > 1 || (hosts.length === 1 && !HOST_VALUE.test(hosts[0] as string))) throw new GatehouseError('GH_HEADER_INVALID');
}

export interface NetworkOptions {
  isTrustedProxy: (ip: string) => boolean;
  tls: boolean;
  clientCert?: (socket: TLSSocket) => ClientCertIdentity | undefined;
}

const CERT_CACHE = Symbol('gatehouse.clientCert');

const IPV4_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/;
const IPV6_BRACKETED = /^\[([0-9A-Fa-f:.]{2,45})\](?::\d{1,5})?$/;

/**
 * One X-Forwarded-For hop as an address: an IP, or `ip:port` / `[v6]:port` as some proxies write it (Azure Application
 * Gateway), without the port. Anything else is '' — never a source address: a made-up or per-connection value there
 * would give each request its own per-IP failure count and lockout.
 */
export function forwardedHop(raw: string): string {
  const hop = raw.trim();
  if (isIP(hop) !== 0) return normalizeIp(hop);
  const m = IPV4_PORT.exec(hop) ?? IPV6_BRACKETED.exec(hop);
  return m && isIP(m[1] as string) !== 0 ? normalizeIp(m[1]) : '';
}

/** The X-Forwarded-For characters read, from the right. */
const MAX_XFF = 2048;

/**
 * The client's address: the peer, or — only behind a trusted proxy — the rightmost untrusted X-Forwarded-For hop. A
 * hop that is not an address ends the walk: the last address read (a trusted proxy's) stands.
 */
export function networkIdentity(req: IncomingMessage, opts: NetworkOptions): NetworkIdentity {
  const peer = normalizeIp(req.socket.remoteAddress);
  let source = peer;
  if (opts.isTrustedProxy(peer)) {
    const xff = req.headers['x-forwarded-for'];
    if (typeof xff === 'string') {
      // Only the rightmost hops matter, and the client controls the length of what precedes the ones a trusted proxy
      // appended: read the last 2 KiB (without its cut first hop) rather than ignoring a long header, which would
      // make the proxy itself the source and hand the client the proxy's failure count, lockout and rate limits.
      const tail = xff.length <= MAX_XFF ? xff : xff.slice(xff.indexOf(',', xff.length - MAX_XFF) + 1 || xff.length);
      const hops = tail.split(',');
      for (let i = hops.length - 1; i >= 0; i--) {
        const hop = forwardedHop(hops[i] as string);
        if (!hop) break;
        source = hop;
        if (!opts.isTrustedProxy(hop)) break;
      }
    }
  }
  const net: NetworkIdentity = { source_ip: source, peer_ip: peer, tls: opts.tls };
  if (opts.tls && opts.clientCert) {
    const socket = req.socket as TLSSocket & { [CERT_CACHE]?: ClientCertIdentity | null };
    let cert = socket[CERT_CACHE];
    if (cert === undefined) socket[CERT_CACHE] = cert = opts.clientCert(socket) ?? null;
    if (cert) net.client_cert = cert;
  }
  return net;
}

export function createExchange(req: IncomingMessage, res: ServerResponse, target: { path: string; query: string }, network: NetworkIdentity, trustedPeer: boolean): Exchange {
  const inbound = trustedPeer ? req.headers['x-request-id'] : undefined;
  const id = typeof inbound === 'string' && isSafeRequestId(inbound) ? inbound : requestId();
  return {
    id,
    startedAt: performance.now(),
    req,
    res,
    method: req.method ?? 'GET',
    path: target.path,
    query: target.query,
    network,
    route: undefined,
    principal: undefined,
    operation: undefined,
    decision: undefined,
    approval: undefined,
    body: undefined,
    upstreamHeaders: {},
    upstreamSigner: undefined,
    status: undefined,
    error: undefined,
    meta: {},
    responseFilter: undefined,
    streamFilter: undefined,
  };
}
