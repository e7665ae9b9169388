/**
 * Real-time alerts (seed 001's roadmap: "Real-time alerting on critical operations", "Alert on authorization
 * failures", break-glass; seed 000's "Intrusion detection features"): a webhook fired for critical operations,
 * break-glass use, configured event types, `threshold` authentication/authorization failures from one source
 * (tailscale node, else source IP) within `window`, and the detectors of detectors.ts: a principal seen from many
 * sources (credential_spread), denied on many targets (scope_probing), many malformed requests from one source
 * (malformed_requests). Alerts are batched every `batch_interval` and rate-limited to `max_per_minute` per kind:
 * each kind has a budget of its own, so a flood of one kind (failed logins anyone can cause) never holds back another
 * (a critical operation, a break-glass use); denied attempts at a critical operation have a budget apart from the
 * operations that ran. What a budget holds back is counted in the next POST's `suppressed` and `suppressed_by_kind`
 * and logged (at most once a minute). Alerts carry no args, headers, paths or tokens (they may hold secrets): only
 * the members #raise copies.
 *
 *   POST <webhook_url>  {"alerts":[{kind, timestamp, event_type, subject, tool, …}], "suppressed": 0}
 *   X-Gatehouse-Signature: sha256=<hex HMAC-SHA256 of the body>   (when secret_env is set)
 *
 * An https webhook is reached with audit.alerts.tls (seed 000's client block, built by src/tls createUpstreamTls as
 * for routes and the OTLP exporter): a refused handshake (untrusted certificate, pin mismatch) fails the POST as an
 * unreachable webhook does.
 */
import { createHmac } from 'node:crypto';
import { Pool } from 'undici';
import { systemClock, type Clock } from '../core/clock.js';
import type { Logger } from '../core/types.js';
import type { AuditConfig } from '../config/schema/audit.js';
import { createUpstreamTls } from '../tls/index.js';
import { CountWindow, DistinctWindow, MAX_KEYS, malformedCode, principalKeyOf, sourceOf, targetOf } from './detectors.js';
import type { AuditSink } from './sinks/types.js';
import { connectionErrorCode } from '../core/net.js';

export type AlertKind =
  | 'critical_operation' | 'break_glass' | 'event' | 'repeated_auth_failures' | 'credential_spread' | 'scope_probing' | 'malformed_requests';

export interface Alert {
  kind: AlertKind;
  timestamp: unknown;
  event_type: unknown;
  subject?: unknown;
  auth_method?: unknown;
  tool?: unknown;
  risk_level?: unknown;
  result?: unknown;
  /** The key the alert counted under: a tailscale node or source address. */
  source?: string;
  source_ip?: unknown;
  tailscale?: unknown;
  request_id?: unknown;
  /** repeated_auth_failures: failures in the window, and those that came while the alert waited for its batch. */
  failures?: number;
  /** repeated_auth_failures: failures from the source after its previous alert, while it was muted (when any). */
  unreported_failures?: number;
  /** malformed_requests: refused requests in the window, and their error codes. */
  requests?: number;
  error_codes?: string[];
  /** credential_spread, scope_probing: how many distinct sources or targets, and (at most 20 of) them. */
  distinct?: number;
  sources?: string[];
  targets?: string[];
  window_ms?: number;
}

type Rec = Readonly<Record<string, unknown>>;
type AlertsConfig = AuditConfig['alerts'];

/** The record members the engine reads: all a record forwarded to another process's engine needs (never args, error, path). */
const ALERT_FIELDS = ['event_type', 'timestamp', 'subject', 'auth_method', 'tool', 'action', 'risk_level', 'result', 'error_code', 'source_ip', 'tailscale', 'request_id'] as const;

// Why an engine looks at a record: a bit set, so that the per-record check (every record, at full request rate)
// allocates nothing.
const CRITICAL = 1;
const BREAK_GLASS = 2;
const EVENT = 4;
const FAILURE = 8;
const PROBE = 16;
const MALFORMED = 32;
const SPREAD = 64;

