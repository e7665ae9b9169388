/**
 * Distributed tracing (docs/gateway.md § Tracing; seed 003 §9): W3C Trace Context Level 1 propagation, one SERVER
 * span per request and, for a sampled request the gateway forwards, a CLIENT span for the upstream call, exported
 * over OTLP/HTTP JSON (otlp.ts). Off by default; when off, nothing here runs.
 *
 * A span carries what the metrics carry and little more: method, route, status, request id, the refusal code. Never a
 * path with its query, a header, a token, a body; the principal's id only with tracing.record_principal.
 */
import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { GatehouseError, toGatehouseError } from '../core/errors.js';
import { ipMatcher } from '../core/net.js';
import { gatehouseVersion } from '../core/version.js';
import type { Clock } from '../core/clock.js';
import type { Exchange, Logger } from '../core/types.js';
import type { StateStore } from '../core/store.js';
import { DEFAULT_OTLP_TRACES_ENDPOINT, ENV_HEADER_PREFIX, type GatehouseConfig, type TracingConfig } from '../config/index.js';
import { registerSecret } from '../redact/index.js';
import { openSecrets } from '../secrets/index.js';
import { createUpstreamTls } from '../tls/index.js';
import type { TracingSample } from './metrics.js';
import { OtlpExporter, type FinishedSpan, type SpanSink } from './otlp.js';
import { UPSTREAM_SPAN, type TracedExchange, type UpstreamSpan, type UpstreamTarget } from './proxy.js';

export interface TraceContext {
  traceId: string;
  parentId: string;
  sampled: boolean;
}

const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** Lower-case hex only (W3C Trace Context §3.2.2: upper case is invalid). */
function isLowerHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/**
 * `traceparent` per W3C Trace Context Level 1, strictly: version 00, exactly 55 characters (so a 10 KB header costs
 * one length check), lower-case hex, neither id all zeros. Anything else (another version included) is undefined:
 * the gateway starts a new trace rather than guess.
 */
export function parseTraceparent(value: string | string[] | undefined): TraceContext | undefined {
  if (typeof value !== 'string' || value.length !== 55) return undefined;
  if (value.charCodeAt(0) !== 48 || value.charCodeAt(1) !== 48) return undefined;
  if (value[2] !== '-' || value[35] !== '-' || value[52] !== '-') return undefined;
  if (!isLowerHex(value, 3, 35) || !isLowerHex(value, 36, 52) || !isLowerHex(value, 53, 55)) return undefined;
  const traceId = value.slice(3, 35);
  const parentId = value.slice(36, 52);
  if (traceId === ZERO_TRACE || parentId === ZERO_SPAN) return undefined;
  return { traceId, parentId, sampled: (parseInt(value.slice(53, 55), 16) & 1) === 1 };
}

const MAX_TRACESTATE = 512;
const MAX_MEMBERS = 32;
// §3.3.1: key (simple or tenant@system) "=" value of printable ASCII without "," and "=", not ending in a space.
const MEMBER = /^[a-z0-9][a-z0-9_\-*/]{0,240}(?:@[a-z][a-z0-9_\-*/]{0,13})?=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/** `tracestate`, bounded (512 characters, 32 members) and well-formed, normalised; undefined drops it whole. */
export function parseTracestate(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value.join(',') : value;
  if (typeof text !== 'string' || text.length > MAX_TRACESTATE) return undefined;
  const members: string[] = [];
  const keys = new Set<string>();
  for (const raw of text.split(',')) {
    const m = raw.trim();
    if (m === '') continue;
    if (members.length === MAX_MEMBERS || !MEMBER.test(m)) return undefined;
    const key = m.slice(0, m.indexOf('='));
    if (keys.has(key)) return undefined;
    keys.add(key);
    members.push(m);
  }
  return members.length > 0 ? members.join(',') : undefined;
}

// Ids come from one pooled buffer of CSPRNG output: one getrandom call per ~170 requests, not one per id.
const POOL = Buffer.allocUnsafe(4096);
let poolOffset = POOL.length;
function randomHex(bytes: number, zero: string): string {
  for (;;) {
    if (poolOffset + bytes > POOL.length) {
      randomFillSync(POOL);
      poolOffset = 0;
    }
    const hex = POOL.toString('hex', poolOffset, poolOffset + bytes);
    poolOffset += bytes;
    if (hex !== zero) return hex;
  }
}
export const newTraceId = (): string => randomHex(16, ZERO_TRACE);
export const newSpanId = (): string => randomHex(8, ZERO_SPAN);

/** Ratio sampling from the trace id's low 52 bits (random in ids we make), so the decision is one per trace. */
export function sampledByRatio(traceId: string, ratio: number): boolean {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  return parseInt(traceId.slice(19), 16) / 2 ** 52 < ratio;
}

