import { z } from 'zod';
import { section, timerDuration } from './common.js';
import { secretRef } from './secrets.js';
import { upstreamTlsSection } from './server.js';

// The 'tracing' section (docs/gateway.md § Tracing): W3C Trace Context propagation and OTLP/HTTP JSON span export,
// seed 003 §9 ("Configure OpenTelemetry for observability: OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT").

/** The OpenTelemetry SDKs' default OTLP/HTTP traces endpoint, used when neither the config nor the environment names one. */
export const DEFAULT_OTLP_TRACES_ENDPOINT = 'http://localhost:4318/v1/traces';

/** Why `url` cannot be a collector endpoint, or undefined. Never quotes the value (it may carry a credential). */
export function otlpEndpointProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'expected an http:// or https:// URL, e.g. http://collector:4318/v1/traces';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'expected an http:// or https:// URL (OTLP/HTTP; gRPC is not supported)';
  // A password in the URL would be shown by `config check` and travel in logs of whoever proxies it.
  if (u.username !== '' || u.password !== '') return 'no credentials in the URL: put them in tracing.headers';
  if (u.hash !== '') return 'no #fragment';
  return undefined;
}

const endpoint = z.string().superRefine((v, ctx) => {
  const problem = otlpEndpointProblem(v);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

/** Headers the exporter sets itself, or that would change how the request is framed or routed. */
const RESERVED = new Set(['host', 'content-type', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'expect']);
const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, 'a header name (RFC 9110 token)');

const shape = {
  enabled: z.boolean().default(false),
  /** OTLP/HTTP traces URL. Unset: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, $OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, the SDK default. */
  endpoint: endpoint.optional(),
  /** resource service.name. Unset: $OTEL_SERVICE_NAME, else "gatehouse". */
  service_name: z.string().regex(/^[\x20-\x7e]{1,128}$/, 'printable ASCII, at most 128 characters').optional(),
  /** Share of new traces recorded; a continued trace follows its parent's sampled flag. */
  sample_ratio: z.number().min(0).max(1).default(1),
  /** Whose traceparent/tracestate is continued; anyone else's starts a new trace (a client must not force sampling or pick ids). */
  trust_incoming: z.enum(['trusted_proxies', 'all', 'none']).default('trusted_proxies'),
  /** Put the authenticated principal's id on spans (enduser.id): off, as the collector may be read by more people than the audit log. */
  record_principal: z.boolean().default(false),
  /** Headers sent to the collector (an API key), each a reference: secret:NAME, env:NAME or file:PATH. Never logged. */
  headers: z.record(headerName, secretRef).default({}),
  batch: section({
    max_spans: z.number().int().min(1).max(10_000).default(512),
    interval: timerDuration('5s').refine((ms) => ms >= 10, 'at least 10ms'),
    /** Spans waiting for export; more are dropped (and counted), never held by a request. */
    max_queue: z.number().int().min(1).max(1_000_000).default(2048),
  }),
  /** Bound on one export, retries included, and on the flush at shutdown. */
  timeout: timerDuration('10s').refine((ms) => ms >= 1, 'at least 1ms'),
  /** TLS towards an https collector, as routes[].tls. */
  tls: upstreamTlsSection,
};

export const tracingSection = z
  .strictObject(shape)
  .superRefine((v, ctx) => {
    // Checked here, not on the record's key: zod reports a refused record key without its message.
    const seen = new Set<string>();
    for (const h of Object.keys(v.headers)) {
      const lower = h.toLowerCase();
      if (RESERVED.has(lower)) ctx.addIssue({ code: 'custom', path: ['headers', h], message: 'this header is set by the exporter itself' });
      if (seen.has(lower)) ctx.addIssue({ code: 'custom', path: ['headers', h], message: 'a header is named twice (header names are case-insensitive)' });
      seen.add(lower);
    }
  })
  .prefault({} as z.input<z.ZodObject<typeof shape, z.core.$strict>>);

export type TracingConfig = z.infer<typeof tracingSection>;

/** Loopback collector hosts: 127.0.0.0/8, ::1, localhost. */
function isLoopbackUrlHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::1';
}

/** Whether spans (and tracing.headers) would cross the network in clear: plain http to a host other than loopback. */
export function isPlainHttpOffLoopback(url: string | undefined): boolean {
  if (url === undefined) return false;
  try {
    const u = new URL(url);
    return u.protocol === 'http:' && !isLoopbackUrlHost(u.hostname);
  } catch {
    return false;
  }
}

const envValue = (env: NodeJS.ProcessEnv, name: string): string | undefined => env[name]?.trim() || undefined;

/**
 * Fills endpoint and service_name from the OpenTelemetry environment variables when tracing is on and the config
 * leaves them unset (the config wins: it is the more specific statement, and `${VAR}` still reads any variable).
 * Endpoint: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces (the OTLP
 * exporter spec), else http://localhost:4318/v1/traces. Returns problems naming the variable, never its value.
 */
export function applyTracingEnv(t: TracingConfig, env: NodeJS.ProcessEnv): string[] {
  if (!t.enabled) return [];
  const problems: string[] = [];
  if (t.endpoint === undefined) {
    const own = envValue(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
    const base = envValue(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
    const [from, url] = own !== undefined ? ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', own] : base !== undefined ? ['OTEL_EXPORTER_OTLP_ENDPOINT', `${base.replace(/\/+$/, '')}/v1/traces`] : ['', DEFAULT_OTLP_TRACES_ENDPOINT];
    const problem = otlpEndpointProblem(url);
    if (problem !== undefined) problems.push(`tracing.endpoint (from ${from}): ${problem}`);
    else t.endpoint = url;
  }
  if (t.service_name === undefined) {
    const name = envValue(env, 'OTEL_SERVICE_NAME');
    if (name !== undefined && !/^[\x20-\x7e]{1,128}$/.test(name)) problems.push('tracing.service_name (from OTEL_SERVICE_NAME): printable ASCII, at most 128 characters');
    else t.service_name = name ?? 'gatehouse';
  }
  return problems;
}
