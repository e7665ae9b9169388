import { Transform, type Readable } from 'node:stream';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { Pool, type Dispatcher } from 'undici';
import { GatehouseError, toGatehouseError } from '../core/errors.js';
import type { Exchange } from '../core/types.js';
import type { RouteConfig } from '../config/index.js';
import { MCP_SESSION, sealQuerySession, sealResponseSession, sessionBinding, type SessionExchange } from './mcp-session.js';
import { UpstreamSlots, type SlotWaiter } from './admission.js';
import type { CredentialEnd } from './credential-watch.js';
import { SseEndpointRewriter, SseEventFilter } from './sse-events.js';
import { EchoMask, echoFormBytes } from './echo-mask.js';
import { bodyOverrideScanner, methodOverrideRefused, queryOverridesMethod, type OverrideScanner } from './method-override.js';
import { scrubEchoes } from '../redact/index.js';

/** RFC 9110 §7.6.1 hop-by-hop headers, never forwarded in either direction. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
/**
 * Headers that make some frameworks run another method or path than the request line's (Rack, ASP.NET, Symfony, IIS
 * URL Rewrite): the gateway authorized the request line, so they never travel upstream.
 */
const OVERRIDES = new Set([
  'x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-url', 'x-rewrite-url', 'x-original-method',
  // httpoxy (CVE-2016-5385): CGI-style stacks turn `Proxy:` into HTTP_PROXY, the proxy their outbound calls then use.
  'proxy',
]);

/**
 * Client-address and original-host headers that libraries read as "the client" or "the host" (request-ip,
 * Cloudflare, Akamai, Fastly, Envoy, …): set by a front proxy, never by the client itself.
 */
const CLIENT_ADDRESS = new Set([
  'x-real-ip', 'x-client-ip', 'true-client-ip', 'cf-connecting-ip', 'fastly-client-ip', 'x-cluster-client-ip', 'client-ip', 'x-forwarded',
  'forwarded-for', 'x-original-forwarded-for', 'x-envoy-external-address', 'x-original-host', 'x-host',
  'appengine-user-ip', 'cf-pseudo-ipv4', 'proxy-client-ip', 'wl-proxy-client-ip', 'x-originating-ip', 'x-remote-ip',
  'x-remote-addr', 'x-proxyuser-ip',
]);

/** Request headers a client may not set for the upstream: forwarding info (unless from a trusted proxy), our own, front-proxy identity. */
function isClientControlled(name: string): boolean {
  return name.startsWith('x-forwarded-') || name === 'forwarded' || CLIENT_ADDRESS.has(name) || name.startsWith('x-gatehouse-') || name.startsWith('tailscale-');
}

/**
 * The CLIENT span of one upstream call (tracing.ts), set on the exchange under UPSTREAM_SPAN only when its trace is
 * sampled. Absent (tracing off, or not sampled), forwarding costs one property read and nothing else.
 */
export const UPSTREAM_SPAN: unique symbol = Symbol('gatehouse.upstreamSpan');
export interface UpstreamSpan {
  /** The request is being dispatched to this upstream. */
  sent(target: UpstreamTarget): void;
  /** The response has ended (`status`), or the call failed with `code` (status 0 when no response came). */
  ended(status: number, code: string | undefined): void;
}
/** What a CLIENT span says of the upstream (OTel HTTP client conventions): never its path or query. */
export interface UpstreamTarget {
  readonly address: string;
  readonly port: number;
  readonly scheme: 'http' | 'https';
}
export type TracedExchange = Exchange & { [UPSTREAM_SPAN]?: UpstreamSpan };

export interface ForwardHooks {
  /** Called with the upstream status before anything is sent to the client; may return a promise (audit durability). */
  beforeResponse(ex: Exchange, status: number): Promise<void> | undefined;
  /** Response headers the gateway sets (the request id), replacing any the upstream sent under the same name. */
  responseHeaders: (ex: Exchange) => Record<string, string>;
  /**
   * A response already under way was ended by the gateway (routes[].max_stream_duration, or the caller's credential
   * revoked or expired while it ran): logged and audited. A request ended before its response started is not reported
   * here: forward() rejects with the credential's error, answered and audited as any refusal.
   */
  streamCut?: (ex: Exchange, reason: StreamCutReason) => void;
  /**
   * Watches the caller's credential while the request is forwarded (credential-watch.ts): `end` when it is revoked
   * or expires. Returns the function to stop watching, or undefined when there is nothing to watch.
   */
  watch?: (ex: Exchange, end: (reason: CredentialEnd) => void) => (() => void) | undefined;
  /** A streamed body echoed the route's injected credential, `count` times: masked, and logged by the gateway. */
  echoMasked?: (ex: Exchange, count: number) => void;
}

export type StreamCutReason = 'max_stream_duration' | CredentialEnd;

export interface UpstreamOptions {
  /**
   * What happens to an upstream's error body (status ≥ 400): `pass` unchanged; `redact` (default) through the
   * redactor when it is text, so a careless upstream's stack trace or echoed credential does not reach the client;
   * `replace` with the gateway's generic error.
   */
  errorBodies?: 'pass' | 'redact' | 'replace';
  redactText?: (text: string) => string;
  /** undici connect options for TLS upstreams (ca, cert, key, servername, rejectUnauthorized …). */
  connect?: Record<string, unknown>;
  /** Strip the client's Authorization header: the credential was meant for the gateway. */
  stripAuthorization: boolean;
  /** Other request headers carrying a credential meant for the gateway (api_key.header, header-method secrets), lower case: never forwarded. */
  credentialHeaders?: ReadonlySet<string>;
  /**
   * Identity header names the gateway believes from trusted proxies (auth.header.trusted_identity, lower case): from
   * anyone else they are dropped like X-Forwarded-*, or a client could hand the upstream an identity of its choosing.
   */
  identityHeaders?: ReadonlySet<string>;
  maxBodySize: number;
  /**
   * The forms of the credentials the gateway injects on this route (upstream_auth): scrubbed from response header
   * values, so an upstream echoing its key in a Location or a debug header does not hand it to the client.
   */
  echoedSecrets?: () => readonly string[];
  /** Bound on a response buffered for a responseFilter. */
  maxFilteredResponse?: number;
  /** The gateway governs CORS on this route (routes[].cors): the upstream's Access-Control-* are dropped, Origin joins its Vary. */
  cors?: boolean;
}