/** What an alert engine does with a record: which alerts it may raise, what it counts. 0: nothing. */
function alertFlags(cfg: AlertsConfig, events: ReadonlySet<string>, r: Rec): number {
  const type = r['event_type'];
  if (typeof type !== 'string' || type.startsWith('audit.')) return 0;
  let flags = 0;
  if (cfg.on_critical && r['risk_level'] === 'critical') flags |= CRITICAL;
  if (cfg.on_break_glass && (r['approval'] as Rec | undefined)?.['break_glass'] === true) flags |= BREAK_GLASS;
  if (events.size > 0 && events.has(type)) flags |= EVENT;
  if (type === 'auth.failure' || type === 'authz.deny' || r['result'] === 'denied') flags |= FAILURE;
  if (type === 'authz.deny' && cfg.scope_probing.enabled) flags |= PROBE;
  if (cfg.malformed_requests.enabled && r['error_code'] !== undefined && malformedCode(r) !== undefined) flags |= MALFORMED;
  // A failed authentication established no principal: whatever subject it names is a claim, not a sighting.
  if (cfg.credential_spread.enabled && typeof r['subject'] === 'string' && type !== 'auth.failure' && sourceOf(r) !== undefined) flags |= SPREAD;
  return flags;
}

/** The metadata members scope_probing names a target by (route, MCP method), when a record has them. */
function targetMetadata(r: Rec): Record<string, string> | undefined {
  const meta = r['metadata'] as Rec | undefined;
  if (meta === null || typeof meta !== 'object') return undefined;
  const out: Record<string, string> = {};
  let n = 0;
  for (const k of ['route', 'mcp_method'] as const) {
    const v = meta[k];
    if (typeof v === 'string') {
      out[k] = v;
      n++;
    }
  }
  return n > 0 ? out : undefined;
}

/**
 * An audit sink that hands the records an AlertEngine would look at to `send` (the supervisor's engine, under
 * server.workers), so one engine counts for all the workers: a source whose failures land on different workers still
 * meets one threshold. Only the members the engine reads are sent. A record that matters to credential_spread alone
 * (an ordinary successful request) is sent only when its (principal, source) pair was not sent within a tenth of the
 * window, as {event_type, timestamp, subject, auth_method, source_ip, tailscale_node, request_id}: one Map lookup per
 * request, and a message per new pair rather than per request.
 */
export class AlertForwarder implements AuditSink {
  readonly name = 'alerts';
  readonly #cfg: AlertsConfig;
  readonly #events: ReadonlySet<string>;
  readonly #send: (r: Record<string, unknown>) => void;
  readonly #clock: Clock;
  readonly #refresh: number;
  /** (source, principal) pairs sent for credential_spread → when; oldest evicted past MAX_KEYS. */
  readonly #sighted = new Map<string, number>();

  constructor(cfg: AlertsConfig, send: (r: Record<string, unknown>) => void, clock: Clock = systemClock) {
    this.#cfg = cfg;
    this.#events = new Set(cfg.events);
    this.#send = send;
    this.#clock = clock;
    this.#refresh = cfg.credential_spread.window / 10;
  }

  deliver(): void {}

  health(): { ok: boolean } {
    return { ok: true };
  }

