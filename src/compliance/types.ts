import type { GatehouseConfig } from '../config/index.js';
import type { CheckResult, CheckStatus } from '../doctor/index.js';
import type { FactKey } from './facts.js';

export type Framework = 'hipaa' | 'pci-dss';
export const FRAMEWORKS: readonly Framework[] = ['hipaa', 'pci-dss'];

/**
 * How far this configuration carries a control, for the gateway's part:
 * `outside_gateway` — the control rests on what the gateway cannot see (a contract, a building, an upstream's disk);
 * `not_applicable` — nothing of this configuration falls under it.
 */
export type ControlStatus = 'met' | 'partial' | 'not_met' | 'not_applicable' | 'outside_gateway';
export const CONTROL_STATUSES: readonly ControlStatus[] = ['met', 'partial', 'not_met', 'not_applicable', 'outside_gateway'];

/** A doctor check as evidence (its detail is already scrubbed of secret values by the doctor). */
export interface CheckEvidence {
  id: string;
  /** `missing` when this doctor has no check of that id. */
  status: CheckStatus | 'missing';
  detail: string;
}

/** A setting as evidence: never a secret (facts.ts reads only non-secret fields), durations as the config writes them. */
export interface ConfigEvidence {
  key: string;
  value: string | number | boolean | null | readonly string[];
}

/** `gatehouse audit verify` over the state directory's audit log, run with --verify-audit. */
export interface AuditVerification {
  /** ok | torn | broken as verify says; `absent` no audit directory; `disabled` audit.enabled is false; `error` verify could not run. */
  status: 'ok' | 'torn' | 'broken' | 'absent' | 'disabled' | 'error';
  dir: string;
  records: number;
  checkpoints: number;
  signatures_checked: boolean;
  key_id: string | null;
  /** One line per break, as `audit verify` prints them (at most 20). */
  breaks: string[];
  warnings: string[];
  /** One line saying what was found. */
  summary: string;
}

export interface ControlEvidence {
  checks: CheckEvidence[];
  config: ConfigEvidence[];
  /** Present on the integrity controls when --verify-audit ran (its status and summary line). */
  audit_verify?: { status: AuditVerification['status']; summary: string };
}

/** One row of the report. */
export interface ControlResult {
  framework: Framework;
  control: string;
  title: string;
  status: ControlStatus;
  /** Why this status: each names the config path or doctor check it comes from. */
  findings: string[];
  evidence: ControlEvidence;
  /** What to change; null when the control is met, not applicable or outside the gateway. */
  fix: string | null;
  /** What the gateway cannot see of this control: the assessor's part. */
  outside: string;
}

export interface ComplianceReport {
  report: 'gatehouse compliance report';
  disclaimer: string;
  generated_at: string;
  /** The doctor checks behind the evidence run as `gatehouse doctor --production`. */
  evaluated_as: 'production';
  config_file: string | null;
  frameworks: Framework[];
  controls: ControlResult[];
  summary: Record<ControlStatus, number>;
  audit_verification: AuditVerification | null;
}

export interface ComplianceOptions {
  /** hipaa, pci-dss or all (default all). */
  framework?: Framework | 'all';
  /** Run the audit verification over the state directory's audit log (gatehouse audit verify). */
  verifyAudit?: boolean;
  /** Milliseconds since the epoch (certificate expiry is judged at this instant). */
  now?: number;
  /** Where `*_env` settings are looked up (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** The configuration file: the doctor checks its permissions and inline secrets (PCI 8.6.2). */
  configFile?: string;
}

/** What a rule reads. */
export interface JudgeContext {
  cfg: GatehouseConfig;
  /** The doctor's result for a check id, undefined when this doctor has no such check. */
  check(id: string): CheckResult | undefined;
  /** Present with --verify-audit. */
  verification: AuditVerification | undefined;
}

export interface Judgement {
  status: ControlStatus;
  findings: string[];
  fix?: string;
}

/** One row of the mapping table (controls.ts). */
export interface ControlDefinition {
  framework: Framework;
  /** The identifier as the standard writes it: 164.312(a)(2)(i), 8.3.4. */
  control: string;
  title: string;
  /** Doctor check ids shown as evidence. */
  checks: readonly string[];
  /** Settings shown as evidence. */
  keys: readonly FactKey[];
  /** The rule in words (docs/compliance.md repeats it). */
  rule: string;
  /** Whether --verify-audit's result is evidence for this control. */
  usesVerification?: boolean;
  /** What the gateway cannot see. */
  outside: string;
  judge(ctx: JudgeContext): Judgement;
}
