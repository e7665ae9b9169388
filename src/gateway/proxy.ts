import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import { GatehouseError } from '../core/errors.js';
import type { Exchange } from '../core/types.js';
import type { RouteConfig } from '../config/index.js';

/** RFC 9110 §7.6.1 hop-by-hop headers, never forwarded in either direction. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Request headers a client may not set for the upstream: forwarding info (unless from a trusted proxy), our own, front-proxy identity. */
function isClientControlled(name: string): boolean {
  return name.startsWith('x-forwarded-') || name === 'forwarded' || name === 'x-real-ip' || name.startsWith('x-gatehouse-') || name.startsWith('tailscale-');
}

export interface ForwardHooks {
  /** Called with the upstream status before anything is sent to the client; may await (audit durability). */
  beforeResponse(ex: Exchange, status: number): void | Promise<void>;
  /** Extra response headers (request id, HSTS). */
  responseHeaders: (ex: Exchange) => Record<string, string>;
}

export interface UpstreamOptions {
  /** undici connect options for TLS upstreams (ca, cert, key, servername, rejectUnauthorized …). */
  connect?: Record<string, unknown>;
  /** Strip the client's Authorization header: the credential was meant for the gateway. */
  stripAuthorization: boolean;
  maxBodySize: number;
  /** Bound on a response buffered for a responseFilter. */
  maxFilteredResponse?: number;
}

/** Header names listed in a Connection header (RFC 9110 §7.6.1), which are hop-by-hop too. */
function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (typeof value !== 'string' || value.length > 1024) return undefined;
  const tokens = new Set(value.toLowerCase().split(',').map((t) => t.trim()));
  tokens.delete('close');
  tokens.delete('keep-alive');
  return tokens.size > 0 ? tokens : undefined;
}

function upstreamError(err: Error & { code?: string }): GatehouseError {
  const code = err.code ?? '';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'ETIMEDOUT') return new GatehouseError('GH_UPSTREAM_TIMEOUT', undefined, { detail: code, cause: err });
  if (code === 'GH_BODY_TOO_LARGE' || (err instanceof GatehouseError && err.code === 'GH_BODY_TOO_LARGE')) return err as GatehouseError;
  return new GatehouseError('GH_UPSTREAM_UNAVAILABLE', undefined, { detail: code || err.name, cause: err });
}

