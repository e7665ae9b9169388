/**
 * The approval gate (seed 001, defense layer 3): operations needing approval go to the webhook, the built-in
 * queue, or are denied; with no approver configured they are denied, saying so. An approval binds principal,
 * subject, argument hash and expiry, and is used once unless granted for a window. Break-glass principals
 * skip the gate and are audited as break_glass.
 */
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import type { ApprovalConfig, ApprovalMode } from '../config/schema/approval.js';
import { GatehouseError } from '../core/errors.js';
import type { ApprovalInfo, AuditEvent, Principal, RiskLevel, StageDeps } from '../core/types.js';
import { createUpstreamTls } from '../tls/index.js';
import { realmOf } from './canonical.js';
import { ApprovalStore, effectiveStatus, isApprovalId, type ApprovalRedactor } from './queue.js';
import { principalKey } from './pending.js';
import type { ApprovalRecord } from './types.js';
import { WebhookApprover } from './webhook.js';
import { isHttpsUrl } from '../core/net.js';

export type EffectiveMode = 'webhook' | 'queue' | 'deny' | 'unavailable';

export interface ApprovalRequestInput {
  principal: Principal;
  kind: 'tool' | 'http';
  /** Tool name, or `METHOD /path?query`. */
  subject: string;
  /** The tool, for per-tool modes. */
  tool?: string;
  /** The gateway route's name: an approval granted on one route is never used on another. */
  route?: string;
  /** What binds: tool arguments, or for HTTP the body's digest and length. */
  args: unknown;
  /** HTTP: the request body, shown to the approver (refused when it cannot be shown whole). */
  body?: { bytes: Uint8Array; contentEncoding?: string | undefined };
  /** The tenant the operation acts in (a cross-tenant admin's call): its admins see the request too. */
  operationTenant?: string;
  risk: RiskLevel;
  /** From X-Gatehouse-Approval or the MCP `_meta` field `gatehouse/approval_id`. */
  approvalId?: string;
  requestId?: string;
  /** Aborted when the client goes away: stop holding. */
  signal?: AbortSignal;
}

/** What ApprovalGate.create takes beyond the config section. */
export interface ApprovalGateOptions {
  /** What redacts shown arguments (default: the built-in rules; the gateway passes its configured one). */
  redactor?: ApprovalRedactor;
  /** redact.keys. */
  sensitiveKeys?: readonly string[];
  /** The approval HMAC key (keys.ts); every process sharing the queue needs the same one. */
  key?: Uint8Array;
}

/** Refusals of a new request (queue.ts, view.ts): audited as approval.denied with their reason. */
const REQUEST_REFUSALS = new Set(['approval_args_unshowable', 'approval_args_ambiguous', 'approval_pending_limit']);

// Arguments come from the request: ones that cannot be hashed (nested past the limit, a number JSON parsed to
// Infinity) are the client's error, and refused before any approver or audit event sees them.
function requestArgsHash(queue: ApprovalStore, args: unknown): string {
  try {
    return queue.argsDigest(args);
  } catch (cause) {
    if (!(cause instanceof RangeError || cause instanceof TypeError)) throw cause;
    throw new GatehouseError('GH_BAD_REQUEST', `The arguments cannot be approved: ${cause.message}.`, { cause });
  }
}

function configError(path: string, message: string): GatehouseError {
  return new GatehouseError('GH_CONFIG_INVALID', `${path}: ${message}`);
}

async function loadSecret(cfg: ApprovalConfig['webhook']): Promise<string | undefined> {
  // The config loader fills `secret` from `secret_file`; read the file here only when used as a library.
  if (cfg.secret !== undefined) return cfg.secret;
  if (cfg.secret_file === undefined) return undefined;
  let text: string;
  try {
    text = (await readFile(cfg.secret_file, 'utf8')).replace(/\r?\n$/, '');
  } catch (cause) {
    throw new GatehouseError('GH_CONFIG_FILE_UNREADABLE', 'approval.webhook.secret_file cannot be read', { cause });
  }
  if (text.length < 32) throw configError('approval.webhook.secret_file', 'the webhook secret must be at least 32 characters');
  return text;
}

