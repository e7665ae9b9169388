/**
 * The built-in approval queue: records live in the StateStore, so `gatehouse approvals approve ID` in another
 * process (a second handle on the same SQLite file) decides what a held call in the gateway is waiting for.
 * Every state change is one atomic store.update, so a single-use approval is used exactly once.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { randomId } from '../core/ids.js';
import type { StateStore } from '../core/store.js';
import { defaultRedactor } from '../redact/index.js';
import { argsDigest, bindingOf, canonicalJson, type BindingParts } from './canonical.js';
import { pendingIds, principalKey, releasePending, reservePending } from './pending.js';
import type { ApprovalRecord, ApprovalStatus, DecideOptions, NewApproval } from './types.js';
import { argsView, bodyView, redactTokens, type ApprovalRedactor, type ApprovalView, type ViewOptions } from './view.js';

export type { ApprovalRedactor } from './view.js';

export const APPROVALS_NS = 'approvals';
export const BINDINGS_NS = 'approval_bindings';
const RETENTION_MS = 7 * 86_400_000;
const ID_RE = /^apr_[A-Za-z0-9_-]{16}$/;
const MAX_REASON = 512;
export const DEFAULT_MAX_SHOWN_ARGS = 64 * 1024;
export const DEFAULT_MAX_PENDING_PER_PRINCIPAL = 20;
export const DEFAULT_DENY_COOLDOWN_MS = 5 * 60_000;

export const isApprovalId = (s: unknown): s is string => typeof s === 'string' && ID_RE.test(s);

/**
 * How many approval requests wait for a decision at `now` (the metrics gauge gatehouse_approvals_pending). Reads the
 * per-principal pending index (pending.ts), never the records and their arguments.
 */
export async function pendingApprovals(store: StateStore, now: number): Promise<number> {
  return (await pendingIds(store, now)).length;
}

/** The status as of `now`: a pending request or an unused grant past its expiry reads as expired. */
export function effectiveStatus(rec: ApprovalRecord, now: number): ApprovalStatus {
  if (rec.status === 'pending' && now >= rec.expires_at) return 'expired';
  if (rec.status === 'approved') {
    if (rec.window_until !== undefined) return now < rec.window_until ? 'approved' : 'expired';
    return now < rec.expires_at ? 'approved' : 'expired';
  }
  return rec.status;
}

/** A record as approvers see it (admin API, CLI): without the binding, which only the gateway needs. */
export function shownRecord(rec: ApprovalRecord): Omit<ApprovalRecord, 'binding'> {
  const { binding: _binding, ...shown } = rec;
  void _binding;
  return shown;
}

// Reasons come from people and approvers: one line, printable, bounded (they reach messages and terminals).
export function cleanReason(reason: string | undefined): string | undefined {
  if (reason === undefined) return undefined;
  const s = reason.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return s === '' ? undefined : s.slice(0, MAX_REASON);
}

export interface ApprovalStoreOptions {
  /** What redacts shown arguments and subjects (default: the built-in rules; the gateway passes its configured one). */
  redactor?: ApprovalRedactor;
  /** redact.keys: names whose values are secret whatever they look like. */
  sensitiveKeys?: readonly string[];
  /**
   * The HMAC key of argument digests and bindings (keys.ts). Every process creating or using approvals of one queue
   * needs the same key; the default, a random one, suits a queue only this object uses (deciding needs no key).
   */
  key?: Uint8Array;
  /** approval.max_shown_args (default 64 KiB): larger arguments are refused, never shown cut. */
  maxShownBytes?: number;
  /** approval.max_pending_per_principal (default 20). */
  maxPendingPerPrincipal?: number;
  /** approval.deny_cooldown (default 5 minutes; 0 = none): an identical call denied this recently is not asked again. */
  denyCooldownMs?: number;
}

export class ApprovalStore {
  readonly redactor: ApprovalRedactor;
  readonly maxPendingPerPrincipal: number;
  readonly denyCooldownMs: number;
  readonly #key: Uint8Array;
  readonly #view: ViewOptions;

