/**
 * gatehouse/audit — the tamper-evident audit trail (issue 5, docs/audit.md).
 *
 *   const log = await openAuditLog(cfg.audit, { stateDir: cfg.state_dir, logger, redact });
 *   await log.emit(auditEventFromExchange(ex));   // resolves once durable; rejects GH_AUDIT_UNAVAILABLE (fail closed)
 *   await log.close();
 */
import type { AuditConfig } from '../config/schema/audit.js';
import { systemClock } from '../core/clock.js';
import { createSinks } from './sinks/index.js';
import { AuditLog, auditDir, type AuditLogOptions } from './writer.js';

export { AuditLog, auditDir, type AuditLogOptions } from './writer.js';
export { AlertEngine, AlertForwarder, type Alert, type AlertKind } from './alerts.js';
export { createSinks, HttpSink, createStdoutSink, createSyslogSink, syslogMessage } from './sinks/index.js';
export { queryAuditLog, tailAuditLog, followAuditLog, parseTimeBound, matchesFilter, type QueryFilter, type AuditRecord } from './query.js';
export { auditEventFromExchange, eventTypeOf } from './exchange.js';
export { verifyAuditLog, type VerifyReport, type VerifyOptions, type ChainBreak, type BreakKind } from './verify.js';
export { canonicalJson, toAuditValue } from './canonical.js';
export { chainLine, serializeRecord, readTrailerOf, GENESIS_HASH } from './chain.js';
export { hmacValue, buildPayload, resultOf, type Redact } from './record.js';
export { writeKeyPair, loadSigningKey, loadVerifyKey, loadHmacKey, keyId, parsePublicKey } from './keys.js';
export { listAuditFiles, resolveAuditFiles, type AuditFile } from './files.js';
export { headNotePath } from './headnote.js';
export type { AuditSink } from './sinks/types.js';
export type { AuditConfig } from '../config/schema/audit.js';

/** Opens (creating when needed) the audit log of a configuration, with its configured sinks and alerts. */
export async function openAuditLog(cfg: AuditConfig, opts: AuditLogOptions): Promise<AuditLog> {
  const sinks = createSinks(cfg, { dir: auditDir(cfg, opts.stateDir), stateDir: opts.stateDir, logger: opts.logger, clock: opts.clock ?? systemClock, ...(opts.env ? { env: opts.env } : {}), ...(opts.worker ? { worker: opts.worker } : {}), ...(opts.alertsTo ? { alertsTo: opts.alertsTo } : {}), ...(opts.transient ? { transient: true } : {}), ...(opts.spoolAdoptEveryMs ? { spoolAdoptEveryMs: opts.spoolAdoptEveryMs } : {}) });
  try {
    const log = new AuditLog(cfg, opts, sinks);
    await log.start();
    return log;
  } catch (e) {
    await Promise.allSettled(sinks.map((s) => s.close()));
    throw e;
  }
}
