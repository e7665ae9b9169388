/** Building a control's judgement: the worst finding decides the status; each finding may bring its fix. */
import type { CheckResult } from '../doctor/index.js';
import type { ControlStatus, JudgeContext, Judgement } from './types.js';

const RANK: Record<'met' | 'partial' | 'not_met', number> = { met: 0, partial: 1, not_met: 2 };

export class Verdict {
  #status: 'met' | 'partial' | 'not_met' = 'met';
  readonly #findings: string[] = [];
  readonly #fixes: string[] = [];

  /** Records a finding at `level`; the status becomes the worst level seen. */
  add(level: 'partial' | 'not_met', finding: string, fix?: string): this {
    if (RANK[level] > RANK[this.#status]) this.#status = level;
    this.#findings.push(finding);
    if (fix && !this.#fixes.includes(fix)) this.#fixes.push(fix);
    return this;
  }

  /** A fact that supports the status without changing it (shown among the findings). */
  note(finding: string): this {
    this.#findings.push(finding);
    return this;
  }

  get status(): ControlStatus {
    return this.#status;
  }

  /** The judgement; `metFinding` says why when nothing was found wanting. */
  done(metFinding?: string): Judgement {
    const findings = this.#status === 'met' && metFinding ? [metFinding, ...this.#findings] : [...this.#findings];
    return this.#fixes.length && this.#status !== 'met' ? { status: this.#status, findings, fix: this.#fixes.join(' ') } : { status: this.#status, findings };
  }
}

/**
 * Folds doctor checks into a verdict: a failed check in `failNotMet` makes the control not met, one in `failPartial`
 * partial; a warning of a check in `warnPartial` makes it partial. A check this doctor does not have is evidence that
 * could not be gathered: partial, never silently met.
 */
export function fromChecks(v: Verdict, ctx: JudgeContext, spec: { failNotMet?: readonly string[]; failPartial?: readonly string[]; warnPartial?: readonly string[] }): Verdict {
  const seen = new Set<string>();
  const consider = (id: string, on: 'fail' | 'warn', level: 'partial' | 'not_met'): void => {
    const c = ctx.check(id);
    if (!c) {
      if (!seen.has(id)) v.add('partial', `doctor check ${id} is not in this version of the doctor: its evidence is missing`);
      seen.add(id);
      return;
    }
    if (c.status === on) v.add(level, `${id} ${c.status === 'fail' ? 'fails' : 'warns'}: ${c.detail}`, c.fix);
  };
  for (const id of spec.failNotMet ?? []) consider(id, 'fail', 'not_met');
  for (const id of spec.failPartial ?? []) consider(id, 'fail', 'partial');
  for (const id of spec.warnPartial ?? []) consider(id, 'warn', 'partial');
  return v;
}

/** The doctor's status for a check, or 'missing'. */
export const statusOf = (ctx: JudgeContext, id: string): CheckResult['status'] | 'missing' => ctx.check(id)?.status ?? 'missing';
