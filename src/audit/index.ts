/**
 * gatehouse/audit — the tamper-evident audit trail (issue 5, docs/audit.md).
 *
 *   const log = await openAuditLog(cfg.audit, { stateDir: cfg.state_dir, logger, redact });
 *   await log.emit(auditEventFromExchange(ex));   // resolves once durable; rejects GH_AUDIT_UNAVAILABLE (fail closed)
 *   await log.close();
 */
import type { AuditConfig } from '../config/schema/audit.js';
import { AuditLog, type AuditLogOptions } from './writer.js';

export { AuditLog, type AuditLogOptions } from './writer.js';
export { auditEventFromExchange, eventTypeOf } from './exchange.js';
export { verifyAuditLog, type VerifyReport, type VerifyOptions, type ChainBreak, type BreakKind } from './verify.js';
export { canonicalJson, toAuditValue } from './canonical.js';
export { chainLine, serializeRecord, readTrailerOf, GENESIS_HASH } from './chain.js';
export { hmacValue, buildPayload, resultOf, type Redact } from './record.js';
export { writeKeyPair, loadSigningKey, loadVerifyKey, loadHmacKey, keyId, parsePublicKey } from './keys.js';
export { listAuditFiles, resolveAuditFiles, type AuditFile } from './files.js';
export type { AuditSink } from './sinks/types.js';
export type { AuditConfig } from '../config/schema/audit.js';

/** Opens (creating when needed) the audit log of a configuration and starts writing. */
export async function openAuditLog(cfg: AuditConfig, opts: AuditLogOptions): Promise<AuditLog> {
  const log = new AuditLog(cfg, opts);
  await log.start();
  return log;
}
