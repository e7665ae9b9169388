import { performance } from 'node:perf_hooks';
import { GatehouseError } from '../core/errors.js';
import type { AuditEvent, Exchange, Logger, Principal, StageDeps } from '../core/types.js';
import type { GatehouseConfig } from '../config/index.js';
import type { AuditHandle, Capabilities } from './pipeline.js';

/**
 * Wires the capabilities (authn, authz, approval, audit, crypto, redact) into the gateway's stages.
 * Each capability is imported through its index.ts; this file is the only place that knows them all.
 */
export async function buildCapabilities(cfg: GatehouseConfig, deps: Omit<StageDeps, 'audit'>): Promise<Capabilities> {
  const audit = nullAudit();
  const logger: Logger = deps.logger;
  return {
    stages: { identify: developmentIdentify(cfg, logger) },
    audit,
    auditEvent: basicAuditEvent,
    logger,
    close: () => audit.close(),
  };
}

/** Until an authentication method is configured, development admits everyone as an anonymous principal; production refuses. */
function developmentIdentify(cfg: GatehouseConfig, logger: Logger) {
  if (cfg.profile === 'production') throw new GatehouseError('GH_CONFIG_PRODUCTION_REFUSED', 'production: no authentication method is available');
  logger.warn({}, 'development: requests are admitted without authentication');
  return (ex: Exchange): void => {
    const p: Principal = { id: 'anonymous', type: 'anonymous', method: 'none', scopes: [], network: ex.network, attributes: {} };
    ex.principal = p;
  };
}

function nullAudit(): AuditHandle {
  return { waitForDurable: false, emit: async () => {}, healthy: () => true, close: async () => {} };
}

export function basicAuditEvent(ex: Exchange): AuditEvent {
  const status = ex.status ?? 0;
  return {
    event_type: ex.operation?.tool ? 'tool.call' : 'http.request',
    result_status: ex.error ? (ex.error.status === 403 ? 'denied' : 'error') : status >= 500 ? 'error' : 'success',
    ...(ex.principal ? { subject: ex.principal.id, principal_type: ex.principal.type, auth_method: ex.principal.method } : {}),
    source_ip: ex.network.source_ip,
    method: ex.method,
    path: ex.path,
    status,
    request_id: ex.id,
    latency_ms: Math.round((performance.now() - ex.startedAt) * 1000) / 1000,
    ...(ex.error ? { error: ex.error.publicMessage, error_code: ex.error.code } : {}),
  };
}
