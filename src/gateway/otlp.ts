/**
 * OTLP/HTTP JSON span export (OpenTelemetry protocol 1.x, protobuf JSON mapping): spans are batched, POSTed to the
 * collector as application/json, retried on 429/502/503/504 and connection errors with backoff up to tracing.timeout,
 * and dropped otherwise. The queue is bounded: when full, spans are dropped and counted, never held by a request.
 * OTLP/gRPC (port 4317) is not spoken. Failures are logged, rate-limited, without header values or the URL's path.
 * The counts are Prometheus counters too (metrics.ts, gatehouse_tracing_*).
 */
import { Pool } from 'undici';
import type { Logger } from '../core/types.js';

/** One finished span, as the tracer hands it over: the request's SERVER span or its upstream call's CLIENT span. */
export interface FinishedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  /** SERVER when absent. */
  kind?: 'server' | 'client';
  /** Milliseconds since the epoch, with sub-millisecond fraction. */
  startMs: number;
  endMs: number;
  attributes: ReadonlyArray<readonly [string, string | number]>;
  error: boolean;
}

export interface SpanSink {
  enqueue(span: FinishedSpan): void;
  /** What the sink exported, dropped and failed (the OTLP exporter's; /metrics shows them). */
  readonly stats?: ExporterStats;
}

/** Epoch milliseconds (fractional) as OTLP's fixed64 nanoseconds, a decimal string; exact where a double is not. */
export function unixNano(ms: number): string {
  const whole = Math.floor(ms);
  return (BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6))).toString();
}

const attribute = (key: string, value: string | number) =>
  typeof value === 'number' ? { key, value: { intValue: String(Math.trunc(value)) } } : { key, value: { stringValue: value } };

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const STATUS_UNSET = 0;
const STATUS_ERROR = 2;

export interface ResourceInfo {
  serviceName: string;
  /** Gatehouse's version: the scope's, and the resource's service.version unless the attributes name another. */
  serviceVersion: string;
  /** tracing.resource_attributes merged with OTEL_RESOURCE_ATTRIBUTES (config/schema/tracing.ts); never service.name. */
  attributes?: ReadonlyArray<readonly [string, string]>;
}

/** The resource's attributes: service.name and service.version first, then the configured ones. */
function resourceAttributes(resource: ResourceInfo): Array<ReturnType<typeof attribute>> {
  let version = resource.serviceVersion;
  const rest: Array<ReturnType<typeof attribute>> = [];
  for (const [k, v] of resource.attributes ?? []) {
    if (k === 'service.version') version = v;
    else if (k !== 'service.name') rest.push(attribute(k, v));
  }
  return [attribute('service.name', resource.serviceName), attribute('service.version', version), ...rest];
}

/** An ExportTraceServiceRequest in the protobuf JSON mapping (ids as hex strings, int64 as decimal strings). */
export function encodeTraces(spans: readonly FinishedSpan[], resource: ResourceInfo): string {
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: resourceAttributes(resource) },
        scopeSpans: [
          {
            scope: { name: 'gatehouse', version: resource.serviceVersion },
            spans: spans.map((s) => ({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId !== undefined ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: s.kind === 'client' ? SPAN_KIND_CLIENT : SPAN_KIND_SERVER,
              startTimeUnixNano: unixNano(s.startMs),
              endTimeUnixNano: unixNano(s.endMs),
              attributes: s.attributes.map(([k, v]) => attribute(k, v)),
              status: { code: s.error ? STATUS_ERROR : STATUS_UNSET },
            })),
          },
        ],
      },
    ],
  });
}

export interface ExporterOptions {
  /** The OTLP/HTTP traces URL (…/v1/traces). */
  endpoint: string;
  /** Collector headers (lower-case names), resolved from tracing.headers. */
  headers: ReadonlyArray<readonly [string, string]>;
  /** undici connect options for an https collector (tracing.tls). */
  connect?: Record<string, unknown>;
  maxSpans: number;
  maxQueue: number;
  intervalMs: number;
  timeoutMs: number;
  serviceName: string;
  serviceVersion: string;
  /** Resource attributes besides service.name (tracing.resource_attributes with OTEL_RESOURCE_ATTRIBUTES). */
  resourceAttributes?: ReadonlyArray<readonly [string, string]>;
  logger: Logger;
}

export interface ExporterStats {
  /** Spans the collector accepted. */
  exported: number;
  /** Spans dropped because the queue was full (or the exporter closed). */
  dropped: number;
  /** Spans whose export failed for good (a refusal, or retries past tracing.timeout). */
  failed: number;
  /** Exports (batches) given up: refused, or still failing at tracing.timeout. */
  failedExports: number;
  /** Export attempts made again after a retryable answer (429, 502, 503, 504) or a connection error. */
  retries: number;
}

/** Statuses the OTLP/HTTP spec calls retryable. */
const RETRYABLE = new Set([429, 502, 503, 504]);
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 2000;
/** At most one warning a minute, with how many were held back. */
const WARN_EVERY_MS = 60_000;
/** A collector's answer is read (to free the connection) but never kept beyond this. */
const MAX_RESPONSE = 64 * 1024;

export class OtlpExporter implements SpanSink {
  readonly stats: ExporterStats = { exported: 0, dropped: 0, failed: 0, failedExports: 0, retries: 0 };
  readonly #opts: ExporterOptions;
  readonly #resource: ResourceInfo;
  readonly #pool: Pool;
  readonly #path: string;
  readonly #host: string;
  readonly #headers: string[];
  readonly #batch: number;
  readonly #timer: NodeJS.Timeout;
  #queue: FinishedSpan[] = [];
  #running: Promise<void> | undefined;
  #kicked = false;
  #closing = false;
  #lastWarn = -Infinity;
  #heldBack = 0;

