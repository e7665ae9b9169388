export type { ApprovalRecord, ApprovalStatus, ApprovalDecisionKind, NewApproval, DecideOptions } from './types.js';
export { canonicalJson, argsHash, bindingOf, realmOf, sha256Hex } from './canonical.js';
export { ApprovalStore, type ApprovalRedactor, effectiveStatus, isApprovalId, cleanReason, pendingApprovals, APPROVALS_NS, BINDINGS_NS } from './queue.js';
export { ApprovalGate, type ApprovalRequestInput, type EffectiveMode } from './gate.js';
export {
  WebhookApprover,
  signPayload,
  verifyPayload,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  NONCE_HEADER,
  type WebhookApprovalRequest,
  type WebhookApprovalAnswer,
  type WebhookDecision,
} from './webhook.js';
export { createApprovalsAdminHandler, type ApprovalsAdminTarget, type ApprovalsAdminHandler } from './admin.js';