  observe(r: Rec): void {
    const flags = alertFlags(this.#cfg, this.#events, r);
    if (flags === 0) return;
    if (flags === SPREAD) {
      this.#sighting(r);
      return;
    }
    const out: Record<string, unknown> = {};
    for (const k of ALERT_FIELDS) if (r[k] !== undefined) out[k] = r[k];
    const approval = r['approval'] as Rec | undefined;
    if (approval?.['break_glass'] === true) out['approval'] = { break_glass: true };
    if (flags & PROBE) {
      const meta = targetMetadata(r);
      if (meta) out['metadata'] = meta;
    }
    this.#send(out);
  }

  #sighting(r: Rec): void {
    const source = sourceOf(r) as string;
    const key = `${source.length}:${source}${principalKeyOf(r) as string}`;
    const now = this.#clock.now();
    const last = this.#sighted.get(key);
    if (last !== undefined && now - last < this.#refresh && now >= last) return;
    this.#sighted.delete(key);
    this.#sighted.set(key, now);
    if (this.#sighted.size > MAX_KEYS) this.#sighted.delete(this.#sighted.keys().next().value as string);
    const out: Record<string, unknown> = { event_type: r['event_type'], timestamp: r['timestamp'], subject: r['subject'] };
    if (r['auth_method'] !== undefined) out['auth_method'] = r['auth_method'];
    if (r['source_ip'] !== undefined) out['source_ip'] = r['source_ip'];
    const node = (r['tailscale'] as Rec | undefined)?.['tailscale_node'];
    if (typeof node === 'string') out['tailscale'] = { tailscale_node: node };
    if (r['request_id'] !== undefined) out['request_id'] = r['request_id'];
    this.#send(out);
  }

  async close(): Promise<void> {}
}

/** Alerts waiting for a batch, per budget (and never more than the budget's max_per_minute). */
const MAX_PENDING = 1000;
const MINUTE = 60_000;

/**
 * The budget an alert draws on: its kind, except that a critical operation refused (401/403/429) — which any
 * authenticated caller can cause by asking — draws on one apart from the critical operations that ran.
 */
const budgetOf = (a: Alert): string => (a.kind === 'critical_operation' && a.result === 'denied' ? 'critical_operation:denied' : a.kind);
const WEBHOOK_TIMEOUT_MS = 10_000;
const WEBHOOK_ATTEMPTS = 3;
/** A webhook's answer is read (to free the connection), never kept beyond this. */
const MAX_RESPONSE = 64 * 1024;

interface Webhook {
  pool: Pool;
  /** Path and query of webhook_url: sent, never logged (a query may carry a credential). */
  path: string;
  /** What the failure log line names. */
  host: string;
}

/** The webhook's connection pool; an https URL gets audit.alerts.tls (throws on an unreadable or mismatched certificate file). */
function openWebhook(cfg: AlertsConfig, logger: Logger, clock: Clock): Webhook | undefined {
  if (!cfg.webhook_url) return undefined;
  const url = new URL(cfg.webhook_url);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError('audit.alerts.webhook_url must be an http or https URL');
  const tls = url.protocol === 'https:' ? createUpstreamTls(cfg.tls, { logger, clock, path: 'audit.alerts.tls' }) : undefined;
  const pool = new Pool(url.origin, {
    connections: 1,
    pipelining: 1,
    connect: { timeout: WEBHOOK_TIMEOUT_MS, ...(tls as unknown as Record<string, unknown> | undefined) },
  });
  return { pool, path: `${url.pathname}${url.search}`, host: url.host };
}

export class AlertEngine implements AuditSink {
  readonly name = 'alerts';
  readonly #cfg: AlertsConfig;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #secret: string | undefined;
  readonly #events: ReadonlySet<string>;
  readonly #failures: CountWindow;
  readonly #malformed: CountWindow;
  readonly #probes: DistinctWindow;
  readonly #spread: DistinctWindow;
  readonly #webhook: Webhook | undefined;
  /** Alerts waiting for the next batch, in the order they were raised. */
  #pending: Alert[] = [];
  /** Per budget: alerts waiting, and when alerts were sent within the last minute. */
  readonly #pendingBy = new Map<string, number>();
  readonly #sentBy = new Map<string, number[]>();
  readonly #pendingCap: number;
  /** repeated_auth_failures alerts waiting for the batch, by source: later failures add to their count. */
  readonly #failureAlerts = new Map<string, Alert>();
  /** Held back since the last POST (sent with it), and since the last log line. */
  #suppressed: Partial<Record<AlertKind, number>> = {};
  #suppressedUnlogged: Partial<Record<AlertKind, number>> = {};
  #suppressedLoggedAt = -Infinity;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  readonly posted: { alerts: Alert[]; suppressed: number; suppressed_by_kind?: Partial<Record<AlertKind, number>> }[] = [];

  constructor(cfg: AlertsConfig, opts: { clock: Clock; logger: Logger; env?: NodeJS.ProcessEnv }) {
    this.#cfg = cfg;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#secret = cfg.secret_env ? (opts.env ?? process.env)[cfg.secret_env] : undefined;
    this.#events = new Set(cfg.events);
    this.#pendingCap = Math.min(cfg.max_per_minute, MAX_PENDING);
    // Every detector alerts once per key per window: a source failing a thousand times is one alert, with its count.
    this.#failures = new CountWindow({ window: cfg.auth_failures.window, threshold: cfg.auth_failures.threshold, mute: true });
    this.#malformed = new CountWindow({ window: cfg.malformed_requests.window, threshold: cfg.malformed_requests.threshold, mute: true });
    this.#probes = new DistinctWindow({ window: cfg.scope_probing.window, threshold: cfg.scope_probing.threshold });
    // As the forwarder's (one write per pair per tenth of the window): the same window whether or not under workers.
    this.#spread = new DistinctWindow({ window: cfg.credential_spread.window, threshold: cfg.credential_spread.threshold, refreshMs: cfg.credential_spread.window / 10 });
    this.#webhook = openWebhook(cfg, opts.logger, opts.clock);
  }

  deliver(): void {
    // Alerts look at record payloads (observe), not lines.
  }

  health(): { ok: boolean; reason?: string } {
    return { ok: true };
  }

  /** Called with each durable record (or, under server.workers, with what a worker's AlertForwarder sent). */
  observe(r: Rec): void {
    const flags = alertFlags(this.#cfg, this.#events, r);
    if (flags === 0) return;
    if (flags & CRITICAL) this.#raise('critical_operation', r);
    if (flags & BREAK_GLASS) this.#raise('break_glass', r);
    if (flags & EVENT) this.#raise('event', r);
    if (flags & FAILURE) this.#countFailure(r);
    if (flags & PROBE) this.#countProbe(r);
    if (flags & MALFORMED) this.#countMalformed(r);
    if (flags & SPREAD) this.#countSighting(r);
  }

  #countFailure(r: Rec): void {
    const source = sourceOf(r) ?? 'unknown';
    const waiting = this.#failureAlerts.get(source);
    if (waiting !== undefined) {
      // The source's alert has not been sent yet: it reports this failure too.
      waiting.failures = (waiting.failures ?? 0) + 1;
      return;
    }
    const hit = this.#failures.add(source, this.#clock.now());
    if (!hit) return;
    const alert = this.#raise('repeated_auth_failures', r, {
      source, failures: hit.count, ...(hit.whileMuted > 0 ? { unreported_failures: hit.whileMuted } : {}), window_ms: this.#cfg.auth_failures.window,
    });
    if (alert) this.#failureAlerts.set(source, alert);
  }

