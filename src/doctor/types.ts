import type { GatehouseConfig } from '../config/index.js';

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';
export type Profile = GatehouseConfig['profile'];

/** One line of the checklist: what was found (naming config paths, never secret values) and what to do. */
export interface CheckResult {
  /** Stable identifier, e.g. "tls.min_version"; documented in docs/doctor.md. */
  id: string;
  title: string;
  status: CheckStatus;
  /** What was found, naming the config path. */
  detail: string;
  /** What to do about it (also shown when the check passes: how to keep it so). */
  fix: string;
  /** The checklist item this comes from, e.g. "seed 003 §7" or "seed 001 maximum security". */
  source: string;
}

export interface DoctorReport {
  /** The profile the configuration was evaluated as. */
  profile: Profile;
  /** ISO 8601. */
  generated_at: string;
  checks: CheckResult[];
  summary: Record<CheckStatus, number>;
}

export interface DoctorOptions {
  /** Milliseconds since the epoch: certificate expiry is judged at this instant (frozen clocks in tests). */
  now?: number;
  /** Where `*_env` settings are looked up (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Evaluate as this profile instead of the loaded one (`gatehouse doctor --production`). */
  profile?: Profile;
  /** The configuration file the config came from: its permissions and inline secrets are checked too. */
  configFile?: string;
}

/** What a check found: a warning or a failure, described by config path. */
export interface Finding {
  status: 'warn' | 'fail';
  detail: string;
}

/** A check's own result before production refusals are merged in. */
export type Outcome = { kind: 'findings'; findings: Finding[]; passDetail: string } | { kind: 'skip'; detail: string };

/** Everything a check may read. */
export interface DoctorContext {
  cfg: GatehouseConfig;
  profile: Profile;
  production: boolean;
  /** 'fail' when evaluated as production, else 'warn': for settings production must not run with. */
  severe: 'warn' | 'fail';
  now: number;
  env: NodeJS.ProcessEnv;
  configFile: string | undefined;
}

export interface CheckDefinition {
  id: string;
  title: string;
  source: string;
  fix: string;
  /**
   * The production refusals (productionRefusals) this check reports, chosen by the config path each refusal starts
   * with, array indexes written `[]` (routes[].tls.insecure_skip_verify). Each refusal is a `fail` in production.
   */
  refusals?: RegExp;
  /** What a check without `inspect` says when nothing is refused. */
  passDetail?: string;
  /** Findings beyond the refusals; absent for checks that only report refusals. */
  inspect?(ctx: DoctorContext): Outcome | Promise<Outcome>;
}
