/**
 * gatehouse/compliance — evidence for an assessor (docs/compliance.md), not a certification: for the HIPAA Security
 * Rule and PCI DSS v4.0 controls a gateway can contribute to, what this configuration does, shown by the doctor's
 * checks and the settings themselves, what is missing, and what the gateway cannot see (seed 000 roadmap item 6).
 */
export { complianceReport, complianceExitCode, DISCLAIMER } from './report.js';
export { formatComplianceText, formatComplianceJson } from './format.js';
export { CONTROLS } from './controls.js';
export { FACTS, type FactKey } from './facts.js';
export { PCI_MAX_FAILURES, PCI_MIN_LOCKOUT_MS, PCI_MIN_RETENTION_MS } from './rules.js';
export { FRAMEWORKS, CONTROL_STATUSES } from './types.js';
export type { AuditVerification, CheckEvidence, ComplianceOptions, ComplianceReport, ConfigEvidence, ControlDefinition, ControlEvidence, ControlResult, ControlStatus, Framework } from './types.js';