export const formatTraceparent = (traceId: string, spanId: string, sampled: boolean): string => `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;

export interface ActiveSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly sampled: boolean;
  /** The upstream call's CLIENT span, named in the traceparent the upstream receives; sampled requests only. */
  readonly clientSpanId: string | undefined;
}

const now = (): number => performance.timeOrigin + performance.now();

/**
 * The CLIENT span of one upstream call (OTel HTTP client semantic conventions): child of the request's SERVER span,
 * from the dispatch to the end of the upstream's response or its failure. Made only for sampled requests; the proxy
 * reports to it through the exchange (proxy.ts, UPSTREAM_SPAN).
 */
class UpstreamCall implements UpstreamSpan {
  #target: UpstreamTarget | undefined;
  #startMs = 0;

  constructor(
    private readonly sink: SpanSink,
    private readonly traceId: string,
    private readonly spanId: string,
    private readonly parentSpanId: string,
    private readonly method: string,
  ) {}

  sent(target: UpstreamTarget): void {
    this.#target = target;
    this.#startMs = now();
  }

  ended(status: number, code: string | undefined): void {
    const target = this.#target;
    if (target === undefined) return;
    this.#target = undefined;
    // Never url.full, a path or a query (queries carry credentials), never a header.
    const attributes: Array<[string, string | number]> = [
      ['http.request.method', this.method],
      ['server.address', target.address],
      ['server.port', target.port],
      ['url.scheme', target.scheme],
    ];
    if (status > 0) attributes.push(['http.response.status_code', status]);
    // Client spans: a 4xx is an error too (OTel HTTP spans, "Status"); error.type is the code, else the status.
    const error = code !== undefined || status >= 400;
    if (error) attributes.push(['error.type', code ?? String(status)]);
    if (code !== undefined) attributes.push(['gatehouse.error_code', code]);
    this.sink.enqueue({ traceId: this.traceId, spanId: this.spanId, parentSpanId: this.parentSpanId, name: this.method, kind: 'client', startMs: this.#startMs, endMs: now(), attributes, error });
  }
}

/** Starts and ends the request spans; the sink (the OTLP exporter) batches the sampled ones. */
export class Tracer {
  readonly #ratio: number;
  readonly #parentBased: boolean;
  readonly #trusted: (ex: Exchange) => boolean;
  readonly #recordPrincipal: boolean;
  readonly #sink: SpanSink;

  constructor(cfg: Pick<TracingConfig, 'sample_ratio' | 'trust_incoming' | 'record_principal'> & Partial<Pick<TracingConfig, 'parent_based'>>, sink: SpanSink, isTrustedProxy: (ip: string) => boolean) {
    this.#ratio = cfg.sample_ratio;
    this.#parentBased = cfg.parent_based ?? true;
    this.#recordPrincipal = cfg.record_principal;
    this.#sink = sink;
    const trust = cfg.trust_incoming;
    this.#trusted = trust === 'all' ? () => true : trust === 'none' ? () => false : (ex) => isTrustedProxy(ex.network.peer_ip);
  }

  /** The exporter's counts as /metrics carries them (zeros for a sink that keeps none). */
  metricsSample(): TracingSample {
    const s = this.#sink.stats;
    return { spans_exported: s?.exported ?? 0, spans_dropped: s?.dropped ?? 0, spans_failed: s?.failed ?? 0, exports_failed: s?.failedExports ?? 0, export_retries: s?.retries ?? 0 };
  }

  /**
   * Opens the request's span and sets the traceparent and the accepted tracestate the upstream receives; the client's
   * own never reach it (the proxy drops them as gateway-set headers). A sampled request's traceparent names its
   * upstream call's CLIENT span (so the upstream's span is that one's child); an unsampled one's names this span,
   * and nothing more is made for it.
   */
  start(ex: Exchange): ActiveSpan {
    const parent = this.#trusted(ex) ? parseTraceparent(ex.req.headers.traceparent) : undefined;
    const traceId = parent?.traceId ?? newTraceId();
    const sampled = parent && this.#parentBased ? parent.sampled : sampledByRatio(traceId, this.#ratio);
    const spanId = newSpanId();
    let clientSpanId: string | undefined;
    if (sampled) {
      clientSpanId = newSpanId();
      (ex as TracedExchange)[UPSTREAM_SPAN] = new UpstreamCall(this.#sink, traceId, clientSpanId, spanId, ex.method);
    }
    ex.upstreamHeaders['traceparent'] = formatTraceparent(traceId, clientSpanId ?? spanId, sampled);
    // §3.3: tracestate goes with the traceparent it came with, never on its own.
    const state = parent ? parseTracestate(ex.req.headers.tracestate) : undefined;
    if (state !== undefined) ex.upstreamHeaders['tracestate'] = state;
    return { traceId, spanId, parentSpanId: parent?.parentId, sampled, clientSpanId };
  }

  /** Closes the span with the answer's status; an unsampled one is dropped here. */
  end(span: ActiveSpan, ex: Exchange, status: number): void {
    if (!span.sampled) return;
    const route = ex.route;
    const attributes: Array<[string, string | number]> = [
      ['http.request.method', ex.method],
      ['url.scheme', ex.network.tls ? 'https' : 'http'],
      ['http.response.status_code', status],
      ['gatehouse.request_id', ex.id],
    ];
    if (route) attributes.push(['http.route', route.prefix], ['gatehouse.route', route.name]);
    if (ex.error) attributes.push(['gatehouse.error_code', ex.error.code]);
    const principal = ex.principal;
    if (this.#recordPrincipal && principal && principal.type !== 'anonymous') attributes.push(['enduser.id', principal.id]);
    const done: FinishedSpan = {
      traceId: span.traceId,
      spanId: span.spanId,
      parentSpanId: span.parentSpanId,
      // Never the raw path: the route's name is bounded and chosen by the operator (OTel: "{method} {route}").
      name: route ? `${ex.method} ${route.name}` : ex.method,
      kind: 'server',
      startMs: performance.timeOrigin + ex.startedAt,
      endMs: now(),
      attributes,
      error: status >= 500,
    };
    this.#sink.enqueue(done);
  }
}

export interface Tracing {
  tracer: Tracer;
  exporter: OtlpExporter;
  /** Exports what is queued, bounded by tracing.timeout. */
  close(): Promise<void>;
}

/**
 * Header values resolved from their references once, at start (those from OTEL_EXPORTER_OTLP_*HEADERS were read at
 * load and are carried as they are). Each is registered with the redactor, pinned, as the routes' injected
 * credentials are (secrets/inject.ts): a value that reaches any log line is masked there. Errors name the header,
 * never a value.
 */
async function collectorHeaders(cfg: GatehouseConfig, deps: { store: StateStore; clock: Clock }): Promise<Array<[string, string]>> {
  const refs = Object.entries(cfg.tracing.headers);
  if (refs.length === 0) return [];
  const secrets = openSecrets(cfg.secrets, { store: deps.store, stateDir: cfg.state_dir, profile: cfg.profile, clock: deps.clock });
  try {
    const out: Array<[string, string]> = [];
    for (const [name, ref] of refs) {
      let value: string;
      try {
        value = ref.startsWith(ENV_HEADER_PREFIX) ? ref.slice(ENV_HEADER_PREFIX.length) : await secrets.resolver.resolve(ref);
      } catch (e) {
        const err = toGatehouseError(e);
        throw new GatehouseError(err.code, `tracing.headers.${name}: ${err.message}`, { cause: e });
      }
      if (/[\0-\x08\x0a-\x1f\x7f]/.test(value)) throw new GatehouseError('GH_SECRET_INVALID', `tracing.headers.${name}: the value holds a control character and cannot travel in a header.`);
      registerSecret(value, { pinned: true });
      out.push([name.toLowerCase(), value]);
    }
    return out;
  } finally {
    secrets.close();
  }
}

/** The tracer and its exporter for `tracing.enabled`; undefined when tracing is off. */
export async function startTracing(cfg: GatehouseConfig, deps: { logger: Logger; store: StateStore; clock: Clock }): Promise<Tracing | undefined> {
  const t = cfg.tracing;
  if (!t.enabled) return undefined;
  const endpoint = t.endpoint ?? DEFAULT_OTLP_TRACES_ENDPOINT;
  const url = new URL(endpoint);
  if (url.port === '4317') deps.logger.warn({ setting: 'tracing.endpoint', collector: url.host }, 'tracing: port 4317 is OTLP/gRPC; the gateway exports OTLP/HTTP JSON only (usually port 4318, path /v1/traces)');
  const headers = await collectorHeaders(cfg, deps);
  const connect = url.protocol === 'https:' ? (createUpstreamTls(t.tls, { logger: deps.logger, path: 'tracing.tls' }) as unknown as Record<string, unknown>) : undefined;
  const exporter = new OtlpExporter({
    endpoint,
    headers,
    ...(connect ? { connect } : {}),
    maxSpans: t.batch.max_spans,
    maxQueue: t.batch.max_queue,
    intervalMs: t.batch.interval,
    timeoutMs: t.timeout,
    serviceName: t.service_name ?? 'gatehouse',
    serviceVersion: gatehouseVersion(),
    resourceAttributes: Object.entries(t.resource_attributes),
    logger: deps.logger,
  });
  return { tracer: new Tracer(t, exporter, ipMatcher(cfg.server.trusted_proxies)), exporter, close: () => exporter.close() };
}
