/** Human output of the audit CLI: the query table and the verify report. */
import type { AuditRecord } from './query.js';
import type { VerifyReport } from './verify.js';

const COLUMNS: { title: string; width: number; value: (r: AuditRecord) => unknown }[] = [
  { title: 'TIME', width: 24, value: (r) => r['timestamp'] },
  { title: 'EVENT', width: 16, value: (r) => r['event_type'] },
  { title: 'SUBJECT', width: 20, value: (r) => r['subject'] },
  { title: 'TOOL/ACTION', width: 22, value: (r) => r['tool'] ?? r['action'] ?? (r['method'] ? `${String(r['method'])} ${String(r['path'] ?? '')}` : undefined) },
  { title: 'RISK', width: 8, value: (r) => r['risk_level'] },
  { title: 'STATUS', width: 7, value: (r) => r['result_status'] },
  { title: 'APPR', width: 5, value: (r) => r['approved'] },
  { title: 'USER/IP', width: 24, value: (r) => (r['tailscale'] as Record<string, unknown> | undefined)?.['tailscale_user'] ?? r['source_ip'] },
  { title: 'ERROR', width: 40, value: (r) => r['error'] },
];

// Control characters from a record never reach the terminal (no escape-sequence injection through a logged value),
// nor do bidi overrides and zero-width characters, which make a cell read as something else (Trojan Source).
const clean = (s: string): string => s.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g, '?');

function cell(v: unknown, width: number): string {
  const s = v === undefined || v === null ? '-' : clean(typeof v === 'string' ? v : JSON.stringify(v));
  return s.length > width ? s.slice(0, width - 1) + '…' : s.padEnd(width);
}

export const tableHeader = (): string => COLUMNS.map((c) => c.title.padEnd(c.width)).join(' ').trimEnd();
export const tableRow = (r: AuditRecord): string => COLUMNS.map((c) => cell(c.value(r), c.width)).join(' ').trimEnd();

/**
 * One line per break, then a summary line; warnings last. Breaks quote what the files say (a forged checkpoint's
 * key id), so every line is cleaned: a hostile log must not rewrite the verdict on the operator's terminal.
 */
export function formatVerifyReport(r: VerifyReport): string[] {
  return verifyReportLines(r).map(clean);
}

function verifyReportLines(r: VerifyReport): string[] {
  const lines: string[] = [];
  for (const b of r.breaks) {
    lines.push(`${b.file}${b.line ? `:${b.line}` : ''}${b.seq !== undefined ? ` seq ${b.seq}` : ''}: ${b.kind}: ${b.message}`);
  }
  const range = r.firstSeq !== undefined ? ` (seq ${r.firstSeq}–${r.lastSeq ?? r.firstSeq})` : '';
  const signed = r.signaturesChecked ? `${r.checkpoints} checkpoint(s) verified with key ${r.keyId ?? '?'}` : `${r.checkpoints} checkpoint(s), signatures NOT checked`;
  const summary = `${r.records} record(s) in ${r.files.length} file(s)${range}, ${signed}`;
  for (const s of r.sealed) lines.push(`${s.file}:${s.line}: torn line of ${s.bytes} bytes from a crash, sealed by the writer at seq ${s.seq}`);
  if (r.status === 'broken') lines.push(`BROKEN: ${r.breaks.length} break(s); ${summary}`);
  else if (r.status === 'torn' && r.torn) {
    lines.push(`${r.torn.file}:${r.torn.line}: torn: the last ${r.torn.bytes} byte(s) are a partial write left by a crash, not tampering; restart the writer to seal them`);
    lines.push(`TORN: the chain before the torn line verifies; ${summary}`);
  } else lines.push(`OK: ${summary}${r.headHash ? `; head ${r.headHash}` : ''}`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines;
}
