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
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;
const headerName = z.string().regex(HEADER_NAME, 'a header name (RFC 9110 token)');
/** At most this many collector headers, from the config or the environment. */
export const MAX_COLLECTOR_HEADERS = 64;

/** Resource attributes (OpenTelemetry resource semantic conventions: dotted lower-case names such as deployment.environment). */
const ATTRIBUTE_KEY = /^[A-Za-z][A-Za-z0-9._-]{0,127}$/;
const ATTRIBUTE_KEY_RULE = 'an attribute name: a letter, then letters, digits, ".", "_" or "-" (at most 128)';
const MAX_ATTRIBUTE_VALUE = 256;
export const MAX_RESOURCE_ATTRIBUTES = 64;
/** Printable text without control characters (they would reach the collector's storage and its UI as they are). */
const hasControl = (v: string): boolean => /[\u0000-\u001f\u007f-\u009f]/.test(v);
const attributeValue = z
  .string()
  .min(1)
  .max(MAX_ATTRIBUTE_VALUE)
  .refine((v) => !hasControl(v), 'no control characters');

const SERVICE_NAME = /^[\x20-\x7e]{1,128}$/;

const shape = {
  enabled: z.boolean().default(false),
  /** OTLP/HTTP traces URL. Unset: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, $OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, the SDK default. */
  endpoint: endpoint.optional(),
  /** resource service.name. Unset: $OTEL_SERVICE_NAME, else service.name of the resource attributes, else "gatehouse". */
  service_name: z.string().regex(SERVICE_NAME, 'printable ASCII, at most 128 characters').optional(),
  /** Share of traces recorded. Both sampling keys unset: $OTEL_TRACES_SAMPLER / $OTEL_TRACES_SAMPLER_ARG decide. */
  sample_ratio: z.number().min(0).max(1).default(1),
  /** A continued trace follows its parent's sampled flag (OpenTelemetry's parentbased_* samplers); false: sample_ratio decides for every trace. */
  parent_based: z.boolean().default(true),
  /** Whose traceparent/tracestate is continued; anyone else's starts a new trace (a client must not force sampling or pick ids). */
  trust_incoming: z.enum(['trusted_proxies', 'all', 'none']).default('trusted_proxies'),
  /** Put the authenticated principal's id on spans (enduser.id): off, as the collector may be read by more people than the audit log. */
  record_principal: z.boolean().default(false),
  /**
   * Headers sent to the collector (an API key), each a reference: secret:NAME, env:NAME or file:PATH. Never logged.
   * Unset: $OTEL_EXPORTER_OTLP_TRACES_HEADERS, else $OTEL_EXPORTER_OTLP_HEADERS (applyTracingEnv).
   */
  headers: z.record(headerName, secretRef).default({}),
  /** Resource attributes besides service.name (deployment.environment, k8s.pod.name …), merged over $OTEL_RESOURCE_ATTRIBUTES. */
  resource_attributes: z.record(z.string(), attributeValue).default({}),
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
    if (Object.keys(v.headers).length > MAX_COLLECTOR_HEADERS) ctx.addIssue({ code: 'custom', path: ['headers'], message: `at most ${MAX_COLLECTOR_HEADERS} headers` });
    if (Object.keys(v.resource_attributes).length > MAX_RESOURCE_ATTRIBUTES) ctx.addIssue({ code: 'custom', path: ['resource_attributes'], message: `at most ${MAX_RESOURCE_ATTRIBUTES} attributes` });
    for (const k of Object.keys(v.resource_attributes)) {
      if (!ATTRIBUTE_KEY.test(k)) ctx.addIssue({ code: 'custom', path: ['resource_attributes', k], message: ATTRIBUTE_KEY_RULE });
    }
    const named = v.resource_attributes['service.name'];
    if (named !== undefined && !SERVICE_NAME.test(named)) ctx.addIssue({ code: 'custom', path: ['resource_attributes', 'service.name'], message: 'printable ASCII, at most 128 characters' });
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


// ── OpenTelemetry environment variables (OpenTelemetry SDK configuration, "Environment Variable Specification") ──
// Read at load, only with tracing on, so `config check` shows the effective settings and the production refusals
// judge them; the supervisor hands workers the result. A blank variable counts as unset. Problems name the variable
// (and the entry, counting from 1), never its text: a header entry may be a credential.

/**
 * tracing.headers values taken from OTEL_EXPORTER_OTLP_(TRACES_)HEADERS: the value itself behind this prefix. No
 * reference starts so (the schema refuses it in a file), so only the environment puts one there. `config check` shows
 * it as [REDACTED] like every headers map; the gateway registers it with the redactor at start.
 */
export const ENV_HEADER_PREFIX = 'otel-env-value:';

/** Longest OTEL_* list variable read; longer is a config error (bounded parsing). */
const MAX_ENV_LIST = 16_384;
const MAX_HEADER_VALUE = 4096;
/** A field value (RFC 9110 §5.5): visible ASCII, space, tab, obs-text; no CR, LF or NUL. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]+$/;

const envValue = (env: NodeJS.ProcessEnv, name: string): string | undefined => env[name]?.trim() || undefined;

interface ListEntry {
  /** 1-based position in the comma-separated list (empty members count). */
  index: number;
  key: string;
  value: string;
}

