/**
 * The built-in approval queue: records live in the StateStore, so `gatehouse approvals approve ID` in another
 * process (a second handle on the same SQLite file) decides what a held call in the gateway is waiting for.
 * Every state change is one atomic store.update, so a single-use approval is used exactly once.
 */
import type { Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import { randomId } from '../core/ids.js';
import type { StateStore } from '../core/store.js';
import { defaultRedactor, type Redactor } from '../redact/index.js';
import { argsHash, bindingOf } from './canonical.js';
import type { ApprovalRecord, ApprovalStatus, DecideOptions, NewApproval } from './types.js';

export const APPROVALS_NS = 'approvals';
export const BINDINGS_NS = 'approval_bindings';
const RETENTION_MS = 7 * 86_400_000;
const ID_RE = /^apr_[A-Za-z0-9_-]{16}$/;
const MAX_ARGS_STORED = 8192;
const MAX_REASON = 512;

export const isApprovalId = (s: unknown): s is string => typeof s === 'string' && ID_RE.test(s);

/** How many approval requests wait for a decision at `now` (the metrics gauge gatehouse_approvals_pending). */
export async function pendingApprovals(store: StateStore, now: number): Promise<number> {
  let n = 0;
  for (const e of await store.list<ApprovalRecord>(APPROVALS_NS)) if (effectiveStatus(e.value, now) === 'pending') n++;
  return n;
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

// Reasons come from people and approvers: one line, printable, bounded (they reach messages and terminals).
export function cleanReason(reason: string | undefined): string | undefined {
  if (reason === undefined) return undefined;
  const s = reason.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return s === '' ? undefined : s.slice(0, MAX_REASON);
}

// What approvers read (admin API, CLI, webhook) and what stays at rest: redacted as the audit log redacts a request's
// args, then bounded. The binding covers the exact arguments, so a grant still covers only the call it was asked for.
function shownArgs(args: unknown, redactor: ApprovalRedactor): unknown {
  const redacted = redactor.redactValue(args ?? {});
  const text = JSON.stringify(redacted);
  return text.length <= MAX_ARGS_STORED ? redacted : { _truncated: `${text.slice(0, MAX_ARGS_STORED)}…` };
}

/** What redacts approval arguments and subjects: the gateway passes the configured redactor (`redact:` section). */
export type ApprovalRedactor = Pick<Redactor, 'redactText' | 'redactValue'>;

export class ApprovalStore {
  constructor(
    readonly store: StateStore,
    readonly clock: Clock,
    readonly ttlMs: number,
    readonly redactor: ApprovalRedactor = defaultRedactor(),
  ) {}

  #live(rec: ApprovalRecord | undefined): boolean {
    if (!rec) return false;
    const s = effectiveStatus(rec, this.clock.now());
    return s === 'pending' || s === 'approved';
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    if (!isApprovalId(id)) return undefined;
    return this.store.get<ApprovalRecord>(APPROVALS_NS, id);
  }

  /** Newest first; `status` filters on the effective status. */
  async list(opts: { status?: ApprovalStatus; limit?: number } = {}): Promise<ApprovalRecord[]> {
    const now = this.clock.now();
    const all = (await this.store.list<ApprovalRecord>(APPROVALS_NS)).map((e) => e.value);
    const out = all.filter((r) => opts.status === undefined || effectiveStatus(r, now) === opts.status);
    out.sort((a, b) => b.created_at - a.created_at);
    return opts.limit === undefined ? out : out.slice(0, opts.limit);
  }

  /** The live approval for this exact call, or a new pending one (`created`). Concurrent identical calls share one. */
  async request(req: NewApproval): Promise<{ record: ApprovalRecord; created: boolean }> {
    const hash = argsHash(req.args);
    const binding = bindingOf(req.principal, req.tenant, req.subject, hash, req.principal_realm, req.route);
    for (let attempt = 0; attempt < 3; attempt++) {
      const currentId = await this.store.get<string>(BINDINGS_NS, binding);
      const current = currentId === undefined ? undefined : await this.get(currentId);
      if (current && this.#live(current)) return { record: current, created: false };
      const now = this.clock.now();
      const record: ApprovalRecord = {
        id: `apr_${randomId(12)}`,
        status: 'pending',
        principal: req.principal,
        kind: req.kind,
        subject: this.redactor.redactText(req.subject),
        args: shownArgs(req.args, this.redactor),
        args_sha256: hash,
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
      if (req.route !== undefined) record.route = req.route;
      if (req.request_id !== undefined) record.request_id = req.request_id;
      await this.store.put(APPROVALS_NS, record.id, record, { ttlMs: this.ttlMs + RETENTION_MS });
      const winner = await this.store.update<string>(BINDINGS_NS, binding, (cur) => (cur === currentId ? record.id : cur), {
        ttlMs: this.ttlMs + RETENTION_MS,
      });
      if (winner === record.id) return { record, created: true };
      await this.store.delete(APPROVALS_NS, record.id); // another call created it first: share theirs
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
    return next as ApprovalRecord;
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
  async expire(id: string): Promise<void> {
    const now = this.clock.now();
    await this.store.update<ApprovalRecord>(APPROVALS_NS, id, (cur) =>
      cur && cur.status !== 'expired' && effectiveStatus(cur, now) === 'expired' ? { ...cur, status: 'expired' } : cur,
    );
  }
}