  /** scope_probing: per principal, or per source when the request named none. */
  #countProbe(r: Rec): void {
    const target = targetOf(r);
    if (target === undefined) return;
    const principal = principalKeyOf(r);
    const source = principal === undefined ? sourceOf(r) : undefined;
    if (principal === undefined && source === undefined) return;
    const hit = this.#probes.add(principal !== undefined ? `p${principal}` : `s${source as string}`, target, this.#clock.now());
    if (hit) this.#raise('scope_probing', r, { ...(source !== undefined ? { source } : {}), distinct: hit.distinct, targets: hit.values, window_ms: this.#cfg.scope_probing.window });
  }

  #countMalformed(r: Rec): void {
    const source = sourceOf(r);
    const code = malformedCode(r);
    if (source === undefined || code === undefined) return;
    const hit = this.#malformed.add(source, this.#clock.now(), code);
    if (hit) this.#raise('malformed_requests', r, { source, requests: hit.count, error_codes: hit.tags, window_ms: this.#cfg.malformed_requests.window });
  }

  #countSighting(r: Rec): void {
    const hit = this.#spread.add(principalKeyOf(r) as string, sourceOf(r) as string, this.#clock.now());
    if (hit) this.#raise('credential_spread', r, { distinct: hit.distinct, sources: hit.values, window_ms: this.#cfg.credential_spread.window });
  }

  /** The one place an alert is built: named record members only, so args, error, path, headers and metadata never reach it. */
  #raise(kind: AlertKind, r: Rec, extra: Partial<Alert> = {}): Alert | undefined {
    const alert: Alert = {
      kind,
      timestamp: r['timestamp'],
      event_type: r['event_type'],
      subject: r['subject'],
      auth_method: r['auth_method'],
      tool: r['tool'],
      risk_level: r['risk_level'],
      result: r['result'],
      source_ip: r['source_ip'],
      tailscale: r['tailscale'],
      request_id: r['request_id'],
      ...extra,
    };
    // More than a budget's max_per_minute waiting could not be sent by the next batch anyway.
    const budget = budgetOf(alert);
    const waiting = this.#pendingBy.get(budget) ?? 0;
    if (waiting >= this.#pendingCap) {
      this.#suppress(kind);
      return undefined;
    }
    this.#pendingBy.set(budget, waiting + 1);
    this.#pending.push(alert);
    if (!this.#timer) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#flushing = this.#flushing.then(() => this.#flush());
      }, this.#cfg.batch_interval);
      this.#timer.unref();
    }
    return alert;
  }

  #suppress(kind: AlertKind): void {
    this.#suppressed[kind] = (this.#suppressed[kind] ?? 0) + 1;
    this.#suppressedUnlogged[kind] = (this.#suppressedUnlogged[kind] ?? 0) + 1;
  }

  /** What the batch sends: in the order raised, as far as each alert's budget for the last minute allows. */
  #take(now: number): Alert[] {
    const room = new Map<string, number>();
    const out: Alert[] = [];
    for (const a of this.#pending) {
      const budget = budgetOf(a);
      let sent = this.#sentBy.get(budget);
      if (sent === undefined) this.#sentBy.set(budget, (sent = []));
      let left = room.get(budget);
      if (left === undefined) {
        while (sent.length > 0 && now - (sent[0] as number) >= MINUTE) sent.shift();
        left = this.#cfg.max_per_minute - sent.length;
      }
      if (left > 0) {
        out.push(a);
        sent.push(now);
        room.set(budget, left - 1);
      } else {
        room.set(budget, 0);
        this.#suppress(a.kind);
      }
    }
    this.#pending = [];
    this.#pendingBy.clear();
    this.#failureAlerts.clear();
    return out;
  }

  /** One warn line for alerts held back, at most once a minute (the next POST carries the counts too). */
  #logSuppressed(now: number, force = false): void {
    if (Object.keys(this.#suppressedUnlogged).length === 0) return;
    if (!force && now - this.#suppressedLoggedAt < MINUTE && now >= this.#suppressedLoggedAt) return;
    this.#logger.warn({ alert: 'audit_alerts_suppressed', suppressed: this.#suppressedUnlogged }, 'audit: alerts over max_per_minute (per kind) were not sent');
    this.#suppressedUnlogged = {};
    this.#suppressedLoggedAt = now;
  }

  async #flush(): Promise<void> {
    const now = this.#clock.now();
    const alerts = this.#take(now);
    this.#logSuppressed(now);
    if (alerts.length === 0) return;
    const byKind = this.#suppressed;
    const suppressed = Object.values(byKind).reduce((n, v) => n + v, 0);
    const payload: { alerts: Alert[]; suppressed: number; suppressed_by_kind?: Partial<Record<AlertKind, number>> } = {
      alerts, suppressed, ...(suppressed > 0 ? { suppressed_by_kind: byKind } : {}),
    };
    this.#suppressed = {};
    this.posted.push(payload);
    if (this.posted.length > 100) this.posted.shift();
    const hook = this.#webhook;
    if (!hook) return;
    const body = JSON.stringify(payload);
    const headers: Record<string, string> = { ...this.#cfg.headers, 'content-type': 'application/json' };
    if (this.#secret) headers['x-gatehouse-signature'] = `sha256=${createHmac('sha256', this.#secret).update(body).digest('hex')}`;
    let failure: { status?: number; code?: string } = {};
    for (let attempt = 0; attempt < WEBHOOK_ATTEMPTS; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 200 * 2 ** (attempt - 1)));
      const outcome = await this.#post(hook, headers, body);
      if (outcome === undefined) return;
      failure = outcome;
    }
    // Names the webhook by host only, and the failure by status or code: the URL's path or query, the headers and
    // the signing secret may all carry credentials.
    this.#logger.error({ alert: 'audit_alert_webhook_failed', alerts: alerts.length, webhook: hook.host, ...failure }, 'audit: the alert webhook could not be reached; alerts dropped');
  }

  /** One POST: undefined when the webhook took it (2xx), else why not. A refused TLS handshake is a connection error like any other. */
  async #post(hook: Webhook, headers: Record<string, string>, body: string): Promise<{ status?: number; code?: string } | undefined> {
    try {
      const res = await hook.pool.request({
        method: 'POST', path: hook.path, headers, body,
        headersTimeout: WEBHOOK_TIMEOUT_MS, bodyTimeout: WEBHOOK_TIMEOUT_MS, signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      });
      await res.body.dump({ limit: MAX_RESPONSE }).catch(() => undefined);
      return res.statusCode >= 200 && res.statusCode < 300 ? undefined : { status: res.statusCode };
    } catch (e) {
      return { code: connectionErrorCode(e) };
    }
  }

  async close(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#flushing = this.#flushing.then(() => this.#flush());
    }
    await this.#flushing;
    this.#logSuppressed(this.#clock.now(), true);
    await this.#webhook?.pool.close().catch(() => undefined);
  }
}
