/**
 * One gateway exchange → one audit event (the `record` stage of ARCHITECTURE.md).
 *
 * Seed 001's lateral-movement query selects `result_status == "error"` records whose `error` contains
 * "Insufficient", so a denial for a missing scope is written with result_status "error" and an error message
 * starting "Insufficient scope"; seed 002's `result` says "denied" for it (record.ts resultOf).
 */
import { performance } from 'node:perf_hooks';
import type { ErrorCode } from '../core/errors.js';
import type { AuditEvent, Exchange } from '../core/types.js';

const AUTH_FAILURE: ReadonlySet<string> = new Set<ErrorCode>([
  'GH_AUTH_REQUIRED', 'GH_AUTH_AMBIGUOUS', 'GH_TOKEN_MALFORMED', 'GH_TOKEN_INVALID', 'GH_TOKEN_EXPIRED',
  'GH_TOKEN_NOT_YET_VALID', 'GH_TOKEN_REVOKED', 'GH_CREDENTIALS_INVALID', 'GH_TLS_CLIENT_CERT_REQUIRED', 'GH_TLS_CLIENT_NOT_ALLOWED',
]);
const AUTHZ_DENY: ReadonlySet<string> = new Set<ErrorCode>([
  'GH_FORBIDDEN', 'GH_NETWORK_NOT_ALLOWED', 'GH_SCOPE_MISSING', 'GH_TENANT_UNKNOWN', 'GH_TENANT_MISMATCH', 'GH_TOOL_UNKNOWN', 'GH_ARGUMENT_REFUSED',
]);
const APPROVAL_EVENT: Readonly<Record<string, string>> = {
  GH_APPROVAL_PENDING: 'approval.requested',
  GH_APPROVAL_DENIED: 'approval.denied',
  GH_APPROVAL_EXPIRED: 'approval.expired',
  GH_APPROVAL_UNAVAILABLE: 'approval.denied',
};
const LIMITS: ReadonlySet<string> = new Set<ErrorCode>(['GH_RATE_LIMITED', 'GH_LOCKED_OUT']);

/** The event type of an exchange, from how it ended. */
export function eventTypeOf(ex: Pick<Exchange, 'error' | 'operation' | 'decision'>): string {
  const code = ex.error?.code;
  if (code && AUTH_FAILURE.has(code)) return 'auth.failure';
  if ((code && AUTHZ_DENY.has(code)) || ex.decision?.allow === false) return 'authz.deny';
  if (code && APPROVAL_EVENT[code]) return APPROVAL_EVENT[code] as string;
  if (code && LIMITS.has(code)) return 'limits.reject';
  if (ex.operation?.tool) return 'tool.call';
  return ex.operation?.kind === 'mcp' ? 'mcp.request' : 'http.request';
}

function errorOf(ex: Exchange): { error?: string; error_code?: string } {
  const missing = ex.decision?.allow === false && ex.decision.reason === 'scope_missing';
  if (ex.error?.code === 'GH_SCOPE_MISSING' || missing) {
    const scope = ex.decision?.missing_scope ?? ex.error?.data?.['missing_scope'];
    return { error: `Insufficient scope: ${scope ? `requires ${String(scope)}` : 'a required scope is missing'}`, error_code: ex.error?.code ?? 'GH_SCOPE_MISSING' };
  }
  if (ex.error) return { error: ex.error.message, error_code: ex.error.code };
  if (ex.decision?.allow === false) return { error: `Forbidden: ${ex.decision.reason}`, error_code: 'GH_FORBIDDEN' };
  if (ex.status !== undefined && ex.status >= 400) return { error: `Upstream answered ${ex.status}` };
  return {};
}

function metadataOf(ex: Exchange, extra: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  // Built by assignment, skipping undefined values: deleting keys from an object literal turns it into a slow
  // dictionary object, and this runs once per request.
  const meta: Record<string, unknown> = {};
  let n = 0;
  const put = (k: string, v: unknown): void => {
    if (v !== undefined) {
      meta[k] = v;
      n++;
    }
  };
  for (const k in ex.meta) put(k, ex.meta[k]);
  // In code-unit order, as the decision's members: with no other metadata (the usual request) the object is
  // already canonical and the record serialises it without a sorted copy.
  put('credential_id', ex.principal?.credential_id);
  const d = ex.decision;
  if (d) put('decision', { policy_version: d.policy_version, reason: d.reason, rule: d.rule });
  put('mcp_method', ex.operation?.mcp_method);
  if (ex.network.peer_ip !== ex.network.source_ip) put('peer_ip', ex.network.peer_ip);
  put('route', ex.route?.name);
  put('tls', ex.network.tls);
  if (extra) for (const k in extra) put(k, extra[k]);
  return n > 0 ? meta : undefined;
}

/** Maps an exchange (and any fields a caller wants to set) to the audit event the record stage emits. */
export function auditEventFromExchange(ex: Exchange, extra: Partial<AuditEvent> = {}): AuditEvent {
  const p = ex.principal;
  const op = ex.operation;
  const risk = op?.risk_level ?? ex.decision?.risk_level;
  const failed = ex.error !== undefined || ex.decision?.allow === false || (ex.status !== undefined && ex.status >= 400);
  const ua = ex.req.headers['user-agent'];
  const approval = ex.approval;
  const breakGlass = approval?.break_glass ?? (p?.break_glass === true ? true : undefined);
  const event: AuditEvent = {
    event_type: eventTypeOf(ex),
    result_status: failed ? 'error' : 'success',
    subject: p?.id,
    principal_type: p?.type,
    auth_method: p?.method,
    source_ip: ex.network.source_ip,
    tailscale: p?.network.tailscale ?? ex.network.tailscale,
    tenant: op?.tenant ?? p?.tenant,
    namespace: op?.namespace,
    resource: op?.resource,
    action: op?.action,
    tool: op?.tool,
    args: op?.args,
    scopes: ex.decision?.scopes_used,
    risk_level: risk,
    approved: approval ? approval.approved : risk === 'critical' ? false : undefined,
    approval: approval || breakGlass ? { id: approval?.id, approver: approval?.approver, required: approval?.required, break_glass: breakGlass } : undefined,
    ...errorOf(ex),
    latency_ms: Math.round((performance.now() - ex.startedAt) * 1000) / 1000,
    request_id: ex.id,
    user_agent: typeof ua === 'string' ? ua : undefined,
    method: ex.method,
    path: ex.path,
    status: ex.status ?? ex.error?.status,
    metadata: metadataOf(ex, extra.metadata),
  };
  // Without extra fields (the gateway's every request) the event is returned as built: no second copy.
  return Object.keys(extra).length === 0 ? event : { ...event, ...extra, metadata: event.metadata };
}