/**
 * Connections to an https approver with approval.webhook.tls (docs/tls.md § TLS for outbound clients): ca_file instead
 * of the system roots, a client certificate, pins. Throws at start on an unreadable, mismatched or expired certificate.
 */
function webhookDispatcher(tls: ApprovalConfig['webhook']['tls'], deps: StageDeps): Agent {
  const logger = deps.logger.child({ client: 'approval webhook' });
  return new Agent({ connect: createUpstreamTls(tls, { logger, path: 'approval.webhook.tls' }) });
}

export class ApprovalGate {
  readonly queue: ApprovalStore;
  readonly #cfg: ApprovalConfig;
  readonly #deps: StageDeps;
  readonly #webhook: WebhookApprover | undefined;
  /** Calls held waiting (queue mode), per principal key: at most queue.max_held_per_principal each. */
  readonly #held = new Map<string, number>();
  /** Webhook questions in flight, by approval id: identical calls (one request) share one question to the approver. */
  readonly #asking = new Map<string, { answer: Promise<ApprovalRecord>; waiters: number; abort: AbortController }>();

  private constructor(cfg: ApprovalConfig, deps: StageDeps, webhook: WebhookApprover | undefined, opts: ApprovalGateOptions) {
    this.#cfg = cfg;
    this.#deps = deps;
    this.#webhook = webhook;
    this.queue = new ApprovalStore(deps.store, deps.clock, cfg.queue.approval_ttl, {
      ...opts,
      maxShownBytes: cfg.max_shown_args,
      maxPendingPerPrincipal: cfg.max_pending_per_principal,
      denyCooldownMs: cfg.deny_cooldown,
    });
  }

