/**
 * Admin API for the approval queue, mounted by the gateway under its admin prefix:
 *   GET  …/approvals[?status=pending&limit=50]   list
 *   GET  …/approvals/ID                          show
 *   POST …/approvals/ID/approve  {"reason"?, "window"?: "30m"}
 *   POST …/approvals/ID/deny     {"reason"?}
 * The caller needs the approver scope; nobody approves their own request (four eyes). A caller bound to a tenant
 * sees and decides only that tenant's requests: `admin` alone does not cross tenants (docs/authorization.md).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseDuration } from '../core/durations.js';
import { errorBody, GatehouseError, toGatehouseError } from '../core/errors.js';
import { safeJsonParse } from '../core/safe.js';
import type { Principal } from '../core/types.js';
import type { ApprovalStore } from './queue.js';
import { effectiveStatus, shownRecord } from './queue.js';
import type { ApprovalRecord, ApprovalStatus } from './types.js';

export interface ApprovalsAdminTarget {
  readonly approvals: ApprovalStore;
  readonly maxWindowMs: number;
  mayApprove(principal: Principal): boolean;
  /**
   * Whether `principal` may see and decide requests of `tenant` (undefined: requests of no tenant). Without it, a
   * principal bound to a tenant reaches only that tenant's requests; one bound to none reaches all.
   */
  mayActInTenant?(principal: Principal, tenant: string | undefined): boolean;
}

export type ApprovalsAdminHandler = (req: IncomingMessage, res: ServerResponse, subpath: string, principal: Principal | undefined) => Promise<void>;

const MAX_BODY = 16 * 1024;
const STATUSES: readonly ApprovalStatus[] = ['pending', 'approved', 'denied', 'expired', 'used'];

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new GatehouseError('GH_BODY_TOO_LARGE');
    chunks.push(chunk);
  }
  if (size === 0) return {};
  try {
    const v = safeJsonParse(Buffer.concat(chunks).toString('utf8'), MAX_BODY);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new GatehouseError('GH_BAD_REQUEST', 'The body must be a JSON object.');
}

export function view(rec: ApprovalRecord, now: number): Omit<ApprovalRecord, 'binding'> & { effective_status: ApprovalStatus } {
  return { ...shownRecord(rec), effective_status: effectiveStatus(rec, now) };
}

const sameTenant = (principal: Principal, tenant: string | undefined): boolean => principal.tenant === undefined || principal.tenant === tenant;

/**
 * The requester's tenant's admins see a request, and so do those of the tenant the operation acts in (a cross-tenant
 * admin's call in tenant B is B's business too).
 */
function reaches(may: (p: Principal, t: string | undefined) => boolean, principal: Principal, rec: ApprovalRecord): boolean {
  return may(principal, rec.tenant) || (rec.operation_tenant !== undefined && may(principal, rec.operation_tenant));
}

export function createApprovalsAdminHandler(target: ApprovalsAdminTarget): ApprovalsAdminHandler {
  const store = target.approvals;
  const mayActInTenant = target.mayActInTenant?.bind(target) ?? sameTenant;
  return async (req, res, subpath, principal) => {
    try {
      if (!principal || !target.mayApprove(principal)) throw new GatehouseError('GH_SCOPE_MISSING', 'Insufficient scope: the approvals API requires admin', { data: { missing_scope: 'admin' } });
      const url = new URL(subpath, 'http://admin.invalid');
      const parts = url.pathname.split('/').filter((p) => p !== '');
      if (parts[0] === 'approvals') parts.shift();
      const now = store.clock.now();
      if (req.method === 'GET' && parts.length === 0) {
        const status = url.searchParams.get('status') ?? undefined;
        if (status !== undefined && !STATUSES.includes(status as ApprovalStatus)) throw new GatehouseError('GH_BAD_REQUEST', 'Unknown status filter.');
        const limit = Math.min(Number(url.searchParams.get('limit') ?? 100) || 100, 1000);
        const all = await store.list(status ? { status: status as ApprovalStatus } : {});
        const list = all.filter((r) => reaches(mayActInTenant, principal, r)).slice(0, limit);
        return send(res, 200, JSON.stringify({ approvals: list.map((r) => view(r, now)) }));
      }
      const id = parts[0] as string;
      // Another tenant's request reads as absent: its existence is not the caller's business either.
      const visible = async (): Promise<ApprovalRecord> => {
        const rec = await store.get(id);
        if (!rec || !reaches(mayActInTenant, principal, rec)) throw new GatehouseError('GH_APPROVAL_NOT_FOUND');
        return rec;
      };
      if (req.method === 'GET' && parts.length === 1) {
        const rec = await visible();
        return send(res, 200, JSON.stringify({ approval: view(rec, now) }));
      }
      if (req.method === 'POST' && parts.length === 2 && (parts[1] === 'approve' || parts[1] === 'deny')) {
        const body = await readJson(req);
        const rec = await visible();
        if (rec.principal === principal.id) throw new GatehouseError('GH_FORBIDDEN', 'Forbidden: an approver cannot decide their own request', { data: { reason: 'self_approval' } });
        let windowMs: number | undefined;
        if (parts[1] === 'approve' && body['window'] !== undefined) {
          try {
            windowMs = parseDuration(body['window'] as string);
          } catch {
            throw new GatehouseError('GH_BAD_REQUEST', 'window must be a duration such as 30m.');
          }
          if (windowMs > target.maxWindowMs) throw new GatehouseError('GH_BAD_REQUEST', 'window is longer than approval.queue.max_window.');
        }
        const reason = typeof body['reason'] === 'string' ? body['reason'] : undefined;
        const decided = await store.decide(id, parts[1], {
          approver: principal.id,
          ...(reason !== undefined ? { reason } : {}),
          ...(windowMs !== undefined ? { windowMs } : {}),
        });
        return send(res, 200, JSON.stringify({ approval: view(decided, store.clock.now()) }));
      }
      throw new GatehouseError('GH_NOT_FOUND');
    } catch (e) {
      const err = toGatehouseError(e);
      if (!res.headersSent) send(res, err.status, errorBody(err));
      else res.destroy();
    }
  };
}
