/**
 * Request metrics in the Prometheus text format (exposition format 0.0.4): the "metrics" of the record stage.
 *
 * Every label value comes from a bounded set the gateway controls: route names from the configuration (plus "admin"
 * and "-" for requests no route took), a fixed list of methods, the status code, and GatehouseError codes. Nothing a
 * client sends (path, query, header, principal) becomes a label: a scrape never carries a secret, and a client cannot
 * grow the series count. Under server.workers every worker keeps its own counts; the supervisor sums their snapshots.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** Upper bounds (seconds) of the request duration histogram: 1 ms to 10 s. */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT'] as const;
/** Status codes outside 100–599 (none Node sends) are counted as 0 rather than trusted as a label. */
const statusLabel = (status: number): number => (Number.isInteger(status) && status >= 100 && status <= 599 ? status : 0);
const methodIndex = (method: string): number => {
  const i = (METHODS as readonly string[]).indexOf(method);
  return i === -1 ? METHODS.length : i;
};
const methodName = (i: number): string => METHODS[i] ?? 'other';

interface RouteStats {
  /** methodIndex * 1000 + status → requests. */
  answered: Map<number, number>;
  /** GatehouseError code → requests refused or failed with it. */
  refused: Map<string, number>;
  /** Per bucket (not cumulative), the last slot past the largest bound. */
  buckets: Float64Array;
  sum: number;
  count: number;
}

/** The tracing counters as a snapshot carries them. */
export interface TracingSample {
  spans_exported: number;
  spans_dropped: number;
  spans_failed: number;
  exports_failed: number;
  export_retries: number;
}
const TRACING_FIELDS = ['spans_exported', 'spans_dropped', 'spans_failed', 'exports_failed', 'export_retries'] as const;

/** Gauges read when a snapshot is taken. */
export interface GaugeSources {
  inflight(): number;
  connections(): number;
  auditHealthy(): boolean;
  /** The serving certificate's notAfter (ms since the epoch), when TLS is on. */
  certificateNotAfter?(): number | undefined;
  /** The span exporter's counts (tracing.enabled); absent, the scrape has no gatehouse_tracing_* families. */
  tracing?(): TracingSample;
}

/** The configured audit sinks (audit.sinks) and whether each delivers; names come from the configuration. */
export type AuditSinkSource = () => ReadonlyArray<{ name: string; ok: boolean }>;

/** A worker's counts, as plain data (crosses the cluster IPC channel). */
export interface MetricsSnapshot {
  /** [route, method, status, requests] */
  answered: Array<[string, string, number, number]>;
  /** [route, code, requests] */
  refused: Array<[string, string, number]>;
  /** [route, per-bucket counts (DURATION_BUCKETS.length + 1), sum in seconds, count] */
  durations: Array<[string, number[], number, number]>;
  gauges: { inflight: number; connections: number; audit_healthy: number; certificate_not_after_seconds?: number };
  process: ProcessSample;
  /** Present once a span exporter ran in the process (tracing.enabled). */
  tracing?: TracingSample;
  /** [sink, 1 delivering / 0 not], when audit sinks are configured. */
  audit_sinks?: Array<[string, number]>;
}

export interface ProcessSample {
  cpu_seconds: number;
  resident_memory_bytes: number;
  heap_used_bytes: number;
  start_time_seconds: number;
  /** The event loop's delay since the previous snapshot (seconds): p99 and max. */
  eventloop_delay_p99_seconds: number;
  eventloop_delay_max_seconds: number;
}

export class GatewayMetrics {
  readonly #routes = new Map<string, RouteStats>();
  readonly #loop: IntervalHistogram;
  readonly #startedAt = Math.round(Date.now() / 1000 - process.uptime());
  #auditSinks: AuditSinkSource | undefined;

  constructor(private readonly gauges: GaugeSources) {
    this.#loop = monitorEventLoopDelay({ resolution: 20 });
    this.#loop.enable();
  }