/** Counts a streamed (chunked) request body and fails with 413 past the limit. */
function limitBody(source: Readable, max: number): Readable {
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > max) cb(new GatehouseError('GH_BODY_TOO_LARGE'));
      else cb(null, chunk);
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

  constructor(url: string, route: RouteConfig, opts: UpstreamOptions) {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`upstream must be http or https: ${u.protocol}`);
    this.origin = u.origin;
    this.#host = u.host;
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
  }

  #path(ex: Exchange): string {
    const raw = ex.req.url as string;
    const q = raw.indexOf('?');
    let rawPath = q === -1 ? raw : raw.slice(0, q);
    if (this.#route.strip_prefix && this.#route.prefix !== '/') {
      const prefixLen = this.#route.prefix.replace(/\/+$/, '').length;
      rawPath = rawPath.slice(prefixLen) || '/';
    }
    const path = this.#basePath + rawPath;
    return ex.query ? `${path}?${ex.query}` : path;
  }

  #headers(ex: Exchange, trustedPeer: boolean): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    const inbound = ex.req.headers;
    const connectionListed = connectionTokens(inbound.connection);
    for (const name in inbound) {
      if (HOP_BY_HOP.has(name) || name === 'host' || name === 'content-length') continue;
      if (connectionListed?.has(name)) continue;
      if (name === 'authorization' && this.#opts.stripAuthorization) continue;
      if (!trustedPeer && isClientControlled(name)) continue;
      if (trustedPeer && name === 'x-forwarded-for') continue; // rebuilt below
      const v = inbound[name];
      if (v !== undefined) out[name] = v;
    }
    const priorXff = trustedPeer ? inbound['x-forwarded-for'] : undefined;
    out['x-forwarded-for'] = typeof priorXff === 'string' && priorXff ? `${priorXff}, ${ex.network.peer_ip}` : ex.network.peer_ip;
    if (!trustedPeer || !inbound['x-forwarded-proto']) out['x-forwarded-proto'] = ex.network.tls ? 'https' : 'http';
    if (!trustedPeer || !inbound['x-forwarded-host']) {
      const host = inbound.host;
      if (host) out['x-forwarded-host'] = host;
    }
    out['x-request-id'] = ex.id;
    out['host'] = this.#host;
    for (const k in ex.upstreamHeaders) out[k] = ex.upstreamHeaders[k] as string;
    return out;
  }

  /** Forwards the exchange; resolves when the response has been fully sent (or rejects before anything was sent). */
  forward(ex: Exchange, trustedPeer: boolean, hooks: ForwardHooks): Promise<void> {
    const req = ex.req;
    const res = ex.res;
    let body: Buffer | Readable | null = null;
    if (ex.body !== undefined) body = ex.body;
    else {
      const cl = req.headers['content-length'];
      if (cl !== undefined) {
        if (Number(cl) > this.#opts.maxBodySize) return Promise.reject(new GatehouseError('GH_BODY_TOO_LARGE'));
        if (cl !== '0') body = req;
      } else if (req.headers['transfer-encoding'] !== undefined) body = limitBody(req, this.#opts.maxBodySize);
    }
    const headers = this.#headers(ex, trustedPeer);
    if (Buffer.isBuffer(body)) headers['content-length'] = String(body.length);
    else if (body === req) headers['content-length'] = req.headers['content-length'] as string;
    const filter = ex.responseFilter;
    const maxFiltered = this.#opts.maxFilteredResponse ?? 8 * 1024 * 1024;

    return new Promise<void>((resolve, reject) => {
      let started = false;
      let done = false;
      let ctrl: Dispatcher.DispatchController | undefined;
      let buffered: Buffer[] | undefined;
      let bufferedLen = 0;
      let status = 0;
      let outHeaders: OutgoingHttpHeaders = {};
      const finish = (err?: Error) => {
        if (done) return;
        done = true;
        res.off('close', onClientClose);
        if (err) reject(err);
        else resolve();
      };
      const onClientClose = () => {
        if (!res.writableFinished && ctrl && !ctrl.aborted) ctrl.abort(new Error('client closed'));
      };
      res.on('close', onClientClose);

      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(controller) {
          ctrl = controller;
        },
        onResponseStart: (controller, statusCode, upstreamHeaders) => {
          if (statusCode < 200) return; // 1xx informational: not relayed
          status = statusCode;
          outHeaders = responseHeaders(upstreamHeaders, hooks.responseHeaders(ex));
          if (filter) {
            buffered = [];
            return;
          }
          const gate = hooks.beforeResponse(ex, statusCode);
          if (gate && typeof (gate as Promise<void>).then === 'function') {
            controller.pause();
            (gate as Promise<void>).then(
              () => {
                if (done) return;
                started = true;
                res.writeHead(status, outHeaders);
                controller.resume();
              },
              (err: Error) => {
                controller.abort(err);
                finish(err);
              },
            );
          } else {
            started = true;
            res.writeHead(status, outHeaders);
          }
        },
        onResponseData: (controller, chunk) => {
          if (buffered) {
            bufferedLen += chunk.length;
            if (bufferedLen > maxFiltered) {
              controller.abort(new GatehouseError('GH_UPSTREAM_PROTOCOL', undefined, { detail: 'filtered response too large' }));
              return;
            }
            buffered.push(chunk);
            return;
          }
          if (!res.write(chunk)) {
            controller.pause();
            res.once('drain', () => controller.resume());
          }
        },
        onResponseEnd: () => {
          if (buffered && filter) {
            let out: Buffer;
            try {
              out = filter(Buffer.concat(buffered, bufferedLen), String(outHeaders['content-type'] ?? ''));
            } catch (e) {
              finish(e as Error);
              return;
            }
            outHeaders['content-length'] = String(out.length);
            delete outHeaders['transfer-encoding'];
            const gate = hooks.beforeResponse(ex, status);
            const send = () => {
              started = true;
              res.writeHead(status, outHeaders);
              res.end(out, () => finish());
            };
            if (gate && typeof (gate as Promise<void>).then === 'function') (gate as Promise<void>).then(send, (e: Error) => finish(e));
            else send();
            return;
          }
          res.end(() => finish());
        },
        onResponseError: (_controller, err) => {
          if (done) return;
          if (!started) finish(upstreamError(err as Error & { code?: string }));
          else {
            // Mid-stream failure: the status is gone; cut the connection so the client sees a truncated response.
            res.destroy();
            finish();
          }
        },
      };
      this.#pool.dispatch({ method: ex.method as Dispatcher.HttpMethod, path: this.#path(ex), headers, body }, handler);
    });
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
  destroy(): Promise<void> {
    return this.#pool.destroy();
  }
}

function responseHeaders(upstream: IncomingHttpHeaders, extra: Record<string, string>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const connectionListed = connectionTokens(upstream.connection);
  for (const name in upstream) {
    if (HOP_BY_HOP.has(name)) continue;
    if (connectionListed?.has(name)) continue;
    const v = upstream[name];
    if (v !== undefined) out[name] = v;
  }
  for (const k in extra) if (out[k] === undefined) out[k] = extra[k];
  return out;
}
