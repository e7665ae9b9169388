/** Records as the alert engine sees them: real exchanges through auditEventFromExchange and buildPayload. */
import { ManualClock } from '../../src/core/clock.js';
import { GatehouseError, type ErrorCode } from '../../src/core/errors.js';
import type { AuthMethod, Exchange, Principal } from '../../src/core/types.js';
import { AlertEngine, auditEventFromExchange, buildPayload, type Alert } from '../../src/audit/index.js';
import { IDENTITY } from '../../src/audit/record.js';
import { exchange } from './exchange-fixtures.js';
import { auditConfig, memoryLogger } from './helpers.js';

const PAYLOAD = { redact: IDENTITY, hmacKeys: new Set<string>(), hmacKey: undefined };

export const principal = (id: string, method: AuthMethod = 'token', ip = '10.0.0.1'): Principal => ({
  id, type: 'agent', method, scopes: ['container:read'], network: { source_ip: ip, peer_ip: ip, tls: true }, credential_id: `cred-${id}`, attributes: {},
});

export interface Req {
  ip?: string;
  node?: string;
  who?: Principal | undefined;
  path?: string;
  route?: string;
  tool?: string;
  mcpMethod?: string;
  resource?: string;
  action?: string;
  args?: Record<string, unknown>;
  deny?: boolean;
  error?: GatehouseError;
  userAgent?: string;
}

/** One finished request as the record stage sees it (defaults: an allowed MCP tools/call by `ops` from 10.0.0.1). */
export function request(o: Req = {}): Exchange {
  const ip = o.ip ?? '10.0.0.1';
  const network = { source_ip: ip, peer_ip: ip, tls: true, ...(o.node ? { tailscale: { tailscale_node: o.node } } : {}) };
  const who = 'who' in o ? o.who : principal('ops');
  const path = o.path ?? '/mcp';
  const denied = o.deny === true;
  return exchange({
    req: { headers: { 'user-agent': o.userAgent ?? 'test/1.0', authorization: 'Bearer tok-in-header-must-not-leak' } } as unknown as Exchange['req'],
    network,
    path,
    principal: who === undefined ? undefined : { ...who, network },
    route: { name: o.route ?? 'mcp', prefix: '/mcp', kind: 'mcp' },
    operation: {
      kind: 'mcp', method: 'POST', path,
      ...(o.mcpMethod !== undefined || o.tool !== undefined ? { mcp_method: o.mcpMethod ?? 'tools/call' } : {}),
      ...(o.tool !== undefined ? { tool: o.tool, args: o.args ?? {} } : {}),
      ...(o.resource !== undefined ? { resource: o.resource } : {}),
      ...(o.action !== undefined ? { action: o.action } : {}),
      risk_level: 'low',
    },
    decision: denied
      ? { allow: false, reason: 'scope_missing', missing_scope: 'system:admin', scopes_used: [], policy_version: 'v1' }
      : { allow: true, reason: 'scope_satisfied', scopes_used: ['container:read'], policy_version: 'v1' },
    status: o.error?.status ?? (denied ? 403 : 200),
    error: o.error ?? (denied ? new GatehouseError('GH_SCOPE_MISSING') : undefined),
  });
}

/** A request refused as malformed before it got an identity. */
export function malformed(code: ErrorCode, ip: string, message?: string): Exchange {
  const ex = request({ ip, who: undefined, error: new GatehouseError(code, message) });
  ex.operation = undefined;
  ex.decision = undefined;
  return ex;
}

/** The audit record payload of an exchange, stamped with the clock's time. */
export function recordOf(ex: Exchange, clock: ManualClock): Record<string, unknown> {
  return buildPayload(auditEventFromExchange(ex), new Date(clock.now()).toISOString(), PAYLOAD);
}

/** An engine without a webhook (alerts land in `posted` when it closes), a frozen clock, and a helper to feed it exchanges. */
export function engineWith(alerts: Record<string, unknown>, clock = new ManualClock(Date.UTC(2026, 0, 1))) {
  // auth_failures out of the way unless a test sets it: denials count there too.
  const cfg = auditConfig({ alerts: { enabled: true, batch_interval: '1h', max_per_minute: 1000, auth_failures: { threshold: 1000, window: '1m' }, ...alerts } }).alerts;
  const engine = new AlertEngine(cfg, { clock, logger: memoryLogger() });
  return {
    engine,
    clock,
    cfg,
    see: (ex: Exchange) => engine.observe(recordOf(ex, clock)),
    /** Closes the engine (its one flush) and returns every alert it raised. */
    alerts: async (): Promise<Alert[]> => {
      await engine.close();
      return engine.posted.flatMap((p) => p.alerts);
    },
  };
}