  // `METHOD /path?query` can carry a credential in its query: messages and audit events get it redacted (the binding
  // hashes the real one).
  #shown(input: ApprovalRequestInput): string {
    return this.queue.redactor.redactText(input.subject);
  }

  /** Validates the section against the tool registry and loads the webhook secret. */
  static async create(cfg: ApprovalConfig, deps: StageDeps, isTool: (name: string) => boolean, opts: ApprovalGateOptions = {}): Promise<ApprovalGate> {
    for (const name of Object.keys(cfg.tools)) if (!isTool(name)) throw configError(`approval.tools.${name}`, 'unknown tool');
    const modes: ApprovalMode[] = [cfg.mode, ...Object.values(cfg.modes).filter((m): m is ApprovalMode => m !== undefined), ...Object.values(cfg.tools)];
    const secret = await loadSecret(cfg.webhook);
    if (modes.includes('webhook') && cfg.webhook.url === undefined) throw configError('approval.webhook.url', 'mode webhook needs a webhook url');
    let webhook: WebhookApprover | undefined;
    if (cfg.webhook.url !== undefined) {
      if (secret === undefined) throw configError('approval.webhook.secret', 'a webhook url needs secret or secret_file to sign requests');
      webhook = new WebhookApprover({
        url: cfg.webhook.url,
        secret,
        timeoutMs: cfg.webhook.timeout,
        replayWindowMs: cfg.webhook.replay_window,
        maxResponseBytes: cfg.webhook.max_response_size,
        maxWindowMs: cfg.queue.max_window,
        clock: deps.clock,
        logger: deps.logger,
        ...(isHttpsUrl(cfg.webhook.url) ? { dispatcher: webhookDispatcher(cfg.webhook.tls, deps) } : {}),
      });
    }
    return new ApprovalGate(cfg, deps, webhook, opts);
  }

  /** Closes the webhook's connections (its TLS agent); the queue's store belongs to the gateway. */
  async close(): Promise<void> {
    await this.#webhook?.close();
  }

  /** Whether an operation of this risk (or a tool marked requires_approval) needs approval. */
  requiredFor(risk: RiskLevel): boolean {
    return this.#cfg.require_for.includes(risk);
  }

  modeFor(tool: string | undefined, risk: RiskLevel): EffectiveMode {
    // Own keys only: approval.tools is a plain object and the tool name comes from the request, so a tool called
    // `constructor` would otherwise read Object.prototype.constructor — neither deny nor unavailable — and be queued.
    const perTool = tool !== undefined && Object.hasOwn(this.#cfg.tools, tool) ? this.#cfg.tools[tool] : undefined;
    const m = perTool ?? this.#cfg.modes[risk] ?? this.#cfg.mode;
    if (m === 'auto') return this.#webhook ? 'webhook' : 'unavailable';
    return m;
  }

  async approve(input: ApprovalRequestInput): Promise<ApprovalInfo> {
    const { principal } = input;
    const argsDigest = requestArgsHash(this.queue, input.args);
    if (principal.break_glass === true) {
      await this.#audit('approval.break_glass', 'success', input, undefined, { approved: true, break_glass: true, approver: 'break_glass' });
      return { required: true, approved: true, approver: 'break_glass', break_glass: true };
    }
    const mode = this.modeFor(input.tool, input.risk);
    if (mode === 'deny') {
      await this.#audit('approval.denied', 'denied', input, undefined, { reason: 'mode is deny' });
      throw new GatehouseError('GH_APPROVAL_DENIED', `Approval denied: the approval policy refuses ${this.#shown(input)} (mode deny)`, { data: { reason: 'mode_deny' } });
    }
    if (mode === 'unavailable') {
      const what = input.risk === 'critical' ? 'critical operations are denied' : 'operations requiring approval are denied';
      await this.#audit('approval.denied', 'denied', input, undefined, { reason: 'no approver configured' });
      throw new GatehouseError('GH_APPROVAL_UNAVAILABLE', `no approver configured: ${what} (${this.#shown(input)} requires approval)`, {
        data: { reason: 'no_approver' },
      });
    }
    const binding = this.queue.bindingOf({ principal: principal.id, tenant: principal.tenant, subject: input.subject, args: argsDigest, realm: realmOf(principal), route: input.route });
    let rec: ApprovalRecord | undefined;
    if (isApprovalId(input.approvalId)) {
      const hinted = await this.queue.get(input.approvalId);
      // An id granted for other arguments, another tool or another principal is ignored: this call needs its own.
      if (hinted && hinted.binding === binding) rec = hinted;
    }
    rec ??= await this.#request(input, mode);
    return this.#resolve(rec, binding, input, mode);
  }

  async #request(input: ApprovalRequestInput, mode: 'webhook' | 'queue'): Promise<ApprovalRecord> {
    const req = {
      principal: input.principal.id,
      principal_type: input.principal.type,
      principal_realm: realmOf(input.principal),
      kind: input.kind,
      subject: input.subject,
      args: input.args,
      risk_level: input.risk,
      mode,
      ...(input.principal.tenant !== undefined ? { tenant: input.principal.tenant } : {}),
      ...(input.operationTenant !== undefined ? { operation_tenant: input.operationTenant } : {}),
      ...(input.route !== undefined ? { route: input.route } : {}),
      ...(input.body !== undefined ? { body: input.body } : {}),
      ...(input.requestId !== undefined ? { request_id: input.requestId } : {}),
    };
    let out;
    try {
      out = await this.queue.request(req);
    } catch (e) {
      const reason = e instanceof GatehouseError ? e.data?.['reason'] : undefined;
      if (typeof reason === 'string' && REQUEST_REFUSALS.has(reason)) await this.#audit('approval.denied', 'denied', input, undefined, { reason });
      throw e;
    }
    const { record, created } = out;
    if (created) await this.#audit('approval.requested', 'success', input, record, { mode });
    return record;
  }

  async #resolve(first: ApprovalRecord, binding: string, input: ApprovalRequestInput, mode: 'webhook' | 'queue'): Promise<ApprovalInfo> {
    let rec = first;
    // Denied before this call asked (a retry), not by the approver it just waited for.
    const deniedBefore = effectiveStatus(first, this.#deps.clock.now()) === 'denied';
    for (let round = 0; round < 3; round++) {
      if (effectiveStatus(rec, this.#deps.clock.now()) === 'pending') rec = mode === 'webhook' ? await this.#askShared(rec, input) : await this.#hold(rec, input.signal);
      const status = effectiveStatus(rec, this.#deps.clock.now());
      if (status === 'approved') {
        const used = await this.queue.consume(rec.id, binding);
        if (used) {
          await this.#audit('approval.approved', 'success', input, used, { approved: true, approver: used.approver, reason: used.reason });
          const info: ApprovalInfo = { required: true, approved: true, id: used.id };
          if (used.approver !== undefined) info.approver = used.approver;
          return info;
        }
        rec = await this.#request(input, mode); // used by a concurrent call meanwhile: this one needs its own
        continue;
      }
      if (status === 'used') {
        rec = await this.#request(input, mode);
        continue;
      }
      if (status === 'denied') {
        const now = this.#deps.clock.now();
        // Asking again at once is how an agent wears an approver down: within deny_cooldown the denial stands.
        const recent = deniedBefore && this.queue.deniedRecently(rec, now);
        await this.#audit('approval.denied', 'denied', input, rec, { approver: rec.approver, reason: recent ? `denied recently${rec.reason ? `: ${rec.reason}` : ''}` : rec.reason });
        const why = rec.reason ? `: ${rec.reason}` : '';
        const until = (rec.decided_at ?? now) + this.queue.denyCooldownMs;
        const again = recent ? `. It was denied recently: an identical call is not asked again before ${new Date(until).toISOString()}` : '';
        throw new GatehouseError('GH_APPROVAL_DENIED', `Approval ${rec.id} for ${this.#shown(input)} was denied by ${rec.approver ?? 'an approver'}${why}${again}`, {
          data: recent ? { approval_id: rec.id, reason: 'denied_recently', retry_after: Math.max(1, Math.ceil((until - now) / 1000)) } : { approval_id: rec.id },
        });
      }
      if (status === 'expired') {
        await this.queue.expire(rec.id);
        await this.#audit('approval.expired', 'denied', input, rec, {});
        throw new GatehouseError('GH_APPROVAL_EXPIRED', `Approval ${rec.id} for ${this.#shown(input)} has expired; retry without it to request a new approval`, {
          data: { approval_id: rec.id },
        });
      }
      break; // still pending
    }
    throw new GatehouseError(
      'GH_APPROVAL_PENDING',
      `Approval required: ${this.#shown(input)} is waiting for approval ${rec.id}. Approve it with "gatehouse approvals approve ${rec.id}", ` +
        `then retry with header X-Gatehouse-Approval: ${rec.id} (MCP: params._meta["gatehouse/approval_id"])`,
      { data: { approval_id: rec.id, expires_at: new Date(rec.expires_at).toISOString() } },
    );
  }

  /**
   * Asks the approver about a pending request once, however many identical calls (they share the request) wait for
   * the answer: one POST to the approver, one audit record of its failure. The question is abandoned (as a single
   * call's is when its client leaves) only once every waiting client has left.
   */
  #askShared(rec: ApprovalRecord, input: ApprovalRequestInput): Promise<ApprovalRecord> {
    let q = this.#asking.get(rec.id);
    if (!q) {
      const abort = new AbortController();
      const entry = { answer: Promise.resolve(rec), waiters: 0, abort };
      entry.answer = this.#askWebhook(rec, { ...input, signal: abort.signal }).finally(() => this.#asking.delete(rec.id));
      this.#asking.set(rec.id, entry);
      q = entry;
    }
    const shared = q;
    shared.waiters++;
    const signal = input.signal;
    if (!signal) return shared.answer;
    let onAbort: (() => void) | undefined;
    const left = new Promise<ApprovalRecord>((resolve) => {
      onAbort = () => {
        if (--shared.waiters === 0) shared.abort.abort();
        // This client is gone: what it is told no longer matters; the shared question goes on for the others.
        resolve(rec);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    return Promise.race([shared.answer, left]).finally(() => signal.removeEventListener('abort', onAbort as () => void));
  }

  async #askWebhook(rec: ApprovalRecord, input: ApprovalRequestInput): Promise<ApprovalRecord> {
    const webhook = this.#webhook as WebhookApprover;
    let answer;
    try {
      answer = await webhook.ask(rec, input.signal);
    } catch (e) {
      // The connection error's code (a TLS verification failure, say) is recorded, never shown to the caller.
      const reason = e instanceof GatehouseError ? `${String(e.data?.['reason'] ?? e.message)}${e.detail !== undefined ? ` (${e.detail})` : ''}` : 'webhook failed';
      await this.#audit('approval.denied', 'denied', input, rec, { reason: `approver unavailable: ${reason}` });
      // Nobody can decide it now: it must not hold one of the principal's max_pending_per_principal places until it
      // expires (a webhook down for a while would lock the principal out of approvals for the approval's lifetime).
      await this.queue.abandon(rec.id, 'approver unavailable');
      throw e;
    }
    try {
      const opts = { approver: answer.approver, ...(answer.reason !== undefined ? { reason: answer.reason } : {}), ...(answer.windowMs ? { windowMs: answer.windowMs } : {}) };
      return await this.queue.decide(rec.id, answer.decision, opts);
    } catch (e) {
      // Decided meanwhile (e.g. from the CLI): go with what the store says.
      if (e instanceof GatehouseError && (e.code === 'GH_APPROVAL_ALREADY_DECIDED' || e.code === 'GH_APPROVAL_EXPIRED')) return (await this.queue.get(rec.id)) ?? rec;
      throw e;
    }
  }

  /**
   * Polls the store until the request is decided, the hold time passes or the client leaves. A principal already
   * holding queue.max_held_per_principal calls in this process is not held: each held call keeps a connection and
   * polls the store, and identical calls share one request, so max_pending_per_principal does not bound them.
   */
  async #hold(rec: ApprovalRecord, signal: AbortSignal | undefined): Promise<ApprovalRecord> {
    const holdMs = this.#cfg.queue.hold_timeout;
    if (holdMs <= 0) return rec;
    const key = principalKey(rec.principal, rec.principal_realm);
    const holding = this.#held.get(key) ?? 0;
    if (holding >= this.#cfg.queue.max_held_per_principal) return rec;
    this.#held.set(key, holding + 1);
    try {
      const deadline = performance.now() + holdMs;
      let current = rec;
      while (effectiveStatus(current, this.#deps.clock.now()) === 'pending') {
        const left = deadline - performance.now();
        if (left <= 0 || signal?.aborted) break;
        try {
          await sleep(Math.min(this.#cfg.queue.poll_interval, left), undefined, signal ? { signal } : undefined);
        } catch {
          break; // aborted
        }
        current = (await this.queue.get(rec.id)) ?? current;
      }
      return current;
    } finally {
      const n = (this.#held.get(key) ?? 1) - 1;
      if (n > 0) this.#held.set(key, n);
      else this.#held.delete(key);
    }
  }

  async #audit(
    type: string,
    result: AuditEvent['result_status'],
    input: ApprovalRequestInput,
    rec: ApprovalRecord | undefined,
    extra: { approved?: boolean; approver?: string | undefined; reason?: string | undefined; mode?: string; break_glass?: boolean },
  ): Promise<void> {
    const p = input.principal;
    const event: AuditEvent = {
      event_type: type,
      result_status: result,
      subject: p.id,
      principal_type: p.type,
      auth_method: p.method,
      source_ip: p.network.source_ip,
      risk_level: input.risk,
      approved: extra.approved ?? false,
      approval: { required: true },
      metadata: { kind: input.kind, subject: this.#shown(input), args_hmac: rec?.args_hmac ?? this.queue.argsDigest(input.args) },
    };
    if (p.network.tailscale) event.tailscale = p.network.tailscale;
    if (p.tenant !== undefined) event.tenant = p.tenant;
    if (input.tool !== undefined) event.tool = input.tool;
    if (input.requestId !== undefined) event.request_id = input.requestId;
    const approval = event.approval as NonNullable<AuditEvent['approval']>;
    if (rec) approval.id = rec.id;
    if (extra.approver !== undefined) approval.approver = extra.approver;
    if (extra.break_glass) approval.break_glass = true;
    const meta = event.metadata as Record<string, unknown>;
    if (extra.reason !== undefined) meta['reason'] = extra.reason;
    if (extra.mode !== undefined) meta['mode'] = extra.mode;
    if (rec?.window_until !== undefined) meta['window_until'] = new Date(rec.window_until).toISOString();
    await this.#deps.audit.emit(event);
  }
}