/**
 * A `key=value,key=value` list as OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES take it (the W3C Baggage
 * format without properties): white space around keys and values trimmed, values percent-decoded ('+' stays a plus),
 * empty members skipped. Entries past `max` or an oversized variable are one problem, not a long loop.
 */
function parseEnvList(variable: string, text: string, max: number, problems: string[]): ListEntry[] {
  if (text.length > MAX_ENV_LIST) {
    problems.push(`${variable}: longer than ${MAX_ENV_LIST} characters`);
    return [];
  }
  const out: ListEntry[] = [];
  let index = 0;
  for (const member of text.split(',')) {
    index++;
    const m = member.trim();
    if (m === '') continue;
    if (out.length === max) {
      problems.push(`${variable}: more than ${max} entries`);
      return [];
    }
    const eq = m.indexOf('=');
    const key = eq === -1 ? '' : m.slice(0, eq).trim();
    if (key === '') {
      problems.push(`${variable} entry ${index}: expected key=value`);
      continue;
    }
    let value: string;
    try {
      value = decodeURIComponent(m.slice(eq + 1).trim());
    } catch {
      problems.push(`${variable} entry ${index}: the value is not valid percent-encoding`);
      continue;
    }
    out.push({ index, key, value });
  }
  return out;
}

/**
 * Collector headers from OTEL_EXPORTER_OTLP_TRACES_HEADERS, else OTEL_EXPORTER_OTLP_HEADERS (the signal-specific
 * variable replaces the general one whole; they are not merged). The same rules as tracing.headers: at most 64, names
 * RFC 9110 tokens, none the exporter sets itself, none twice.
 */
