export type { ApprovalRecord, ApprovalStatus, ApprovalDecisionKind, NewApproval, DecideOptions } from './types.js';
export { canonicalJson, argsDigest, bindingOf, realmOf, sha256Hex, type BindingParts } from './canonical.js';
export { loadApprovalKey, APPROVAL_KEY_FILE, type ApprovalKeyOptions } from './keys.js';
export { redactTokens, type ApprovalView } from './view.js';
export { PENDING_NS } from './pending.js';
export {
  ApprovalStore,
  type ApprovalRedactor,
  type ApprovalStoreOptions,
  effectiveStatus,
  isApprovalId,
  cleanReason,
  pendingApprovals,
  shownRecord,
  APPROVALS_NS,
  BINDINGS_NS,
} from './queue.js';
export { ApprovalGate, type ApprovalGateOptions, type ApprovalRequestInput, type EffectiveMode } from './gate.js';
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