/**
 * Adds the header names listed in one Connection header (RFC 9110 §7.6.1), which are hop-by-hop too, to `into`.
 * Every Connection line counts (a list may be split over several, §5.3), and there is no length cut-off: skipping a
 * long value would forward exactly the headers it names. Header size limits bound the work.
 */
function connectionTokens(value: string | undefined, into: Set<string> | undefined): Set<string> | undefined {
  if (typeof value !== 'string') return into;
  // The usual values name no header: answered without splitting (this runs on most responses).
  if (value.length <= 10) {
    const v = value.toLowerCase();
    if (v === 'keep-alive' || v === 'close') return into;
  }
  for (const t of value.toLowerCase().split(',')) {
    const name = t.trim();
    if (name !== '' && name !== 'close' && name !== 'keep-alive') (into ??= new Set()).add(name);
  }
  return into;
}

/** The client hung up before a response could reach it: recorded as a client error, not as an upstream failure. */
function clientGone(): GatehouseError {
  return new GatehouseError('GH_CLIENT_CLOSED', 'The client closed the connection.', { detail: 'client_closed' });
}

function upstreamError(err: Error & { code?: string }): GatehouseError {
  const code = err.code ?? '';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'ETIMEDOUT') return new GatehouseError('GH_UPSTREAM_TIMEOUT', undefined, { detail: code, cause: err });
  // Our own reasons for aborting (an invalid response header, a filtered answer too large, a request body past its
  // limit) stand as given: abort() calls onError at once, before the caller's finish().
  if (err instanceof GatehouseError) return err;
  if (code === 'GH_BODY_TOO_LARGE') return err as GatehouseError;
  return new GatehouseError('GH_UPSTREAM_UNAVAILABLE', undefined, { detail: code || err.name, cause: err });
}

/**
 * No upstream connection came free within the route's queue_timeout: 503 with Retry-After, nothing forwarded. The
 * message, for logs and the audit record only (5xx), says which limit.
 */
function queueTimeout(ms: number): GatehouseError {
  return new GatehouseError('GH_UPSTREAM_BUSY', `No upstream connection of the route came free within queue_timeout (${ms} ms).`, {
    detail: 'upstream_queue_timeout',
    headers: { 'retry-after': '1' },
  });
}

/**
 * Counts a streamed request body (chunked, or one a bandwidth rule counts or a method-override scan reads) and fails
 * with 413 past the limit; `count` hears each chunk passed on. A chunk completing a `_method` name is not passed on:
 * the request fails there (method-override.ts).
 */
function limitBody(source: Readable, max: number, count?: (bytes: number) => void, scan?: { scanner: OverrideScanner; ex: Exchange }): Readable {
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > max) cb(new GatehouseError('GH_BODY_TOO_LARGE'));
      else if (scan?.scanner.feed(chunk)) cb(methodOverrideRefused(scan.ex, 'body'));
      else {
        count?.(chunk.length);
        cb(null, chunk);
      }
    },
  });
  source.on('error', (e) => counter.destroy(e));
  return source.pipe(counter);
}

/** One upstream: an undici keep-alive pool, and the forwarding of one exchange through it, streaming both ways. */
export class Upstream {
  readonly origin: string;
  readonly #pool: Pool;
  readonly #basePath: string;
  readonly #route: RouteConfig;
  readonly #opts: UpstreamOptions;
  readonly #host: string;
  readonly #target: UpstreamTarget;
  /** The pool's connections as slots: a request waits for one at most queue_timeout (admission.ts). */
  readonly #slots: UpstreamSlots;

