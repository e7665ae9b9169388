import type { PrincipalType, RiskLevel } from '../core/types.js';

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'used';
export type ApprovalDecisionKind = 'approve' | 'deny';

/**
 * One approval as stored (StateStore namespace `approvals`, key = id). It binds the principal, the subject
 * (tool or HTTP operation), the SHA-256 of the canonical arguments and an expiry (issue 4).
 */
export interface ApprovalRecord {
  id: string;
  status: ApprovalStatus;
  principal: string;
  principal_type?: PrincipalType;
  /** The credential namespace of `principal` (realmOf: method, and issuer for JWT); part of the binding. */
  principal_realm?: string;
  tenant?: string;
  /** `tool` for MCP tools/call, `http` for HTTP routes. */
  kind: 'tool' | 'http';
  /** The tool name, or `METHOD /path?query` (redacted: a query can carry a credential). */
  subject: string;
  /** The arguments as requested, for the approver to read (redacted, bounded); never sent to audit. */
  args: unknown;
  args_sha256: string;
  /** The gateway route the call came through (MCP tools of two routes can share a name: staging and prod). */
  route?: string;
  /** SHA-256 over principal, tenant, subject, args_sha256, principal_realm and route: what an approval is valid for. */
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
  route?: string;
  kind: 'tool' | 'http';
  subject: string;
  args: unknown;
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
