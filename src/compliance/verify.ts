/**
 * --verify-audit: the verification `gatehouse audit verify` runs (verifyAuditLog over the configured audit directory,
 * the public key from audit.checkpoint as that command finds it), reduced to what the report shows.
 */
import { existsSync } from 'node:fs';
import type { GatehouseConfig } from '../config/index.js';
import { auditDir, loadVerifyKey, verifyAuditLog, type VerifyReport } from '../audit/index.js';
import type { AuditVerification } from './types.js';

const MAX_BREAKS = 20;

// What a log file says is quoted in breaks: no control, bidi or zero-width character reaches the operator's terminal.
const clean = (s: string): string => s.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g, '?');

function summaryOf(r: VerifyReport): string {
  const range = r.firstSeq !== undefined ? ` (seq ${r.firstSeq}–${r.lastSeq ?? r.firstSeq})` : '';
  const signed = r.signaturesChecked ? `${r.checkpoints} checkpoint(s) verified with key ${r.keyId ?? '?'}` : `${r.checkpoints} checkpoint(s), signatures not checked`;
  const head = r.status === 'broken' ? `BROKEN: ${r.breaks.length} break(s)` : r.status === 'torn' ? 'TORN: the last line is a partial write left by a crash' : 'OK';
  return `${head}; ${r.records} record(s) in ${r.files.length} file(s)${range}, ${signed}`;
}

export async function verifyConfiguredAuditLog(cfg: GatehouseConfig, env: NodeJS.ProcessEnv): Promise<AuditVerification> {
  const dir = auditDir(cfg.audit, cfg.state_dir);
  // Members in one order whatever the outcome: the JSON is machine output.
  const unverified = (status: 'absent' | 'disabled' | 'error', summary: string): AuditVerification => ({ status, dir, records: 0, checkpoints: 0, signatures_checked: false, key_id: null, breaks: [], warnings: [], summary });
  if (!cfg.audit.enabled) return unverified('disabled', 'audit.enabled is false: no audit log to verify');
  if (!existsSync(dir)) return unverified('absent', `no audit directory at ${dir}: nothing was verified (a gateway that has run writes one; a deleted directory looks the same)`);
  try {
    const cp = cfg.audit.checkpoint;
    const key = loadVerifyKey({ publicKeyFile: cp.public_key_file, privateKeyFile: cp.private_key_file, privateKeyEnv: cp.private_key_env, env, stateDir: cfg.state_dir });
    // As PEM, the way audit verify passes it (verifyAuditLog's createPublicKey takes no public KeyObject).
    const publicKey = key?.export({ type: 'spki', format: 'pem' }).toString();
    const r = await verifyAuditLog(dir, { ...(publicKey ? { publicKey } : {}), file: cfg.audit.file, everyRecords: cp.every_records, maxBreaks: MAX_BREAKS });
    return {
      status: r.status,
      dir,
      records: r.records,
      checkpoints: r.checkpoints,
      signatures_checked: r.signaturesChecked,
      key_id: r.keyId ?? null,
      breaks: r.breaks.map((b) => clean(`${b.file}${b.line ? `:${b.line}` : ''}${b.seq !== undefined ? ` seq ${b.seq}` : ''}: ${b.kind}: ${b.message}`)),
      warnings: r.warnings.map(clean),
      summary: clean(summaryOf(r)),
    };
  } catch (e) {
    // A key or file that cannot be read is a verification that did not happen: reported, never taken for a pass.
    const code = (e as { code?: unknown }).code;
    const why = e instanceof Error ? e.message.split('\n')[0]?.slice(0, 200) ?? '' : 'unknown error';
    return unverified('error', clean(`${typeof code === 'string' ? `${code}: ` : ''}${why}`));
  }
}