  constructor(url: string, route: RouteConfig, opts: UpstreamOptions) {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`upstream must be http or https: ${u.protocol}`);
    this.origin = u.origin;
    this.#host = u.host;
    const scheme = u.protocol === 'https:' ? 'https' : 'http';
    this.#target = { address: u.hostname.replace(/^\[|\]$/g, ''), port: u.port === '' ? (scheme === 'https' ? 443 : 80) : Number(u.port), scheme };
    this.#basePath = u.pathname.replace(/\/+$/, '');
    this.#route = route;
    this.#opts = opts;
    this.#pool = new Pool(u.origin, {
      connections: route.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: route.response_timeout,
      bodyTimeout: route.body_timeout,
      connect: { timeout: route.connect_timeout, ...(opts.connect ?? {}) },
    });
    this.#slots = new UpstreamSlots(route.connections);
  }

  /**
   * The upstream request target: base path + the raw path below the prefix + query. The raw prefix must be the
   * route prefix byte for byte: a percent-encoded prefix (`/%65cho/x` routed as /echo) would otherwise be cut at
   * the wrong place and reach a different upstream path than the one routed and authorized. Undefined refuses it.
   */
  #path(ex: Exchange): string | undefined {
    const raw = ex.req.url as string;
    const q = raw.indexOf('?');
    let rawPath = q === -1 ? raw : raw.slice(0, q);
    const prefix = this.#route.prefix.replace(/\/+$/, '');
    if (prefix !== '' && !(rawPath.startsWith(prefix) && (rawPath.length === prefix.length || rawPath.charCodeAt(prefix.length) === 47))) return undefined;
    if (this.#route.strip_prefix && prefix !== '') rawPath = rawPath.slice(prefix.length) || '/';
    const path = this.#basePath + rawPath;
    // A bound session parameter (legacy SSE transport) goes upstream as the upstream's own id (mcp-session.ts).
    const query = (ex as SessionExchange)[MCP_SESSION]?.upstreamQuery ?? ex.query;
    return query ? `${path}?${query}` : path;
  }

  /**
   * Upstream request headers as a flat [name, value, …] list built from rawHeaders (cheaper than req.headers,
   * which Node builds lazily). Also reports how the request body is framed.
   */
  #headers(ex: Exchange, trustedPeer: boolean, target: string): { headers: string[]; contentLength: string | undefined; chunked: boolean } {
    const raw = ex.req.rawHeaders;
    const out: string[] = [];
    let contentLength: string | undefined;
    let chunked = false;
    let priorXff: string | undefined;
    let forwardedProto = false;
    let forwardedHost = false;
    let host: string | undefined;
    let connectionListed: Set<string> | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      if ((raw[i] as string).length === 10 && (raw[i] as string).toLowerCase() === 'connection') connectionListed = connectionTokens(raw[i + 1], connectionListed);
    }
    for (let i = 0; i < raw.length; i += 2) {
      const name = (raw[i] as string).toLowerCase();
      const value = raw[i + 1] as string;
      if (name === 'host') {
        host = value;
        continue;
      }
      if (name === 'content-length') {
        contentLength = value;
        continue;
      }
      if (name === 'transfer-encoding') {
        chunked = true;
        continue;
      }
      if (HOP_BY_HOP.has(name) || connectionListed?.has(name) || OVERRIDES.has(name)) continue;
      // WSGI, Rack and PHP read X_Api_Key as X-Api-Key: an underscore twin of a header the gateway drops or sets would
      // reach the application as that header (nginx drops underscored names altogether by default).
      if (name.includes('_') && this.#guardedName(name.replace(/_/g, '-'))) continue;
      if (name === 'authorization' && this.#opts.stripAuthorization) continue;
      if (this.#opts.credentialHeaders?.has(name) === true) continue;
      // Node has already answered `100-continue` to the client; undici refuses to send Expect (the request would
      // fail as a 502). The expectation is met at this hop.
      if (name === 'expect') continue;
      // Our own namespace (x-gatehouse-*, e.g. the encrypted-body marker) never travels upstream; except that
      // on end-to-end routes the ciphertext and its marker pass untouched.
      const e2eMarker = this.#route.end_to_end && name === 'x-gatehouse-encrypted';
      if (name.startsWith('x-gatehouse-') && !e2eMarker) continue;
      if ((isClientControlled(name) || this.#opts.identityHeaders?.has(name) === true) && !e2eMarker) {
        if (!trustedPeer) continue;
        if (name === 'x-forwarded-for') {
          priorXff = priorXff ? `${priorXff}, ${value}` : value;
          continue;
        }
        if (name === 'x-forwarded-proto') forwardedProto = true;
        else if (name === 'x-forwarded-host') forwardedHost = true;
      }
      if (name === 'x-request-id') continue;
      // MCP responses may be rewritten (tools/list filtering): ask the upstream for an uncompressed body.
      // A route injecting a credential reads its bodies for echoes of it (echo-mask.ts): uncompressed too.
      if (name === 'accept-encoding' && (this.#route.kind === 'mcp' || this.#opts.echoedSecrets !== undefined)) continue;
      // Nor in slices: byte ranges of an echo would hand the client the credential piece by piece, each piece too
      // short for the mask to know (it knows whole forms and their beginnings, never a middle).
      // Nor tested against a guess: If-None-Match / If-Match compare the client's ETag with one the upstream computes
      // over the echo (304 or 412 for the right guess of a low-entropy password).
      if ((name === 'range' || name === 'if-range' || name === 'if-none-match' || name === 'if-match') && this.#opts.echoedSecrets !== undefined) continue;
      // Resuming a stream would replay list answers the response filter never saw (docs/authorization.md).
      if (name === 'last-event-id' && this.#route.kind === 'mcp') continue;
      // Bound sessions (mcp-session.ts): only the id the session stage verified travels, from ex.upstreamHeaders.
      if (name === 'mcp-session-id' && (ex as SessionExchange)[MCP_SESSION] !== undefined) continue;
      out.push(name, value);
    }
    out.push('x-forwarded-for', priorXff ? `${priorXff}, ${ex.network.peer_ip}` : ex.network.peer_ip);
    if (!forwardedProto) out.push('x-forwarded-proto', ex.network.tls ? 'https' : 'http');
    if (!forwardedHost && host) out.push('x-forwarded-host', host);
    // The bodies the gateway reads (MCP answers, echo masking) must arrive as sent: without Accept-Encoding any coding
    // is acceptable (RFC 9110 §12.5.3), so identity is asked for, and anything else is the upstream's fault.
    if (this.#route.kind === 'mcp' || this.#opts.echoedSecrets !== undefined) out.push('accept-encoding', 'identity');
    out.push('x-request-id', ex.id, 'host', this.#host);
    for (const k in ex.upstreamHeaders) out.push(k, ex.upstreamHeaders[k] as string);
    if (ex.upstreamSigner) out.push(...ex.upstreamSigner(target));
    return { headers: out, contentLength, chunked };
  }

  /** Whether a request header of this (dashed) name is one the gateway removes or sets itself. */
  #guardedName(name: string): boolean {
    return (
      HOP_BY_HOP.has(name) || OVERRIDES.has(name) || isClientControlled(name) || name === 'authorization' || name === 'host' ||
      name === 'content-length' || name === 'x-request-id' || this.#opts.credentialHeaders?.has(name) === true || this.#opts.identityHeaders?.has(name) === true ||
      ((name === 'last-event-id' || name === 'mcp-session-id') && this.#route.kind === 'mcp')
    );
  }

  /** Forwards the exchange; resolves when the response has been fully sent (or rejects before anything was sent). */
  forward(ex: Exchange, trustedPeer: boolean, hooks: ForwardHooks): Promise<void> {
    const req = ex.req;
    const res = ex.res;
    const target = this.#path(ex);
    if (target === undefined) return Promise.reject(new GatehouseError('GH_PATH_INVALID', 'The route prefix must not be percent-encoded.'));
    // A stage may have waited (approval, first credential check) while the client left: act for nobody, and a
    // response written to the dead socket would pause the upstream for good (undici's body timeout sleeps meanwhile).
    if (res.destroyed) return Promise.reject(clientGone());
    const { headers, contentLength, chunked } = this.#headers(ex, trustedPeer, target);
    // Set only on exchanges a bandwidth rule counts (limits.bandwidth); otherwise bodies pass exactly as before.
    const meter = ex.byteMeter;
    const hasBody = ex.body !== undefined ? ex.body.length > 0 : chunked || (contentLength !== undefined && contentLength !== '0');
    let scan: OverrideScanner | undefined;
    // routes[].method_override: a `_method` parameter would make the upstream run another method than the one
    // authorized (method-override.ts). Checked here, after identify, so the refusal's audit record names who sent it.
    // Ciphertext (end_to_end) and MCP's JSON-RPC (classified by its body) are not read for it.
    if (this.#route.method_override === 'refuse') {
      if (queryOverridesMethod(ex.query)) return Promise.reject(methodOverrideRefused(ex, 'query'));
      if (hasBody && this.#route.kind === 'http' && !this.#route.end_to_end) {
        try {
          scan = bodyOverrideScanner(req.rawHeaders);
        } catch (e) {
          // Compressed, or in a charset the scan cannot read: where it was, for the audit record.
          if (e instanceof GatehouseError && e.code === 'GH_METHOD_OVERRIDE') ex.meta['method_override'] = String(e.detail).replace('method_override_', '');
          return Promise.reject(e as Error);
        }
      }
    }
    let body: Buffer | Readable | null = null;
    if (ex.body !== undefined) {
      if (scan?.feed(ex.body)) return Promise.reject(methodOverrideRefused(ex, 'body'));
      body = ex.body;
      headers.push('content-length', String(ex.body.length));
      meter?.in?.(ex.body.length);
    } else if (contentLength !== undefined) {
      if (Number(contentLength) > this.#opts.maxBodySize) return Promise.reject(new GatehouseError('GH_BODY_TOO_LARGE'));
      if (contentLength !== '0') {
        body = meter?.in || scan ? limitBody(req, this.#opts.maxBodySize, meter?.in, scan && { scanner: scan, ex }) : req;
        headers.push('content-length', contentLength);
      }
    } else if (chunked) body = limitBody(req, this.#opts.maxBodySize, meter?.in, scan && { scanner: scan, ex });
    const countOut = meter?.out;
    let filter = ex.responseFilter;
    const maxFiltered = this.#opts.maxFilteredResponse ?? 8 * 1024 * 1024;
    const span = (ex as TracedExchange)[UPSTREAM_SPAN];
    const maxStream = this.#route.max_stream_duration;

    return new Promise<void>((resolve, reject) => {
      let started = false;
      let done = false;
      let gone = false;
      let abort: ((err?: Error) => void) | undefined;
      let buffered: Buffer[] | undefined;
      let bufferedLen = 0;
      let status = 0;
      let outHeaders: string[] = [];
      let resumeUpstream: (() => void) | undefined;
      let stalled: NodeJS.Timeout | undefined;
      let streamTimer: NodeJS.Timeout | undefined;
      /** Set while queued for a connection (all busy); the slot, once handed over, is held until onComplete/onError. */
      let waiter: SlotWaiter | undefined;
      let slotHeld = false;
      /** Set on a legacy SSE stream until its first event has passed (SseEndpointRewriter). */
      let endpoint: SseEndpointRewriter | undefined;
      /** Set on an MCP GET stream whose caller's list answers are filtered (ex.streamFilter). */
      let events: SseEventFilter | undefined;
      /** Set on a streamed body of a route injecting a credential (routes[].upstream_auth). */
      let mask: EchoMask | undefined;
      /** The response's audit record was asked for (beforeResponse): from then on an end is a cut, not a refusal. */
      let recorded = false;
      let unwatch: (() => void) | undefined;
      /** `cut`: why a response already under way was cut off (the CLIENT span's error; the client's answer is already sent). */
      const finish = (err?: Error, cut?: string) => {
        if (done) return;
        done = true;
        if (stalled) clearTimeout(stalled);
        if (streamTimer) clearTimeout(streamTimer);
        unwatch?.();
        res.off('close', onClientClose);
        if (span !== undefined) span.ended(status, err !== undefined ? toGatehouseError(err).code : cut);
        if (err) reject(err);
        else resolve();
      };
      const onClientClose = () => {
        if (res.writableFinished) return;
        gone = true;
        // Still waiting for a connection: leave the queue, nothing was dispatched.
        if (waiter !== undefined) {
          this.#slots.cancel(waiter);
          waiter = undefined;
          finish(clientGone());
          return;
        }
        // Dispatched but before onConnect (undici's own queue, for the moment a finishing connection takes to be free
        // again) there is nothing to abort yet: onConnect sees `gone`.
        abort?.(new Error('client closed'));
      };
      const onDrain = () => {
        if (stalled) clearTimeout(stalled);
        stalled = undefined;
        resumeUpstream?.();
      };
      // undici's body timeout sleeps while the upstream is paused for the client, and Node has no send timeout: a client
      // that stops reading (slow read) would hold a pooled upstream connection for good. A client that takes no data
      // for the route's body_timeout is treated as gone (nginx's send_timeout), which aborts the upstream request.
      const onStalled = () => {
        stalled = undefined;
        res.destroy();
      };
      // Node refuses header bytes that could split the response; an upstream sending them gets a 502, not a crash.
      const writeHeadSafely = (): boolean => {
        try {
          res.writeHead(status, outHeaders);
        } catch (e) {
          abort?.(e as Error);
          finish(new GatehouseError('GH_UPSTREAM_PROTOCOL', undefined, { detail: 'invalid response header from upstream', cause: e }));
          return false;
        }
        started = true;
        // routes[].max_stream_duration: a body still flowing this long after its headers is ended. Authorization ran
        // once, when the request started: this bounds how long a stream outlives its token's revocation or expiry.
        // (The closure exists only on routes that set it.)
        if (maxStream !== undefined) {
          streamTimer = setTimeout(() => {
            streamTimer = undefined;
            cutOff('max_stream_duration');
          }, maxStream);
          streamTimer.unref();
        }
        return true;
      };
      /**
       * Ends the request from outside: its stream ran too long, or its credential was revoked or expired. Before
       * anything was recorded or sent, it is refused like a request arriving with that credential (the upstream call is
       * aborted, the client gets the 401). Once the response is under way, an SSE body without Content-Length ends
       * cleanly (the final chunk): a partial event is discarded by the client, which reconnects and authenticates
       * afresh. Any other body is cut so the truncation shows, as on an upstream failure mid-body; so is one the client
       * is not reading (an end would wait on it).
       */
      const cutOff = (reason: StreamCutReason): void => {
        if (done) return;
        if (!recorded) {
          if (waiter !== undefined) {
            this.#slots.cancel(waiter);
            waiter = undefined;
          }
          ex.meta['stream_cut'] = reason;
          const code = reason === 'credential_expired' ? 'GH_TOKEN_EXPIRED' : reason === 'credential_key_retired' ? 'GH_TOKEN_INVALID' : 'GH_TOKEN_REVOKED';
          const err = new GatehouseError(code, undefined, { detail: `ended while forwarded: ${reason}` });
          finish(err);
          abort?.(err);
          return;
        }
        const clean = started && headerValue(outHeaders, 'content-length') === '' && /^\s*text\/event-stream/i.test(headerValue(outHeaders, 'content-type')) && !res.writableNeedDrain;
        finish(undefined, span !== undefined ? reason : undefined);
        abort?.(new Error(reason));
        if (clean) res.end();
        else res.destroy();
        hooks.streamCut?.(ex, reason);
      };
      res.on('close', onClientClose);

      // undici's native (v1) handler interface: no header parsing or controller wrapping on the hot path.
      const handler = {
        onConnect(abortFn: (err?: Error) => void) {
          abort = abortFn;
          // The client left, or the request was ended (its credential revoked) while undici was connecting.
          if (gone || done) abortFn(new Error('client closed'));
        },
        onHeaders: (statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean => {
          if (statusCode < 200) return true; // 1xx informational: not relayed
          status = statusCode;
          resumeUpstream = resume;
          outHeaders = responseHeaders(rawHeaders, hooks.responseHeaders(ex), this.#publicLocation, this.#opts.cors === true);
          try {
            sealResponseSession(outHeaders, ex);
            // The legacy SSE transport's stream announces where to POST: mapped onto this route, its session sealed.
            if (this.#route.kind === 'mcp' && ex.method === 'GET' && statusCode >= 200 && statusCode < 300 && /^\s*text\/event-stream/i.test(headerValue(outHeaders, 'content-type'))) {
              // Read event by event: a body the gateway did not ask compressed is refused, and a Content-Length would
              // no longer hold once an event is rewritten (the stream goes chunked).
              const encoding = headerValue(outHeaders, 'content-encoding').trim().toLowerCase();
              if (encoding !== '' && encoding !== 'identity') throw new GatehouseError('GH_UPSTREAM_PROTOCOL', undefined, { detail: 'compressed event stream on an MCP route' });
              if (headerValue(outHeaders, 'content-length') !== '') outHeaders = withoutHeaders(outHeaders, ['content-length']);
              endpoint = this.#endpointRewriter(ex, target);
              // List answers on the stream (the legacy transport's) are filtered to what the caller may use.
              if (ex.streamFilter !== undefined) events = new SseEventFilter(ex.streamFilter, maxFiltered);
            } else if (this.#route.kind === 'mcp' && ex.method === 'POST' && ex.streamFilter !== undefined && statusCode >= 200 && statusCode < 300 && /^\s*text\/event-stream/i.test(headerValue(outHeaders, 'content-type'))) {
              // Every MCP POST's answers are filtered (a list may arrive under an id another POST reused): an event
              // stream event by event, as it flows (progress notifications, long tool streams), not buffered whole.
              const encoding = headerValue(outHeaders, 'content-encoding').trim().toLowerCase();
              if (encoding !== '' && encoding !== 'identity') throw new GatehouseError('GH_UPSTREAM_PROTOCOL', undefined, { detail: 'compressed event stream on an MCP route' });
              if (headerValue(outHeaders, 'content-length') !== '') outHeaders = withoutHeaders(outHeaders, ['content-length']);
              events = new SseEventFilter(ex.streamFilter, maxFiltered);
              filter = undefined;
            }
          } catch (e) {
            // finish first: abort calls onError at once, which would report the upstream as unavailable.
            finish(e as Error);
            abort?.(e as Error);
            return false;
          }
          const echoed = this.#opts.echoedSecrets?.();
          if (echoed && echoed.length > 0) {
            scrubHeaderValues(outHeaders, echoed);
            // Validators and digests the upstream computed over a body that may echo the credential: with every other
            // byte of that body known, each is an offline test of a guess (a low-entropy Basic password).
            outHeaders = withoutHeaders(outHeaders, isDigestHeader);
          }
          // An error is no list answer: its body gets the error treatment (redacted, scrubbed), not the list filter.
          if (statusCode >= 400 && this.#opts.errorBodies !== 'pass') filter = errorBodyFilter(this.#opts, statusCode);
          if (filter) {
            buffered = [];
            return true;
          }
          // A body that streams on a route injecting a credential: masked as it goes (echo-mask.ts). The mask reads
          // bytes as sent: a body compressed although the gateway asked for identity would carry an echo past it.
          if (echoed && echoed.length > 0) {
            const m = new EchoMask(echoed);
            if (m.active) {
              const encoding = headerValue(outHeaders, 'content-encoding').trim().toLowerCase();
              if (encoding !== '' && encoding !== 'identity' && ex.method !== 'HEAD' && statusCode !== 204 && statusCode !== 304) {
                const e = new GatehouseError('GH_UPSTREAM_PROTOCOL', undefined, { detail: 'compressed body on a route injecting a credential' });
                finish(e);
                abort?.(e);
                return false;
              }
              mask = m;
            }
          }
          recorded = true;
          const gate = hooks.beforeResponse(ex, statusCode);
          if (gate) {
            gate.then(
              () => {
                if (done) return;
                if (!writeHeadSafely()) return;
                resume();
              },
              (err: Error) => {
                abort?.(err);
                finish(err);
              },
            );
            return false; // paused until the audit record is durable
          }
          return writeHeadSafely();
        },
        onData: (chunk: Buffer): boolean => {
          countOut?.(chunk.length);
          if (buffered) {
            bufferedLen += chunk.length;
            if (bufferedLen > maxFiltered) {
              abort?.(new GatehouseError('GH_UPSTREAM_PROTOCOL', undefined, { detail: 'filtered response too large' }));
              return false;
            }
            buffered.push(chunk);
            return true;
          }
          if (mask !== undefined) {
            chunk = mask.push(chunk);
            if (chunk.length === 0) return true;
          }
          if (endpoint !== undefined || events !== undefined) {
            try {
              if (endpoint !== undefined) {
                chunk = endpoint.push(chunk);
                if (endpoint.done) endpoint = undefined;
              }
              if (events !== undefined && chunk.length > 0) chunk = events.push(chunk);
            } catch (e) {
              // An endpoint the gateway cannot bind, an event too large to filter: the stream is cut, never passed on
              // unbound or unfiltered.
              abort?.(e as Error);
              res.destroy();
              finish(undefined, span !== undefined ? toGatehouseError(e).code : undefined);
              return false;
            }
            if (chunk.length === 0) return true;
          }
          if (res.write(chunk)) return true;
          res.once('drain', onDrain);
          stalled = setTimeout(onStalled, this.#route.body_timeout);
          stalled.unref();
          return false;
        },
        onComplete: () => {
          // The connection is undici's again: its slot goes to the next request (the oldest waiting, if any).
          if (slotHeld) {
            slotHeld = false;
            this.#slots.release();
          }
          if (buffered && filter) {
            sendFiltered(Buffer.concat(buffered, bufferedLen));
            return;
          }
          // What a stream rewriter still holds when the stream ends is an incomplete event: a client drops it, and it
          // was never filtered, so it is not sent.
          endpoint = undefined;
          events = undefined;
          const tail = mask?.flush();
          if (mask !== undefined && mask.masked > 0) hooks.echoMasked?.(ex, mask.masked);
          if (tail !== undefined && tail.length > 0) res.end(tail);
          else res.end();
          finish();
        },
        onError: (err: Error & { code?: string }) => {
          // The connection is undici's again: its slot goes to the next request (the oldest waiting, if any).
          if (slotHeld) {
            slotHeld = false;
            this.#slots.release();
          }
          if (done) return;
          if (gone) finish(started ? undefined : clientGone(), started && span !== undefined ? 'GH_CLIENT_CLOSED' : undefined);
          else if (!started) finish(upstreamError(err));
          else {
            // Mid-stream failure: the status is gone; cut the connection so the client sees a truncated response.
            res.destroy();
            finish(undefined, span !== undefined ? upstreamError(err).code : undefined);
          }
        },
      };
      const sendFiltered = (whole: Buffer) => {
        const encoding = headerValue(outHeaders, 'content-encoding');
        const compressed = encoding !== '' && encoding !== 'identity';
        const replacing = status >= 400 && this.#opts.errorBodies === 'replace';
        let out: Buffer = whole;
        let generic = replacing;
        try {
          if (compressed && ex.responseFilter) throw new GatehouseError('GH_UPSTREAM_PROTOCOL', undefined, { detail: 'compressed response on a filtered route' });
          // A compressed error body is redacted after decompression (bounded) and sent uncompressed: a client asking
          // for gzip must not get an upstream's echoed credential past the redactor. Undecodable: the generic body.
          let text = whole;
          if (compressed && !replacing) {
            const plain = decompressBounded(whole, encoding, maxFiltered);
            if (plain === undefined) generic = true;
            else text = plain;
          }
          // A filtered answer (MCP lists) is buffered, so the echo mask never sees it: scrubbed here instead, whatever
          // its status (with error_bodies: pass a 4xx/5xx answer keeps the list filter, not the error filter).
          if (!generic) {
            const echoed = this.#opts.echoedSecrets?.();
            if (echoed && echoed.length > 0) text = scrubBytes(text, echoFormBytes(echoed));
          }
          out = generic && !replacing ? genericErrorBody(status) : (filter as NonNullable<typeof filter>)(text, headerValue(outHeaders, 'content-type'));
        } catch (e) {
          finish(e as Error);
          return;
        }
        const drop = ['content-length'];
        if (generic) drop.push('content-type', 'content-encoding');
        else if (compressed) drop.push('content-encoding');
        const headersOut = withoutHeaders(outHeaders, drop);
        if (generic) headersOut.push('content-type', 'application/json');
        headersOut.push('content-length', String(out.length));
        const send = () => {
          if (done) return;
          started = true;
          res.writeHead(status, headersOut);
          res.end(out);
          finish();
        };
        recorded = true;
        const gate = hooks.beforeResponse(ex, status);
        if (gate) gate.then(send, (e: Error) => finish(e));
        else send();
      };
      const options = { method: ex.method as Dispatcher.HttpMethod, path: target, headers, body };
      // Only a request whose credential can be revoked or expire is watched (nothing for public routes, mTLS, Basic).
      if (hooks.watch !== undefined && ex.principal !== undefined) {
        unwatch = hooks.watch(ex, cutOff);
        // Revoked or expired while an earlier stage waited (an approval held): refused, nothing dispatched.
        if (done) return;
      }
      if (this.#slots.take()) {
        slotHeld = true;
        if (span !== undefined) span.sent(this.#target);
        this.#pool.dispatch(options, handler as unknown as Dispatcher.DispatchHandler);
        return;
      }
      // Every connection is busy: wait for one at most queue_timeout, then refuse without forwarding anything.
      waiter = this.#slots.wait(
        () => {
          waiter = undefined;
          // The client left while the slot was being handed over (a microtask): pass it on.
          if (done) {
            this.#slots.release();
            return;
          }
          slotHeld = true;
          if (span !== undefined) span.sent(this.#target);
          this.#pool.dispatch(options, handler as unknown as Dispatcher.DispatchHandler);
        },
        () => {
          waiter = undefined;
          finish(queueTimeout(this.#route.queue_timeout));
        },
        this.#route.queue_timeout,
      );
    });
  }

  /**
   * An upstream that builds absolute URLs from the Host the gateway sent names its own internal address. A Location
   * on the upstream's origin is mapped back onto the route (nginx's `proxy_redirect default`); outside the base
   * path only the origin is dropped. Other origins and relative references pass unchanged.
   */
  readonly #publicLocation = (value: string): string => {
    if (!/^(?:https?:)?\/\//i.test(value)) return value;
    let u: URL;
    try {
      u = new URL(value, this.origin);
    } catch {
      return value;
    }
    if (u.origin !== this.origin) return value;
    return sameOrigin(this.#routePath(u.pathname) ?? u.pathname) + u.search + u.hash;
  };

  /** An upstream path as the gateway's route serves it (base path off, route prefix on); undefined outside the base. */
  #routePath(upstreamPath: string): string | undefined {
    const base = this.#basePath;
    if (base !== '' && !(upstreamPath === base || upstreamPath.startsWith(base + '/'))) return undefined;
    const path = upstreamPath.slice(base.length) || '/';
    const prefix = this.#route.prefix.replace(/\/+$/, '');
    return this.#route.strip_prefix && prefix !== '' ? prefix + path : path;
  }

  /**
   * The rewriter of a legacy SSE stream's `endpoint` event: the URI (relative to the request the upstream received)
   * becomes a path on this route, and its session parameter is sealed for the caller when sessions are bound. With
   * sessions bound, an endpoint the gateway cannot map or bind (another origin, outside the upstream's base path, no
   * session parameter it knows) cuts the stream: passed on, its session would reach the client unbound. With binding
   * off (insecure_unbound), such an endpoint is left as it is.
   */
  #endpointRewriter(ex: Exchange, target: string): SseEndpointRewriter {
    const state = (ex as SessionExchange)[MCP_SESSION];
    const unbindable = (why: string): undefined => {
      if (state === undefined) return undefined;
      throw new GatehouseError('GH_UPSTREAM_PROTOCOL', undefined, { detail: `legacy SSE endpoint the gateway cannot bind: ${why}` });
    };
    return new SseEndpointRewriter((data) => {
      let u: URL;
      try {
        u = new URL(data, this.origin + target);
      } catch {
        return unbindable('not a URI');
      }
      if (u.origin !== this.origin) return unbindable('another origin');
      const path = this.#routePath(u.pathname);
      if (path === undefined) return unbindable('outside the upstream base path');
      const query = u.search.slice(1);
      if (state === undefined) return sameOrigin(path) + u.search + u.hash;
      const sealed = query !== '' ? sealQuerySession(query, state.key, sessionBinding(ex.principal, ex.route?.name ?? '')) : undefined;
      // A session in the path or under another name: passed on, anyone who learned it could post into it.
      if (sealed === undefined) return unbindable('no sessionId or session_id parameter');
      return `${sameOrigin(path)}?${sealed}${u.hash}`;
    });
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
  destroy(): Promise<void> {
    return this.#pool.destroy();
  }
}

/** Response headers derived from the body's bytes, dropped on routes that inject a credential (and x-amz-checksum-*). */
const ECHO_DIGEST_HEADERS = new Set(['etag', 'content-md5', 'digest', 'repr-digest', 'content-digest', 'x-goog-hash', 'content-crc32']);
const isDigestHeader = (name: string): boolean => ECHO_DIGEST_HEADERS.has(name) || name.startsWith('x-amz-checksum-');

/**
 * A path made from an upstream's Location, as the gateway sends it: one leading slash. The URL parser turns `\` into
 * `/` and resolves `..`, so `http://upstream/\evil.example/x` or `/a/..//evil.example` came out as `//evil.example…`,
 * which a browser follows to another host: the gateway would have made an open redirect of a same-origin one.
 */
const sameOrigin = (path: string): string => (path.startsWith('//') ? `/${path.replace(/^\/+/, '')}` : path);

/**
 * Error bodies the text redactor is not run on (it reads UTF-8 and would corrupt them); anything else is read as
 * text, whatever it calls itself (`application/soap+xml`, `yaml`, `x-ndjson`, none at all …).
 */
const BINARY = /^\s*(?:(?:image|audio|video|font)\/|application\/(?:octet-stream|zip|gzip|x-gzip|pdf|wasm|grpc|x-protobuf|protobuf|vnd\.[^;\s]*\+zip)\b)/i;

function errorBodyFilter(opts: UpstreamOptions, status: number): (body: Buffer, contentType: string) => Buffer {
  if (opts.errorBodies === 'replace') return () => genericErrorBody(status);
  const redact = opts.redactText;
  return (body, contentType) => {
    // The route's own injected credentials, byte for byte, whatever the type: an upstream echoing its key in an
    // error body of any kind must not hand it to the client (the same scrub as its response headers get).
    const echoed = opts.echoedSecrets?.();
    const scrubbed = echoed && echoed.length > 0 ? scrubBytes(body, echoFormBytes(echoed)) : body;
    return redact && !BINARY.test(contentType) ? Buffer.from(redact(scrubbed.toString('utf8'))) : scrubbed;
  };
}

/** Every occurrence of each form (echo-mask.ts: every encoding of the route's secrets) in `body` replaced by [REDACTED]; `body` itself when none. */
function scrubBytes(body: Buffer, forms: readonly Buffer[]): Buffer {
  let out = body;
  for (const needle of forms) {
    let at = out.indexOf(needle);
    if (at < 0) continue;
    const parts: Buffer[] = [];
    let from = 0;
    for (; at >= 0; at = out.indexOf(needle, from)) {
      parts.push(out.subarray(from, at), REDACTED);
      from = at + needle.length;
    }
    parts.push(out.subarray(from));
    out = Buffer.concat(parts);
  }
  return out;
}

const REDACTED = Buffer.from('[REDACTED]');

const genericErrorBody = (status: number): Buffer => Buffer.from(JSON.stringify({ error: { code: 'GH_UPSTREAM_ERROR', message: `The upstream service answered ${status}.` } }));

/** gzip, deflate or br, decoded up to `max` bytes; undefined for another encoding, a corrupt body or one too large. */
function decompressBounded(body: Buffer, encoding: string, max: number): Buffer | undefined {
  const e = encoding.trim().toLowerCase();
  try {
    if (e === 'gzip' || e === 'x-gzip') return gunzipSync(body, { maxOutputLength: max });
    if (e === 'deflate') return inflateSync(body, { maxOutputLength: max });
    if (e === 'br') return brotliDecompressSync(body, { maxOutputLength: max });
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * Replaces every occurrence of a known secret in response header values with [REDACTED] (in place), in any of its
 * encodings (a `Location: …?retry_with=` with the key percent-encoded, a JSON-escaped debug header): the registry's
 * matcher, not the text rules, which would also take the cookies and tokens the client is meant to get.
 */
function scrubHeaderValues(flat: string[], secrets: readonly string[]): void {
  for (let i = 1; i < flat.length; i += 2) flat[i] = scrubEchoes(flat[i] as string, secrets);
}

/**
 * Response headers as a flat list from undici's raw header buffers: hop-by-hop removed, Location mapped off the
 * upstream's origin, the gateway's extras in place of any the upstream set (the request id the client sees must be
 * the one in the gateway's log and audit record).
 */
function responseHeaders(raw: Buffer[], extra: Record<string, string>, publicLocation: (value: string) => string, cors: boolean): string[] {
  const out: string[] = [];
  let connectionListed: Set<string> | undefined;
  let vary: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1').toLowerCase();
    const value = (raw[i + 1] as Buffer).toString('latin1');
    if (name === 'connection') {
      connectionListed = connectionTokens(value, connectionListed);
      continue;
    }
    // The gateway terminates TLS, so its own HSTS policy (set on every response) governs, not the upstream's.
    if (HOP_BY_HOP.has(name) || name === 'strict-transport-security' || Object.hasOwn(extra, name)) continue;
    if (cors && (name === 'vary' || name.startsWith('access-control-'))) {
      if (name === 'vary') vary = vary === undefined ? value : `${vary}, ${value}`;
      continue;
    }
    out.push(name, name === 'location' || name === 'content-location' ? publicLocation(value) : value);
  }
  if (connectionListed) {
    for (let i = out.length - 2; i >= 0; i -= 2) if (connectionListed.has(out[i] as string)) out.splice(i, 2);
  }
  // The gateway already set `Vary: Origin` (src/gateway/cors.ts); an upstream's Vary replaces it unless merged.
  if (vary !== undefined) out.push('vary', withOrigin(vary));
  for (const k in extra) out.push(k, extra[k] as string);
  return out;
}

/** An upstream's Vary with Origin among its fields (RFC 9110 §12.5.5; `*` already covers it). */
function withOrigin(vary: string): string {
  for (const field of vary.split(',')) {
    const f = field.trim().toLowerCase();
    if (f === 'origin' || f === '*') return vary;
  }
  return `${vary}, Origin`;
}

function headerValue(flat: readonly string[], name: string): string {
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) return flat[i + 1] as string;
  return '';
}

/** The flat header list without the names given (lower case), or without those `drop` picks. */
function withoutHeaders(flat: readonly string[], drop: readonly string[] | ((name: string) => boolean)): string[] {
  const dropped = typeof drop === 'function' ? drop : (name: string) => drop.includes(name);
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) if (!dropped(flat[i] as string)) out.push(flat[i] as string, flat[i + 1] as string);
  return out;
}
