/** complianceReport: the doctor's checks and the configuration, read against the controls of controls.ts. */
import type { GatehouseConfig } from '../config/index.js';
import { runDoctor, scrubDeep, secretValues, type CheckResult } from '../doctor/index.js';
import { CONTROLS } from './controls.js';
import { factsOf } from './facts.js';
import { verifyConfiguredAuditLog } from './verify.js';
import { CONTROL_STATUSES, FRAMEWORKS, type CheckEvidence, type ComplianceOptions, type ComplianceReport, type ControlDefinition, type ControlResult, type ControlStatus, type Framework, type JudgeContext } from './types.js';

export const DISCLAIMER =
  'Evidence for an assessor, not a certification. It covers what this gateway configuration does for each control, ' +
  'judged from the configuration and the files it names; whether a control is met for your organisation is decided ' +
  'by your assessor, together with everything the gateway cannot see (outside_gateway, and each row\'s "outside" note).';

const FRAMEWORK_CHOICES = new Set<string>([...FRAMEWORKS, 'all']);

function evidenceOf(def: ControlDefinition, ctx: JudgeContext): ControlResult['evidence'] {
  const checks: CheckEvidence[] = def.checks.map((id) => {
    const c = ctx.check(id);
    return c ? { id, status: c.status, detail: c.detail } : { id, status: 'missing', detail: 'no such check in this version of the doctor' };
  });
  const evidence: ControlResult['evidence'] = { checks, config: factsOf(ctx.cfg, def.keys) };
  if (def.usesVerification && ctx.verification) evidence.audit_verify = { status: ctx.verification.status, summary: ctx.verification.summary };
  return evidence;
}

function judge(def: ControlDefinition, ctx: JudgeContext): ControlResult {
  const j = def.judge(ctx);
  // A fix is what to change: only where something is wanting.
  const wanting = j.status === 'not_met' || j.status === 'partial';
  return {
    framework: def.framework,
    control: def.control,
    title: def.title,
    status: j.status,
    findings: j.findings,
    evidence: evidenceOf(def, ctx),
    fix: wanting ? (j.fix ?? null) : null,
    outside: def.outside,
  };
}

/**
 * Judges every control of the chosen framework(s). The doctor runs as `gatehouse doctor --production` would (load
 * the configuration with skipProfileCheck, so production refusals become evidence instead of an exception); with
 * `verifyAudit` the configured audit log is verified as `gatehouse audit verify` does. Reads files, writes nothing.
 */
export async function complianceReport(cfg: GatehouseConfig, opts: ComplianceOptions = {}): Promise<ComplianceReport> {
  const framework = opts.framework ?? 'all';
  if (!FRAMEWORK_CHOICES.has(framework)) throw new TypeError('complianceReport: framework is hipaa, pci-dss or all');
  if (opts.now !== undefined && !Number.isFinite(opts.now)) throw new TypeError('complianceReport: now is milliseconds since the epoch');
  const env = opts.env ?? process.env;
  const now = opts.now ?? Date.now();
  const doctor = await runDoctor(cfg, { profile: 'production', now, env, ...(opts.configFile ? { configFile: opts.configFile } : {}) });
  const byId = new Map<string, CheckResult>(doctor.checks.map((c) => [c.id, c]));
  const verification = opts.verifyAudit ? await verifyConfiguredAuditLog(cfg, env) : undefined;
  const ctx: JudgeContext = { cfg, check: (id) => byId.get(id), verification };
  const frameworks: Framework[] = framework === 'all' ? [...FRAMEWORKS] : [framework];
  const controls = CONTROLS.filter((d) => frameworks.includes(d.framework)).map((d) => judge(d, ctx));
  const summary = Object.fromEntries(CONTROL_STATUSES.map((s) => [s, 0])) as Record<ControlStatus, number>;
  for (const c of controls) summary[c.status]++;
  const report: ComplianceReport = {
    report: 'gatehouse compliance report',
    disclaimer: DISCLAIMER,
    generated_at: new Date(now).toISOString(),
    evaluated_as: 'production',
    config_file: opts.configFile ?? null,
    frameworks,
    controls,
    summary,
    audit_verification: verification ?? null,
  };
  return scrubDeep(report, secretValues(cfg, env));
}

/** The exit status of `gatehouse compliance report`: 1 when a control is not met, else 0. */
export function complianceExitCode(report: ComplianceReport): 0 | 1 {
  return report.summary.not_met > 0 ? 1 : 0;
}
