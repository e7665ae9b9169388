/** Report formats: a table per framework with each control's evidence below it, and JSON for machines. */
import type { ComplianceReport, ControlResult, ControlStatus, Framework } from './types.js';

const LABEL: Record<ControlStatus, string> = { met: 'MET', partial: 'PARTIAL', not_met: 'NOT MET', not_applicable: 'N/A', outside_gateway: 'OUTSIDE GATEWAY' };
const HEADING: Record<Framework, string> = {
  hipaa: 'HIPAA Security Rule (45 CFR Part 164, Subpart C)',
  'pci-dss': 'PCI DSS v4.0',
};

/** `text` cut into lines of at most `width` characters at spaces. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** A labelled block: the label on the first line, continuation lines aligned under the text. */
function block(label: string, items: readonly string[]): string[] {
  const pad = ' '.repeat(12);
  return items.map((item, i) => `${i === 0 ? `  ${label.padEnd(10)}` : pad}${item}`);
}

const showValue = (v: unknown): string => (Array.isArray(v) ? (v.length ? v.join(', ') : '[]') : v === null ? 'unset' : String(v));

function details(c: ControlResult): string[] {
  const lines = [`${c.framework} ${c.control} — ${c.title}: ${LABEL[c.status]}`];
  lines.push(...block('found:', c.findings));
  const evidence = [
    ...c.evidence.checks.map((e) => `doctor ${e.id}: ${e.status}${e.detail ? ` — ${e.detail}` : ''}`),
    ...c.evidence.config.map((e) => `${e.key} = ${showValue(e.value)}`),
    ...(c.evidence.audit_verify ? [`audit verify: ${c.evidence.audit_verify.summary}`] : []),
  ];
  if (evidence.length) lines.push(...block('evidence:', evidence));
  if (c.fix) lines.push(...block('fix:', [c.fix]));
  lines.push(...block('outside:', [c.outside]));
  return lines;
}

export function formatComplianceText(report: ComplianceReport): string {
  const lines = [`gatehouse compliance report — ${report.generated_at}`, ...wrap(report.disclaimer, 100)];
  lines.push(`Configuration: ${report.config_file ?? 'the embedded default'}; doctor checks evaluated as ${report.evaluated_as}.`);
  const v = report.audit_verification;
  lines.push(v ? `Audit log verification (${v.dir}): ${v.summary}` : 'Audit log verification: not run (--verify-audit runs it).');
  for (const framework of report.frameworks) {
    const rows = report.controls.filter((c) => c.framework === framework);
    const width = Math.max(7, ...rows.map((c) => c.control.length)) + 2;
    lines.push('', HEADING[framework], `  ${'STATUS'.padEnd(17)}${'CONTROL'.padEnd(width)}TITLE`);
    for (const c of rows) lines.push(`  ${LABEL[c.status].padEnd(17)}${c.control.padEnd(width)}${c.title}`);
  }
  lines.push('', 'Details');
  for (const c of report.controls) lines.push('', ...details(c));
  const s = report.summary;
  lines.push('', `${s.met} met, ${s.partial} partial, ${s.not_met} not met, ${s.not_applicable} not applicable, ${s.outside_gateway} outside the gateway`);
  return lines.join('\n') + '\n';
}

export function formatComplianceJson(report: ComplianceReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}