  /** One answered request: its route ("-" when none took it), method, status, duration and refusal code if any. */
  observe(route: string, method: string, status: number, seconds: number, code: string | undefined): void {
    let r = this.#routes.get(route);
    if (r === undefined) {
      r = { answered: new Map(), refused: new Map(), buckets: new Float64Array(DURATION_BUCKETS.length + 1), sum: 0, count: 0 };
      this.#routes.set(route, r);
    }
    const key = methodIndex(method) * 1000 + statusLabel(status);
    r.answered.set(key, (r.answered.get(key) ?? 0) + 1);
    if (code !== undefined) r.refused.set(code, (r.refused.get(code) ?? 0) + 1);
    let b = 0;
    while (b < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[b] as number)) b++;
    r.buckets[b] = (r.buckets[b] ?? 0) + 1;
    r.sum += seconds;
    r.count++;
  }

  /** Reports the audit sinks' health (gatehouse_audit_sink_up): set by whoever holds the audit log (start.ts). */
  watchAuditSinks(source: AuditSinkSource): void {
    this.#auditSinks = source;
  }

  snapshot(): MetricsSnapshot {
    const snap: MetricsSnapshot = { answered: [], refused: [], durations: [], gauges: { inflight: 0, connections: 0, audit_healthy: 0 }, process: this.#process() };
    for (const [route, r] of this.#routes) {
      for (const [key, n] of r.answered) snap.answered.push([route, methodName(Math.floor(key / 1000)), key % 1000, n]);
      for (const [code, n] of r.refused) snap.refused.push([route, code, n]);
      snap.durations.push([route, Array.from(r.buckets), r.sum, r.count]);
    }
    const g = this.gauges;
    snap.gauges = { inflight: g.inflight(), connections: g.connections(), audit_healthy: g.auditHealthy() ? 1 : 0 };
    const notAfter = g.certificateNotAfter?.();
    if (notAfter !== undefined) snap.gauges.certificate_not_after_seconds = Math.floor(notAfter / 1000);
    if (g.tracing) snap.tracing = g.tracing();
    const sinks = this.#auditSinks?.();
    if (sinks !== undefined && sinks.length > 0) snap.audit_sinks = sinks.map((x) => [x.name, x.ok ? 1 : 0]);
    return snap;
  }

  close(): void {
    this.#loop.disable();
  }

  #process(): ProcessSample {
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    const sample: ProcessSample = {
      cpu_seconds: (cpu.user + cpu.system) / 1e6,
      resident_memory_bytes: mem.rss,
      heap_used_bytes: mem.heapUsed,
      start_time_seconds: this.#startedAt,
      // No sample yet (a scrape right after start) reads as 0, not NaN.
      eventloop_delay_p99_seconds: this.#loop.count > 0 ? this.#loop.percentile(99) / 1e9 : 0,
      eventloop_delay_max_seconds: this.#loop.count > 0 ? this.#loop.max / 1e9 : 0,
    };
    this.#loop.reset();
    return sample;
  }
}

/** One process's snapshot as the supervisor got it: `worker` is its index (absent for a single process). */
export interface CollectedSnapshot {
  worker?: number;
  snapshot: MetricsSnapshot | undefined;
}

/** Label values are escaped as the format requires (backslash, double quote, line feed). */
const esc = (v: string): string => v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
const labels = (pairs: Array<[string, string | number]>): string => (pairs.length === 0 ? '' : `{${pairs.map(([k, v]) => `${k}="${esc(String(v))}"`).join(',')}}`);
const num = (n: number): string => (Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN');

class Exposition {
  readonly lines: string[] = [];
  family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }
  sample(name: string, pairs: Array<[string, string | number]>, value: number): void {
    this.lines.push(`${name}${labels(pairs)} ${num(value)}`);
  }
}

/** Adds `n` under `key` in a prototype-free tally. */
function add<K>(m: Map<K, number>, key: K, n: number): void {
  m.set(key, (m.get(key) ?? 0) + n);
}

/**
 * The scrape body: the processes' counters summed (a gateway is one target however many workers serve it), gauges
 * summed or, for the certificate, the earliest; process figures per worker. A worker that did not answer is
 * `gatehouse_worker_up 0` and its counts are missing from this scrape (Prometheus reads the drop as a counter reset).
 */
