/**
 * Real-time alerts (seed 001's roadmap: "Real-time alerting on critical operations", "Alert on authorization
 * failures", break-glass): a webhook fired for critical operations, break-glass use, configured event types, and
 * `threshold` authentication/authorization failures from one source (tailscale node, else source IP) within
 * `window`. Alerts are batched every `batch_interval` and rate-limited to `max_per_minute`; what the limit holds
 * back is counted in the next POST's `suppressed`. Alerts carry no args (they may hold secrets).
 *
 *   POST <webhook_url>  {"alerts":[{kind, timestamp, event_type, subject, tool, …}], "suppressed": 0}
 *   X-Gatehouse-Signature: sha256=<hex HMAC-SHA256 of the body>   (when secret_env is set)
 */
import { createHmac } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/types.js';
import type { AuditConfig } from '../config/schema/audit.js';
import type { AuditSink } from './sinks/types.js';

export type AlertKind = 'critical_operation' | 'break_glass' | 'event' | 'repeated_auth_failures';

export interface Alert {
  kind: AlertKind;
  timestamp: unknown;
  event_type: unknown;
  subject?: unknown;
  tool?: unknown;
  risk_level?: unknown;
  result?: unknown;
  source?: string;
  source_ip?: unknown;
  tailscale?: unknown;
  request_id?: unknown;
  failures?: number;
  window_ms?: number;
}

type Rec = Readonly<Record<string, unknown>>;
const MAX_SOURCES = 10_000;

/** The record members the engine reads: all a record forwarded to another process's engine needs (never args). */
const ALERT_FIELDS = ['event_type', 'timestamp', 'subject', 'tool', 'risk_level', 'result', 'source_ip', 'tailscale', 'request_id'] as const;

/**
 * An audit sink that hands the records an AlertEngine would look at to `send` (the supervisor's engine, under
 * server.workers), so one engine counts failures and rate-limits alerts for all the workers: a source whose failures
 * land on different workers still meets one threshold. Only the members the engine reads are sent.
 */
export class AlertForwarder implements AuditSink {
  readonly name = 'alerts';
  readonly #cfg: AuditConfig['alerts'];
  readonly #events: ReadonlySet<string>;
  readonly #send: (r: Record<string, unknown>) => void;

  constructor(cfg: AuditConfig['alerts'], send: (r: Record<string, unknown>) => void) {
    this.#cfg = cfg;
    this.#events = new Set(cfg.events);
    this.#send = send;
  }

  deliver(): void {}

  health(): { ok: boolean } {
    return { ok: true };
  }