  constructor(opts: ExporterOptions) {
    const u = new URL(opts.endpoint);
    this.#opts = opts;
    this.#resource = { serviceName: opts.serviceName, serviceVersion: opts.serviceVersion, ...(opts.resourceAttributes ? { attributes: opts.resourceAttributes } : {}) };
    this.#path = `${u.pathname}${u.search}`;
    this.#host = u.host;
    this.#batch = Math.min(opts.maxSpans, opts.maxQueue);
    this.#headers = ['content-type', 'application/json', 'user-agent', `gatehouse/${opts.serviceVersion}`];
    for (const [k, v] of opts.headers) this.#headers.push(k, v);
    this.#pool = new Pool(u.origin, {
      connections: 2,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connect: { timeout: Math.min(opts.timeoutMs, 10_000), ...(opts.connect ?? {}) },
    });
    this.#timer = setInterval(() => void this.#pump(), opts.intervalMs);
    this.#timer.unref();
  }

  /** Spans waiting for export (bounded by tracing.batch.max_queue). */
  get queueLength(): number {
    return this.#queue.length;
  }

  /** Called in the request's last step: constant work, no I/O; a full batch wakes the exporter on the next turn. */
  enqueue(span: FinishedSpan): void {
    if (this.#closing || this.#queue.length >= this.#opts.maxQueue) {
      this.#count('dropped', 1);
      this.#warn({ dropped: this.stats.dropped }, 'tracing: span queue full, spans dropped (the collector is slow or unreachable)');
      return;
    }
    this.#queue.push(span);
    if (this.#queue.length >= this.#batch && !this.#kicked && this.#running === undefined) {
      this.#kicked = true;
      setImmediate(() => {
        this.#kicked = false;
        void this.#pump();
      });
    }
  }

  /** One export at a time; batches follow each other while the queue holds a full one. */
  #pump(deadline?: number): Promise<void> {
    if (this.#running !== undefined || this.#queue.length === 0) return this.#running ?? Promise.resolve();
    const batch = this.#queue.splice(0, this.#batch);
    const run = this.#send(batch, deadline ?? Date.now() + this.#opts.timeoutMs).finally(() => {
      this.#running = undefined;
      if (!this.#closing && this.#queue.length >= this.#batch) void this.#pump();
    });
    this.#running = run;
    return run;
  }

  async #send(batch: FinishedSpan[], deadline: number): Promise<void> {
    let body: string;
    try {
      body = encodeTraces(batch, this.#resource);
    } catch {
      this.#count('failed', batch.length);
      this.#count('failedExports', 1);
      return;
    }
    for (let attempt = 0; ; attempt++) {
      const left = deadline - Date.now();
      if (left <= 0) return this.#gaveUp(batch.length, { reason: 'timeout' });
      if (attempt > 0) this.#count('retries', 1);
      let status = 0;
      let code: string | undefined;
      try {
        const res = await this.#pool.request({ method: 'POST', path: this.#path, headers: this.#headers, body, headersTimeout: left, bodyTimeout: left, signal: AbortSignal.timeout(left) });
        status = res.statusCode;
        await res.body.dump({ limit: MAX_RESPONSE }).catch(() => {});
      } catch (e) {
        code = String((e as { code?: unknown }).code ?? (e as Error).name).slice(0, 64);
      }
      if (status >= 200 && status < 300) {
        this.#count('exported', batch.length);
        return;
      }
      if (status !== 0 && !RETRYABLE.has(status)) return this.#gaveUp(batch.length, { status });
      const delay = Math.min(BACKOFF_FIRST_MS * 2 ** attempt, BACKOFF_MAX_MS) * (0.5 + Math.random() / 2);
      if (Date.now() + delay >= deadline) return this.#gaveUp(batch.length, status !== 0 ? { status } : { code });
      await new Promise<void>((r) => {
        const t = setTimeout(r, delay);
        // In the background a pending retry keeps no process alive; during close it must still fire.
        if (!this.#closing) t.unref();
      });
    }
  }

  #count(field: keyof ExporterStats, n: number): void {
    this.stats[field] += n;
  }

  #gaveUp(spans: number, why: { status?: number; code?: string | undefined; reason?: string }): void {
    this.#count('failed', spans);
    this.#count('failedExports', 1);
    this.#warn({ ...why, spans, failed: this.stats.failed }, 'tracing: span export failed');
  }

  /** Names the collector by host only: the URL's path or query may carry a credential. */
  #warn(fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    if (now - this.#lastWarn < WARN_EVERY_MS) {
      this.#heldBack++;
      return;
    }
    this.#lastWarn = now;
    this.#opts.logger.warn({ collector: this.#host, ...fields, ...(this.#heldBack > 0 ? { warnings_held_back: this.#heldBack } : {}) }, msg);
    this.#heldBack = 0;
  }

  /** Exports everything queued now (tests, and close). Bounded by tracing.timeout. */
  async flush(deadline = Date.now() + this.#opts.timeoutMs): Promise<void> {
    while (Date.now() < deadline) {
      await this.#pump(deadline);
      if (this.#running === undefined && this.#queue.length === 0) return;
    }
  }

  /** Stops taking spans and delivers the queued ones, within tracing.timeout; what is left then is counted as dropped. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#timer);
    const deadline = Date.now() + this.#opts.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((r) => (timer = setTimeout(() => r('expired'), this.#opts.timeoutMs)));
    const outcome = await Promise.race([this.flush(deadline).then(() => 'flushed' as const), expired]);
    clearTimeout(timer);
    this.#count('dropped', this.#queue.length);
    this.#queue = [];
    if (outcome === 'expired') await this.#pool.destroy();
    else await this.#pool.close();
  }
}