export function renderMetrics(collected: readonly CollectedSnapshot[], info: { version: string; approvalsPending?: number | undefined }): string {
  const answered = new Map<string, number>();
  const refused = new Map<string, number>();
  const durations = new Map<string, { buckets: number[]; sum: number; count: number }>();
  let inflight = 0;
  let connections = 0;
  let auditHealthy = 1;
  let notAfter: number | undefined;
  let tracing: TracingSample | undefined;
  // Per sink, the lowest over the processes: each worker delivers through its own copy of every sink.
  const sinkUp = new Map<string, number>();
  for (const { snapshot: s } of collected) {
    if (!s) continue;
    for (const [sink, up] of s.audit_sinks ?? []) sinkUp.set(sink, Math.min(sinkUp.get(sink) ?? 1, up));
    if (s.tracing) {
      tracing ??= { spans_exported: 0, spans_dropped: 0, spans_failed: 0, exports_failed: 0, export_retries: 0 };
      for (const f of TRACING_FIELDS) tracing[f] += s.tracing[f];
    }
    for (const [route, method, status, n] of s.answered) add(answered, `${route}\u0000${method}\u0000${status}`, n);
    for (const [route, code, n] of s.refused) add(refused, `${route}\u0000${code}`, n);
    for (const [route, buckets, sum, count] of s.durations) {
      const d = durations.get(route) ?? { buckets: new Array<number>(DURATION_BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
      buckets.forEach((n, i) => (d.buckets[i] = (d.buckets[i] ?? 0) + n));
      d.sum += sum;
      d.count += count;
      durations.set(route, d);
    }
    inflight += s.gauges.inflight;
    connections += s.gauges.connections;
    auditHealthy = Math.min(auditHealthy, s.gauges.audit_healthy);
    const na = s.gauges.certificate_not_after_seconds;
    if (na !== undefined) notAfter = notAfter === undefined ? na : Math.min(notAfter, na);
  }
  const out = new Exposition();
  out.family('gatehouse_build_info', 'gauge', 'Gatehouse version and the Node.js running it.');
  out.sample('gatehouse_build_info', [['version', info.version], ['node', process.version]], 1);

  out.family('gatehouse_http_requests_total', 'counter', 'Requests answered, by route ("-": no route took it), method and status.');
  for (const [key, n] of [...answered].sort(byKey)) {
    const [route, method, status] = key.split('\u0000') as [string, string, string];
    out.sample('gatehouse_http_requests_total', [['route', route], ['method', method], ['status', status]], n);
  }
  out.family('gatehouse_http_requests_refused_total', 'counter', 'Requests refused or failed by the gateway, by route and Gatehouse error code.');
  for (const [key, n] of [...refused].sort(byKey)) {
    const [route, code] = key.split('\u0000') as [string, string];
    out.sample('gatehouse_http_requests_refused_total', [['route', route], ['code', code]], n);
  }
  out.family('gatehouse_http_request_duration_seconds', 'histogram', 'Time from the request line to the end of the answer, by route.');
  for (const [route, d] of [...durations].sort(byKey)) {
    let cumulative = 0;
    DURATION_BUCKETS.forEach((le, i) => {
      cumulative += d.buckets[i] ?? 0;
      out.sample('gatehouse_http_request_duration_seconds_bucket', [['route', route], ['le', le]], cumulative);
    });
    out.sample('gatehouse_http_request_duration_seconds_bucket', [['route', route], ['le', '+Inf']], d.count);
    out.sample('gatehouse_http_request_duration_seconds_sum', [['route', route]], d.sum);
    out.sample('gatehouse_http_request_duration_seconds_count', [['route', route]], d.count);
  }
  out.family('gatehouse_http_requests_in_flight', 'gauge', 'Requests being answered now.');
  out.sample('gatehouse_http_requests_in_flight', [], inflight);
  out.family('gatehouse_connections_open', 'gauge', 'Client connections open now.');
  out.sample('gatehouse_connections_open', [], connections);
  out.family('gatehouse_audit_healthy', 'gauge', '1 while every process can write its audit log (requests are refused otherwise).');
  out.sample('gatehouse_audit_healthy', [], collected.some((c) => c.snapshot) ? auditHealthy : 0);
  if (sinkUp.size > 0) {
    out.family('gatehouse_audit_sink_up', 'gauge', '1 while the audit sink delivers in every process that answered (records wait in the audit file and the sink retries otherwise).');
    for (const [sink, up] of [...sinkUp].sort(byKey)) out.sample('gatehouse_audit_sink_up', [['sink', sink]], up);
  }
  if (notAfter !== undefined) {
    out.family('gatehouse_tls_certificate_not_after_seconds', 'gauge', 'When the serving certificate expires (Unix time).');
    out.sample('gatehouse_tls_certificate_not_after_seconds', [], notAfter);
  }
  if (info.approvalsPending !== undefined) {
    out.family('gatehouse_approvals_pending', 'gauge', 'Approval requests waiting for a decision (the shared queue, counted once).');
    out.sample('gatehouse_approvals_pending', [], info.approvalsPending);
  }
  if (tracing) {
    const families: Array<[keyof TracingSample, string]> = [
      ['spans_exported', 'Spans the OTLP collector accepted.'],
      ['spans_dropped', 'Spans dropped because the export queue was full (tracing.batch.max_queue) or the gateway was closing.'],
      ['spans_failed', 'Spans whose export failed for good (refused by the collector, or still failing at tracing.timeout).'],
      ['exports_failed', 'Exports (batches of spans) given up.'],
      ['export_retries', 'Export attempts made again after 429, 502, 503, 504 or a connection error.'],
    ];
    for (const [field, help] of families) {
      out.family(`gatehouse_tracing_${field}_total`, 'counter', help);
      out.sample(`gatehouse_tracing_${field}_total`, [], tracing[field]);
    }
  }
  const perWorker = collected.some((c) => c.worker !== undefined);
  if (perWorker) {
    out.family('gatehouse_worker_up', 'gauge', '1 when the worker answered this scrape.');
    for (const c of collected) out.sample('gatehouse_worker_up', [['worker', c.worker ?? 0]], c.snapshot ? 1 : 0);
  }
  const proc: Array<[keyof ProcessSample, string, 'counter' | 'gauge', string]> = [
    ['cpu_seconds', 'process_cpu_seconds_total', 'counter', 'User and system CPU time spent, in seconds.'],
    ['resident_memory_bytes', 'process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.'],
    ['start_time_seconds', 'process_start_time_seconds', 'gauge', 'Start time of the process (Unix time).'],
    ['heap_used_bytes', 'nodejs_heap_used_bytes', 'gauge', 'V8 heap in use, in bytes.'],
    ['eventloop_delay_p99_seconds', 'nodejs_eventloop_delay_p99_seconds', 'gauge', 'Event loop delay since the previous scrape, 99th percentile.'],
    ['eventloop_delay_max_seconds', 'nodejs_eventloop_delay_max_seconds', 'gauge', 'Event loop delay since the previous scrape, maximum.'],
  ];
  for (const [field, name, type, help] of proc) {
    out.family(name, type, help);
    for (const c of collected) if (c.snapshot) out.sample(name, perWorker ? [['worker', c.worker ?? 0]] : [], c.snapshot.process[field]);
  }
  return `${out.lines.join('\n')}\n`;
}

const byKey = (a: [string, unknown], b: [string, unknown]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

const MAX_SERIES = 100_000;
const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;
const isLabel = (v: unknown): v is string => typeof v === 'string' && v.length <= 128;

/** A snapshot from another process, checked before it is summed: a malformed one counts as no answer. */
export function checkSnapshot(v: unknown): MetricsSnapshot | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const s = v as Partial<MetricsSnapshot>;
  const rows = [s.answered, s.refused, s.durations];
  if (!rows.every((r) => Array.isArray(r) && r.length <= MAX_SERIES)) return undefined;
  const ok =
    (s.answered as unknown[]).every((r) => Array.isArray(r) && isLabel(r[0]) && isLabel(r[1]) && isCount(r[2]) && isCount(r[3])) &&
    (s.refused as unknown[]).every((r) => Array.isArray(r) && isLabel(r[0]) && isLabel(r[1]) && isCount(r[2])) &&
    (s.durations as unknown[]).every(
      (r) => Array.isArray(r) && isLabel(r[0]) && Array.isArray(r[1]) && r[1].length === DURATION_BUCKETS.length + 1 && r[1].every(isCount) && isCount(r[2]) && isCount(r[3]),
    );
  const g = s.gauges as Record<string, unknown> | undefined;
  const p = s.process as unknown as Record<string, unknown> | undefined;
  if (!ok || !g || !p || !isCount(g['inflight']) || !isCount(g['connections']) || !isCount(g['audit_healthy'])) return undefined;
  if (g['certificate_not_after_seconds'] !== undefined && !isCount(g['certificate_not_after_seconds'])) return undefined;
  if (s.tracing !== undefined) {
    const t = s.tracing as unknown as Record<string, unknown> | null;
    if (t === null || typeof t !== 'object' || !TRACING_FIELDS.every((f) => isCount(t[f]))) return undefined;
  }
  if (s.audit_sinks !== undefined) {
    const rows = s.audit_sinks as unknown;
    if (!Array.isArray(rows) || rows.length > 1024 || !rows.every((r) => Array.isArray(r) && isLabel(r[0]) && (r[1] === 0 || r[1] === 1))) return undefined;
  }
  const fields: Array<keyof ProcessSample> = ['cpu_seconds', 'resident_memory_bytes', 'heap_used_bytes', 'start_time_seconds', 'eventloop_delay_p99_seconds', 'eventloop_delay_max_seconds'];
  if (!fields.every((f) => isCount(p[f]))) return undefined;
  return s as MetricsSnapshot;
}