function headersFromEnv(env: NodeJS.ProcessEnv, problems: string[]): Record<string, string> | undefined {
  const own = envValue(env, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS');
  const variable = own !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_HEADERS' : 'OTEL_EXPORTER_OTLP_HEADERS';
  const text = own ?? envValue(env, variable);
  if (text === undefined) return undefined;
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  const seen = new Set<string>();
  const before = problems.length;
  for (const { index, key, value } of parseEnvList(variable, text, MAX_COLLECTOR_HEADERS, problems)) {
    const at = `tracing.headers (from ${variable}, entry ${index})`;
    const lower = key.toLowerCase();
    if (!HEADER_NAME.test(key)) problems.push(`${at}: the name is not a header name (RFC 9110 token, at most 64 characters)`);
    else if (RESERVED.has(lower)) problems.push(`${at}: this header is set by the exporter itself`);
    else if (seen.has(lower)) problems.push(`${at}: a header is named twice (header names are case-insensitive)`);
    else if (value === '') problems.push(`${at}: the value is empty`);
    else if (value.length > MAX_HEADER_VALUE || !HEADER_VALUE.test(value)) problems.push(`${at}: the value is longer than ${MAX_HEADER_VALUE} characters or holds a character a header cannot carry`);
    else {
      seen.add(lower);
      out[key] = ENV_HEADER_PREFIX + value;
    }
  }
  return problems.length === before ? out : undefined;
}

/** OTEL_RESOURCE_ATTRIBUTES, checked as tracing.resource_attributes is. */
function resourceAttributesFromEnv(env: NodeJS.ProcessEnv, problems: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const text = envValue(env, 'OTEL_RESOURCE_ATTRIBUTES');
  if (text === undefined) return out;
  for (const { index, key, value } of parseEnvList('OTEL_RESOURCE_ATTRIBUTES', text, MAX_RESOURCE_ATTRIBUTES, problems)) {
    const at = `tracing.resource_attributes (from OTEL_RESOURCE_ATTRIBUTES, entry ${index})`;
    if (!ATTRIBUTE_KEY.test(key)) problems.push(`${at}: ${ATTRIBUTE_KEY_RULE}`);
    else if (value === '' || value.length > MAX_ATTRIBUTE_VALUE || hasControl(value)) problems.push(`${at}: the value must be 1 to ${MAX_ATTRIBUTE_VALUE} characters without control characters`);
    // The spec leaves duplicates open; the last one wins, as in the SDKs that build a map from the list.
    else out.set(key, value);
  }
  return out;
}

/** OTEL_TRACES_SAMPLER values the gateway maps onto sample_ratio and parent_based. */
const SAMPLERS = new Map<string, { parentBased: boolean; ratio: number | 'arg' }>([
  ['always_on', { parentBased: false, ratio: 1 }],
  ['always_off', { parentBased: false, ratio: 0 }],
  ['traceidratio', { parentBased: false, ratio: 'arg' }],
  ['parentbased_always_on', { parentBased: true, ratio: 1 }],
  ['parentbased_always_off', { parentBased: true, ratio: 0 }],
  ['parentbased_traceidratio', { parentBased: true, ratio: 'arg' }],
]);

/** A plain decimal (an exponent allowed, as the SDKs' float parsing takes it); no hex, no Infinity. */
const RATIO = /^(?:\d{1,20}(?:\.\d{0,20})?|\.\d{1,20})(?:[eE][+-]?\d{1,3})?$/;

/** OTEL_TRACES_SAMPLER (+ _ARG for the ratio samplers: 0 to 1, default 1 as the spec says); undefined when unset. */
function samplerFromEnv(env: NodeJS.ProcessEnv, problems: string[]): { parentBased: boolean; ratio: number } | undefined {
  const name = envValue(env, 'OTEL_TRACES_SAMPLER');
  if (name === undefined) return undefined;
  const sampler = SAMPLERS.get(name.toLowerCase());
  if (sampler === undefined) {
    problems.push(`tracing (from OTEL_TRACES_SAMPLER): unsupported sampler ${JSON.stringify(name.slice(0, 64))} (supported: ${[...SAMPLERS.keys()].join(', ')})`);
    return undefined;
  }
  if (sampler.ratio !== 'arg') return { parentBased: sampler.parentBased, ratio: sampler.ratio };
  const arg = envValue(env, 'OTEL_TRACES_SAMPLER_ARG');
  const ratio = arg === undefined ? 1 : RATIO.test(arg) ? Number(arg) : NaN;
  if (!(ratio >= 0 && ratio <= 1)) {
    problems.push('tracing.sample_ratio (from OTEL_TRACES_SAMPLER_ARG): a number from 0 to 1 (a decimal such as 0.25)');
    return undefined;
  }
  return { parentBased: sampler.parentBased, ratio };
}

/** OTEL_SDK_DISABLED: "true" (any case) disables; anything else, set or not, is false (the spec's boolean rule). */
export const otelSdkDisabled = (env: NodeJS.ProcessEnv): boolean => envValue(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true';

/**
 * Fills what the config leaves unset from the OpenTelemetry environment variables (the config wins: it is the more
 * specific statement, and `${VAR}` still reads any variable). `given` holds the keys the tracing section was written
 * with, so a default the schema filled in still counts as unset. Returns problems naming the variable, never its value.
 *
 * - OTEL_SDK_DISABLED=true turns tracing off even with `enabled: true` (the SDKs' kill switch; it never turns it on).
 * - endpoint: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces (the OTLP
 *   exporter spec), else http://localhost:4318/v1/traces.
 * - headers (none written): OTEL_EXPORTER_OTLP_TRACES_HEADERS, else OTEL_EXPORTER_OTLP_HEADERS.
 * - sample_ratio and parent_based (neither written): OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG.
 * - resource_attributes: OTEL_RESOURCE_ATTRIBUTES under the configured ones (a configured key wins).
 * - service_name: the config, else OTEL_SERVICE_NAME, else service.name of the resource attributes, else "gatehouse".
 */
export function applyTracingEnv(t: TracingConfig, env: NodeJS.ProcessEnv, given: ReadonlySet<string>): string[] {
  if (!t.enabled) return [];
  if (otelSdkDisabled(env)) {
    t.enabled = false;
    return [];
  }
  const problems: string[] = [];
  if (t.endpoint === undefined) {
    const own = envValue(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
    const base = envValue(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
    const [from, url] = own !== undefined ? ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', own] : base !== undefined ? ['OTEL_EXPORTER_OTLP_ENDPOINT', `${base.replace(/\/+$/, '')}/v1/traces`] : ['', DEFAULT_OTLP_TRACES_ENDPOINT];
    const problem = otlpEndpointProblem(url);
    if (problem !== undefined) problems.push(`tracing.endpoint (from ${from}): ${problem}`);
    else t.endpoint = url;
  }
  if (!given.has('headers')) {
    const headers = headersFromEnv(env, problems);
    if (headers !== undefined) t.headers = headers;
  }
  if (!given.has('sample_ratio') && !given.has('parent_based')) {
    const sampler = samplerFromEnv(env, problems);
    if (sampler !== undefined) {
      t.sample_ratio = sampler.ratio;
      t.parent_based = sampler.parentBased;
    }
  }
  const attributes = resourceAttributesFromEnv(env, problems);
  for (const [k, v] of Object.entries(t.resource_attributes)) attributes.set(k, v);
  if (attributes.size > MAX_RESOURCE_ATTRIBUTES) problems.push(`tracing.resource_attributes (with OTEL_RESOURCE_ATTRIBUTES): at most ${MAX_RESOURCE_ATTRIBUTES} attributes`);
  // service.name is service_name's to say (OTEL_SERVICE_NAME takes precedence over OTEL_RESOURCE_ATTRIBUTES, spec).
  const fromAttributes = attributes.get('service.name');
  attributes.delete('service.name');
  if (t.service_name === undefined) {
    const name = envValue(env, 'OTEL_SERVICE_NAME');
    if (name !== undefined && !SERVICE_NAME.test(name)) problems.push('tracing.service_name (from OTEL_SERVICE_NAME): printable ASCII, at most 128 characters');
    else if (name === undefined && fromAttributes !== undefined && !SERVICE_NAME.test(fromAttributes)) problems.push('tracing.service_name (from service.name in OTEL_RESOURCE_ATTRIBUTES): printable ASCII, at most 128 characters');
    else t.service_name = name ?? fromAttributes ?? 'gatehouse';
  }
  const merged = Object.create(null) as Record<string, string>;
  for (const [k, v] of attributes) merged[k] = v;
  t.resource_attributes = merged;
  return problems;
}