  constructor(
    readonly store: StateStore,
    readonly clock: Clock,
    readonly ttlMs: number,
    opts: ApprovalStoreOptions = {},
  ) {
    this.redactor = opts.redactor ?? defaultRedactor();
    this.#key = opts.key ?? randomBytes(32);
    this.maxPendingPerPrincipal = opts.maxPendingPerPrincipal ?? DEFAULT_MAX_PENDING_PER_PRINCIPAL;
    this.denyCooldownMs = opts.denyCooldownMs ?? DEFAULT_DENY_COOLDOWN_MS;
    this.#view = {
      redactor: this.redactor,
      keys: new Set((opts.sensitiveKeys ?? []).map((k) => k.toLowerCase())),
      maxBytes: opts.maxShownBytes ?? DEFAULT_MAX_SHOWN_ARGS,
    };
  }

  /** The keyed digest of canonical arguments. Throws RangeError (too deep) or TypeError (not plain JSON values). */
  argsDigest(args: unknown): string {
    return argsDigest(this.#key, args);
  }

  /** What an approval for this call is bound to (keyed, like argsDigest). */
  bindingOf(parts: BindingParts): string {
    return bindingOf(this.#key, parts);
  }

  /** The subject as approvers read it: tokens redacted, paths shown. */
  shownSubject(subject: string): string {
    return redactTokens(subject, this.#view).text;
  }

  #live(rec: ApprovalRecord | undefined): boolean {
    if (!rec) return false;
    const s = effectiveStatus(rec, this.clock.now());
    return s === 'pending' || s === 'approved';
  }

  /** Denied less than deny_cooldown ago: an identical call gets that denial, not a new request. */
  deniedRecently(rec: ApprovalRecord | undefined, now: number): boolean {
    return rec?.status === 'denied' && rec.decided_at !== undefined && now < rec.decided_at + this.denyCooldownMs;
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    if (!isApprovalId(id)) return undefined;
    return this.store.get<ApprovalRecord>(APPROVALS_NS, id);
  }

  /**
   * Newest first; `status` filters on the effective status. `pending` reads only the pending requests (through the
   * pending index); any other listing reads every record kept (up to approval_ttl plus 7 days of them).
   */
  async list(opts: { status?: ApprovalStatus; limit?: number } = {}): Promise<ApprovalRecord[]> {
    const now = this.clock.now();
    let all: ApprovalRecord[];
    if (opts.status === 'pending') {
      const recs = await Promise.all((await pendingIds(this.store, now)).map((id) => this.get(id)));
      all = recs.filter((r): r is ApprovalRecord => r !== undefined);
    } else all = (await this.store.list<ApprovalRecord>(APPROVALS_NS)).map((e) => e.value);
    const out = all.filter((r) => opts.status === undefined || effectiveStatus(r, now) === opts.status);
    out.sort((a, b) => b.created_at - a.created_at);
    return opts.limit === undefined ? out : out.slice(0, opts.limit);
  }

  #viewOf(req: NewApproval): ApprovalView {
    if (req.body !== undefined) return bodyView(req.body.bytes, req.body.contentEncoding, this.#view);
    return argsView(req.args, Buffer.byteLength(canonicalJson(req.args ?? {})), this.#view);
  }

  /**
   * The live approval for this exact call, or a new pending one (`created`). Concurrent identical calls share one; a
   * call denied within deny_cooldown gets that denied record. Refused (GatehouseError): arguments that cannot be shown
   * whole (GH_FORBIDDEN, data.reason approval_args_unshowable | approval_args_ambiguous), and a principal with
   * max_pending_per_principal requests pending (GH_RATE_LIMITED, approval_pending_limit).
   */
  async request(req: NewApproval): Promise<{ record: ApprovalRecord; created: boolean }> {
    const hash = this.argsDigest(req.args);
    const binding = this.bindingOf({ principal: req.principal, tenant: req.tenant, subject: req.subject, args: hash, realm: req.principal_realm, route: req.route });
    const pkey = principalKey(req.principal, req.principal_realm);
    let view: ApprovalView | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      const currentId = await this.store.get<string>(BINDINGS_NS, binding);
      const current = currentId === undefined ? undefined : await this.get(currentId);
      const now = this.clock.now();
      if (current && (this.#live(current) || this.deniedRecently(current, now))) return { record: current, created: false };
      view ??= this.#viewOf(req);
      const subject = redactTokens(req.subject, this.#view);
      const record: ApprovalRecord = {
        id: `apr_${randomId(12)}`,
        status: 'pending',
        principal: req.principal,
        kind: req.kind,
        subject: subject.text,
        args: view.args,
        args_redacted: view.redacted + subject.redacted,
        args_hmac: hash,
        binding,
        risk_level: req.risk_level,
        mode: req.mode,
        created_at: now,
        expires_at: now + this.ttlMs,
        uses: 0,
      };
      if (req.principal_type !== undefined) record.principal_type = req.principal_type;
      if (req.principal_realm !== undefined) record.principal_realm = req.principal_realm;
      if (req.tenant !== undefined) record.tenant = req.tenant;
      if (req.operation_tenant !== undefined && req.operation_tenant !== req.tenant) record.operation_tenant = req.operation_tenant;
      if (req.route !== undefined) record.route = req.route;
      if (req.request_id !== undefined) record.request_id = req.request_id;
      const full = await reservePending(this.store, pkey, record.id, record.expires_at, now, this.maxPendingPerPrincipal);
      if (full !== undefined) {
        const secs = Math.max(1, Math.ceil((full - now) / 1000));
        throw new GatehouseError(
          'GH_RATE_LIMITED',
          `Too many approval requests: ${this.maxPendingPerPrincipal} requests of this principal are waiting for a decision (approval.max_pending_per_principal); wait for them to be decided or to expire`,
          { data: { reason: 'approval_pending_limit', retry_after: secs }, headers: { 'retry-after': String(secs) } },
        );
      }
      await this.store.put(APPROVALS_NS, record.id, record, { ttlMs: this.ttlMs + RETENTION_MS });
      const winner = await this.store.update<string>(BINDINGS_NS, binding, (cur) => (cur === currentId ? record.id : cur), {
        ttlMs: this.ttlMs + RETENTION_MS,
      });
      if (winner === record.id) return { record, created: true };
      await this.store.delete(APPROVALS_NS, record.id); // another call created it first: share theirs
      await releasePending(this.store, pkey, record.id, now);
    }
    throw new GatehouseError('GH_STORE_UNAVAILABLE', 'The approval queue is too contended.');
  }

  /** Approve or deny a pending request. */
  async decide(id: string, kind: 'approve' | 'deny', opts: DecideOptions): Promise<ApprovalRecord> {
    const existing = await this.get(id);
    if (!existing) throw new GatehouseError('GH_APPROVAL_NOT_FOUND', `No such approval: ${String(id).slice(0, 64)}`);
    const now = this.clock.now();
    let problem: GatehouseError | undefined;
    const reason = cleanReason(opts.reason);
    const next = await this.store.update<ApprovalRecord>(APPROVALS_NS, id, (rec) => {
      problem = undefined;
      if (!rec) {
        problem = new GatehouseError('GH_APPROVAL_NOT_FOUND', `No such approval: ${id}`);
        return rec;
      }
      const status = effectiveStatus(rec, now);
      if (status === 'expired') {
        problem = new GatehouseError('GH_APPROVAL_EXPIRED', `Approval ${id} has expired`, { data: { approval_id: id } });
        return rec;
      }
      if (status !== 'pending') {
        problem = new GatehouseError('GH_APPROVAL_ALREADY_DECIDED', `Approval ${id} is already ${status}`, { data: { approval_id: id, status } });
        return rec;
      }
      const out: ApprovalRecord = { ...rec, status: kind === 'approve' ? 'approved' : 'denied', decided_at: now, approver: (cleanReason(opts.approver) ?? 'unknown').slice(0, 256) };
      if (reason !== undefined) out.reason = reason;
      if (kind === 'approve') {
        out.expires_at = now + this.ttlMs;
        if (opts.windowMs !== undefined && opts.windowMs > 0) out.window_until = now + opts.windowMs;
      }
      return out;
    });
    if (problem) throw problem;
    const decided = next as ApprovalRecord;
    await releasePending(this.store, principalKey(decided.principal, decided.principal_realm), id, now);
    return decided;
  }

  /** Uses an approved grant for a call with this binding; undefined when it is not (or no longer) usable. */
  async consume(id: string, binding: string): Promise<ApprovalRecord | undefined> {
    if (!isApprovalId(id)) return undefined;
    const now = this.clock.now();
    let consumed = false;
    const rec = await this.store.update<ApprovalRecord>(APPROVALS_NS, id, (cur) => {
      consumed = false;
      if (!cur || cur.binding !== binding || effectiveStatus(cur, now) !== 'approved') return cur;
      consumed = true;
      const next: ApprovalRecord = { ...cur, uses: cur.uses + 1, used_at: now };
      if (cur.window_until === undefined) next.status = 'used';
      return next;
    });
    return consumed ? rec : undefined;
  }

  /** Marks a pending request past its expiry as expired (idempotent). */
  /**
   * Ends a pending request its approver could not be asked about (the webhook down, slow or answering badly): it
   * expires now, with the reason, and frees its place among the principal's pending requests. Not a denial: an
   * identical call retried once the approver is back asks again, with no deny_cooldown.
   */
  async abandon(id: string, reason: string): Promise<void> {
    const now = this.clock.now();
    let changed = false;
    const rec = await this.store.update<ApprovalRecord>(APPROVALS_NS, id, (cur) => {
      changed = cur !== undefined && effectiveStatus(cur, now) === 'pending';
      return changed && cur ? { ...cur, status: 'expired', expires_at: now, reason: reason.slice(0, 200) } : cur;
    });
    if (rec && changed) await releasePending(this.store, principalKey(rec.principal, rec.principal_realm), id, now);
  }

  async expire(id: string): Promise<void> {
    const now = this.clock.now();
    const rec = await this.store.update<ApprovalRecord>(APPROVALS_NS, id, (cur) =>
      cur && cur.status !== 'expired' && effectiveStatus(cur, now) === 'expired' ? { ...cur, status: 'expired' } : cur,
    );
    if (rec) await releasePending(this.store, principalKey(rec.principal, rec.principal_realm), id, now);
  }
}
