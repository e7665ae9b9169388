/** Report formats: the grouped checklist a person reads, and JSON for CI and dashboards. */
import { GROUPS, groupOf } from './checks/index.js';
import type { CheckStatus, DoctorReport } from './types.js';

const MARK: Record<CheckStatus, string> = { pass: '✓ PASS', warn: '! WARN', fail: '✗ FAIL', skip: '- SKIP' };
const HEADINGS: Readonly<Record<string, string>> = {
  profile: 'Profile',
  log: 'Logging',
  server: 'Server',
  tracing: 'Tracing',
  tls: 'TLS',
  auth: 'Authentication',
  approval: 'Approvals',
  audit: 'Audit',
  limits: 'Limits',
  store: 'State store',
  state: 'State directory',
  files: 'Key and secret files',
  secrets: 'Secrets store',
  routes: 'Routes',
  client: 'Secure client',
  demo: 'Demo services',
  redact: 'Redaction',
  config: 'Configuration file',
  production: 'Production refusals',
};

/**
 * The checklist grouped by area: one line per check (mark, id, title), what was found under it, and for a warning or
 * a failure what to do and where the requirement comes from. `verbose` adds fix and source to passes too.
 */
export function formatText(report: DoctorReport, opts: { verbose?: boolean } = {}): string {
  const lines = [`gatehouse doctor — evaluated as ${report.profile}, ${report.generated_at}`];
  const groups = [...new Set(report.checks.map((c) => groupOf(c.id)))].sort((a, b) => GROUPS.indexOf(a as never) - GROUPS.indexOf(b as never));
  for (const group of groups) {
    lines.push('', HEADINGS[group] ?? group);
    for (const c of report.checks.filter((x) => groupOf(x.id) === group)) {
      lines.push(`  ${MARK[c.status]}  ${c.id} — ${c.title}`);
      if (c.detail) lines.push(`          ${c.detail}`);
      if (c.status === 'warn' || c.status === 'fail' || opts.verbose) {
        lines.push(`          fix: ${c.fix}`, `          source: ${c.source}`);
      }
    }
  }
  const s = report.summary;
  lines.push('', `${s.pass} passed, ${s.warn} warnings, ${s.fail} failed, ${s.skip} skipped`);
  return lines.join('\n') + '\n';
}

export function formatJson(report: DoctorReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}