  observe(r: Rec): void {
    if (!wantedByAlerts(this.#cfg, this.#events, r)) return;
    const out: Record<string, unknown> = {};
    for (const k of ALERT_FIELDS) if (r[k] !== undefined) out[k] = r[k];
    const approval = r['approval'] as Rec | undefined;
    if (approval?.['break_glass'] === true) out['approval'] = { break_glass: true };
    this.#send(out);
  }

  async close(): Promise<void> {}
}

/** What an alert engine does with a record: which alerts it raises, whether it counts a failure. */
function alertReasons(cfg: AuditConfig['alerts'], events: ReadonlySet<string>, r: Rec): { critical: boolean; breakGlass: boolean; event: boolean; failure: boolean } | undefined {
  const type = String(r['event_type'] ?? '');
  if (type.startsWith('audit.')) return undefined;
  return {
    critical: cfg.on_critical && r['risk_level'] === 'critical',
    breakGlass: cfg.on_break_glass && (r['approval'] as Rec | undefined)?.['break_glass'] === true,
    event: events.has(type),
    failure: type === 'auth.failure' || type === 'authz.deny' || r['result'] === 'denied',
  };
}

/** Whether an engine would raise or count anything for this record. */
function wantedByAlerts(cfg: AuditConfig['alerts'], events: ReadonlySet<string>, r: Rec): boolean {
  const why = alertReasons(cfg, events, r);
  return why !== undefined && (why.critical || why.breakGlass || why.event || why.failure);
}
const MAX_PENDING = 1000;

export class AlertEngine implements AuditSink {
  readonly name = 'alerts';
  readonly #cfg: AuditConfig['alerts'];
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #secret: string | undefined;
  readonly #events: ReadonlySet<string>;
  /** Failure times per source (a Map: sources come from requests, so no object keys). Oldest source evicted first. */
  #failures: Map<string, number[]> = new Map();
  #pending: Alert[] = [];
  #suppressed = 0;
  #sentTimes: number[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  readonly posted: { alerts: Alert[]; suppressed: number }[] = [];

  constructor(cfg: AuditConfig['alerts'], opts: { clock: Clock; logger: Logger; env?: NodeJS.ProcessEnv }) {
    this.#cfg = cfg;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#secret = cfg.secret_env ? (opts.env ?? process.env)[cfg.secret_env] : undefined;
    this.#events = new Set(cfg.events);
  }

  deliver(): void {
    // Alerts look at record payloads (observe), not lines.
  }

  health(): { ok: boolean; reason?: string } {
    return { ok: true };
  }

  /** Called with each durable record (or, under server.workers, with what a worker's AlertForwarder sent). */
  observe(r: Rec): void {
    const why = alertReasons(this.#cfg, this.#events, r);
    if (!why) return;
    if (why.critical) this.#raise('critical_operation', r);
    if (why.breakGlass) this.#raise('break_glass', r);
    if (why.event) this.#raise('event', r);
    if (why.failure) this.#countFailure(r);
  }

  #countFailure(r: Rec): void {
    const ts = r['tailscale'] as Rec | undefined;
    const source = String(ts?.['tailscale_node'] ?? r['source_ip'] ?? 'unknown');
    const now = this.#clock.now();
    const { threshold, window } = this.#cfg.auth_failures;
    const times = (this.#failures.get(source) ?? []).filter((t) => now - t < window);
    times.push(now);
    this.#failures.delete(source);
    if (times.length >= threshold) {
      this.#raise('repeated_auth_failures', r, { source, failures: times.length, window_ms: window });
      return;
    }
    this.#failures.set(source, times);
    if (this.#failures.size > MAX_SOURCES) this.#failures.delete(this.#failures.keys().next().value as string);
  }

  #raise(kind: AlertKind, r: Rec, extra: Partial<Alert> = {}): void {
    if (this.#pending.length >= MAX_PENDING) {
      this.#suppressed++;
      return;
    }
    this.#pending.push({
      kind,
      timestamp: r['timestamp'],
      event_type: r['event_type'],
      subject: r['subject'],
      tool: r['tool'],
      risk_level: r['risk_level'],
      result: r['result'],
      source_ip: r['source_ip'],
      tailscale: r['tailscale'],
      request_id: r['request_id'],
      ...extra,
    });
    if (!this.#timer) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#flushing = this.#flushing.then(() => this.#flush());
      }, this.#cfg.batch_interval);
      this.#timer.unref();
    }
  }

  async #flush(): Promise<void> {
    const now = this.#clock.now();
    this.#sentTimes = this.#sentTimes.filter((t) => now - t < 60_000);
    const room = Math.max(0, this.#cfg.max_per_minute - this.#sentTimes.length);
    const alerts = this.#pending.splice(0, room);
    this.#suppressed += this.#pending.length;
    this.#pending = [];
    if (alerts.length === 0) return;
    for (let i = 0; i < alerts.length; i++) this.#sentTimes.push(now);
    const payload = { alerts, suppressed: this.#suppressed };
    this.#suppressed = 0;
    this.posted.push(payload);
    if (this.posted.length > 100) this.posted.shift();
    if (!this.#cfg.webhook_url) return;
    const body = JSON.stringify(payload);
    const headers: Record<string, string> = { ...this.#cfg.headers, 'content-type': 'application/json' };
    if (this.#secret) headers['x-gatehouse-signature'] = `sha256=${createHmac('sha256', this.#secret).update(body).digest('hex')}`;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const res = await fetch(this.#cfg.webhook_url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return;
      } catch {
        // retried below
      }
      await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
    }
    this.#logger.error({ alert: 'audit_alert_webhook_failed', alerts: alerts.length }, 'audit: the alert webhook could not be reached; alerts dropped');
  }

  async close(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#flushing = this.#flushing.then(() => this.#flush());
    }
    await this.#flushing;
  }
}
