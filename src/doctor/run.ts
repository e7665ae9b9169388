/** runDoctor: the production hardening checklist over one loaded configuration. */
import type { GatehouseConfig } from '../config/index.js';
import { CHECKS } from './checks/index.js';
import { productionRefusals, refusalPath } from './refusals.js';
import { scrub, secretValues } from './scrub.js';
import type { CheckDefinition, CheckResult, CheckStatus, DoctorContext, DoctorOptions, DoctorReport, Finding, Outcome } from './types.js';

const PROFILES = new Set(['development', 'production']);

/** Each production refusal goes to the first check whose pattern matches its config path (production.other takes the rest). */
function assignRefusals(refusals: readonly string[], checks: readonly CheckDefinition[]): Map<string, string[]> {
  const byCheck = new Map<string, string[]>();
  for (const message of refusals) {
    const path = refusalPath(message);
    const check = checks.find((c) => c.refusals?.test(path));
    if (!check) continue; // unreachable while production.other matches everything
    byCheck.set(check.id, [...(byCheck.get(check.id) ?? []), message]);
  }
  return byCheck;
}

/** A check that throws is a failure to verify, reported as a failed check (fail closed), not a crash of the whole run. */
async function inspect(check: CheckDefinition, ctx: DoctorContext): Promise<Outcome> {
  if (!check.inspect) return { kind: 'findings', findings: [], passDetail: check.passDetail ?? 'nothing refused' };
  try {
    return await check.inspect(ctx);
  } catch (e) {
    // The message names paths and settings (report texts are scrubbed of secret values afterwards).
    const why = e instanceof Error ? `${e.name}: ${e.message.split('\n')[0]?.slice(0, 160) ?? ''}` : 'unknown error';
    return { kind: 'findings', findings: [{ status: 'fail', detail: `the check could not run (${why})` }], passDetail: '' };
  }
}

async function evaluate(check: CheckDefinition, ctx: DoctorContext, refused: readonly string[]): Promise<CheckResult> {
  const outcome = await inspect(check, ctx);
  // In development the refusals are what production would refuse: warnings, saying so.
  const fromRefusals: Finding[] = refused.map((m) => ({ status: ctx.severe, detail: ctx.production ? m : `${m} (refused in production)` }));
  const findings = [...fromRefusals, ...(outcome.kind === 'findings' ? outcome.findings : [])];
  const base = { id: check.id, title: check.title, fix: check.fix, source: check.source };
  if (findings.length === 0) {
    return outcome.kind === 'skip' ? { ...base, status: 'skip', detail: outcome.detail } : { ...base, status: 'pass', detail: outcome.passDetail };
  }
  const status: CheckStatus = findings.some((f) => f.status === 'fail') ? 'fail' : 'warn';
  return { ...base, status, detail: findings.map((f) => f.detail).join('; ') };
}

/**
 * Runs every check against `cfg` (load it with skipProfileCheck so production refusals arrive here instead of being
 * thrown). Files the configuration names are read; nothing is written. Each production refusal is a failing check
 * when evaluated as production, and a warning in development.
 */
export async function runDoctor(cfg: GatehouseConfig, opts: DoctorOptions = {}): Promise<DoctorReport> {
  if (opts.profile !== undefined && !PROFILES.has(opts.profile)) throw new TypeError('runDoctor: profile is development or production');
  if (opts.now !== undefined && !Number.isFinite(opts.now)) throw new TypeError('runDoctor: now is milliseconds since the epoch');
  const profile = opts.profile ?? cfg.profile;
  const production = profile === 'production';
  const ctx: DoctorContext = {
    cfg,
    profile,
    production,
    severe: production ? 'fail' : 'warn',
    now: opts.now ?? Date.now(),
    env: opts.env ?? process.env,
    configFile: opts.configFile,
  };
  const refused = assignRefusals(productionRefusals(cfg), CHECKS);
  const secrets = secretValues(cfg);
  const checks: CheckResult[] = [];
  for (const check of CHECKS) {
    const r = await evaluate(check, ctx, refused.get(check.id) ?? []);
    checks.push({ ...r, detail: scrub(r.detail, secrets), fix: scrub(r.fix, secrets) });
  }
  const summary: Record<CheckStatus, number> = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const c of checks) summary[c.status]++;
  return { profile, generated_at: new Date(ctx.now).toISOString(), checks, summary };
}

/** The exit status `gatehouse doctor` gives a report: 1 when a check failed (or, strict, warned), else 0. */
export function doctorExitCode(report: DoctorReport, strict = false): 0 | 1 {
  return report.summary.fail > 0 || (strict && report.summary.warn > 0) ? 1 : 0;
}
