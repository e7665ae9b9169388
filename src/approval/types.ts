import type { PrincipalType, RiskLevel } from '../core/types.js';

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'used';
export type ApprovalDecisionKind = 'approve' | 'deny';

/**
 * One approval as stored (StateStore namespace `approvals`, key = id). It binds the principal, the subject
 * (tool or HTTP operation), the keyed digest of the canonical arguments and an expiry (issue 4).
 */
export interface ApprovalRecord {
  id: string;
  status: ApprovalStatus;
  principal: string;
  principal_type?: PrincipalType;
  /** The credential namespace of `principal` (realmOf: method, and issuer for JWT); part of the binding. */
  principal_realm?: string;
  tenant?: string;
  /**
   * The tenant the operation acts in, when it is not the principal's (a cross-tenant admin): that tenant's admins
   * see and decide the request too.
   */
  operation_tenant?: string;
  /** `tool` for MCP tools/call, `http` for HTTP routes. */
  kind: 'tool' | 'http';
  /** The tool name, or `METHOD /path?query` (redacted: a query can carry a credential). */
  subject: string;
  /**
   * The whole arguments as requested, for the approver to read, secrets redacted per value (view.ts); for HTTP,
   * `{ body_bytes, body_format: 'json' | 'text', body }`. Never sent to audit.
   */
  args: unknown;
  /** How many values in `args` (and the subject) were redacted. */
  args_redacted: number;
  /** HMAC-SHA256 of the exact canonical arguments under the approval key: equal digests, equal arguments. */
  args_hmac: string;
  /** The gateway route the call came through (MCP tools of two routes can share a name: staging and prod). */
  route?: string;
  /** HMAC over principal, tenant, subject, args_hmac, principal_realm and route: what an approval is valid for (never shown). */
  binding: string;
  risk_level: RiskLevel;
  mode: 'queue' | 'webhook';
  created_at: number;
  /** Until when a pending request can be approved, and an approved single-use grant used. */
  expires_at: number;
  decided_at?: number;
  approver?: string;
  reason?: string;
  /** Granted for a window: usable repeatedly until then. */
  window_until?: number;
  uses: number;
  used_at?: number;
  request_id?: string;
}

export interface NewApproval {
  principal: string;
  principal_type?: PrincipalType;
  principal_realm?: string;
  tenant?: string;
  operation_tenant?: string;
  route?: string;
  kind: 'tool' | 'http';
  subject: string;
  /** What binds: tool arguments, or for HTTP the body's digest and length. */
  args: unknown;
  /** HTTP: the body the approver is shown (args then binds it). */
  body?: { bytes: Uint8Array; contentEncoding?: string | undefined };
  risk_level: RiskLevel;
  mode: 'queue' | 'webhook';
  request_id?: string;
}

export interface DecideOptions {
  approver: string;
  reason?: string;
  /** Approve for a window (ms): every identical call until then proceeds. */
  windowMs?: number;
}
