/**
 * gatehouse/doctor — the production hardening checklist of the seed documents as code (docs/doctor.md): every setting
 * production refuses, and what a demanding operator checks beyond them (certificate expiry, key modes, token
 * lifetimes, approvers, remote audit sinks, rate limits …), each with what was found, what to do and its source.
 */
export { runDoctor, doctorExitCode } from './run.js';
export { formatText, formatJson } from './format.js';
export { productionRefusals, approvalProblems, isHttpsUpstream } from './refusals.js';
export { CHECKS } from './checks/index.js';
export { trustedDirsOf, type TrustedDir } from './files.js';
export { secretValues, scrub, scrubDeep } from './scrub.js';
export type { CheckDefinition, CheckResult, CheckStatus, DoctorOptions, DoctorReport } from './types.js';
