/**
 * The shared vocabulary of ARCHITECTURE.md: Principal, Operation, Decision and the exchange.
 * Capabilities read these without importing each other (authz reads a Principal without authn).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatehouseError } from './errors.js';

export type AuthMethod = 'mtls' | 'token' | 'jwt' | 'api_key' | 'basic' | 'static' | 'header' | 'none';
export type PrincipalType = 'agent' | 'user' | 'service' | 'anonymous';
export type RiskLevel = 'low' | 'moderate' | 'high' | 'critical';

/** Identity set by a trusted front proxy such as `tailscale serve` (seed 001's audit record). */
export interface TailscaleIdentity {
  tailscale_user?: string;
  tailscale_name?: string;
  tailscale_node?: string;
  tailscale_tags?: string[];
  tailnet?: string;
}

export interface ClientCertIdentity {
  subject_cn?: string;
  san_dns?: string[];
  san_uri?: string[];
  fingerprint256?: string;
}

export interface NetworkIdentity {
  /** The client address as seen by Gatehouse, or the forwarded one from a trusted proxy. */
  source_ip: string;
  /** The TCP peer address (differs from source_ip behind a trusted proxy). */
  peer_ip: string;
  tls: boolean;
  tailscale?: TailscaleIdentity;
  client_cert?: ClientCertIdentity;
}

export interface Principal {
  id: string;
  type: PrincipalType;
  method: AuthMethod;
  /** Scopes as granted (bundles such as `readonly` stay as written; authz expands them). */
  scopes: readonly string[];
  tenant?: string;
  network: NetworkIdentity;
  /** Token id (jti) or key id, for revocation and usage analytics. Never the secret. */
  credential_id?: string;
  /**
   * ms since the epoch past which a new request with this credential is refused (its expiry plus the clock skew the
   * method allows); absent when it does not expire. Requests still being forwarded are ended then (credential-watch.ts).
   */
  valid_until?: number;
  /** Emergency operator: skips approval gates, always audited as break_glass (seed 001). */
  break_glass?: boolean;
  attributes: Record<string, unknown>;
}

export interface Operation {
  kind: 'http' | 'mcp';
  method: string;
  path: string;
  tenant?: string;
  namespace?: string;
  resource?: string;
  action?: string;
  /** MCP: the JSON-RPC method (tools/call, tools/list …) and, for tools/call, the tool and its arguments. */
  mcp_method?: string;
  tool?: string;
  args?: Record<string, unknown>;
  risk_level?: RiskLevel;
}

export interface ApprovalInfo {
  required: boolean;
  approved: boolean;
  id?: string;
  approver?: string;
  break_glass?: boolean;
}

export interface Decision {
  allow: boolean;
  /** Stable reason code: `scope_satisfied`, `scope_missing`, `tenant_mismatch`, `rbac_rule` … */
  reason: string;
  rule?: string;
  missing_scope?: string;
  scopes_used: string[];
  policy_version: string;
  risk_level?: RiskLevel;
  requires_approval?: boolean;
}

/** What a route forwards to. */
export interface RouteTarget {
  name: string;
  prefix: string;
  kind: 'http' | 'mcp';
}

/**
 * One request through the gateway. Each stage is a plain function over it.
 * A stage denies by throwing a GatehouseError (fail closed).
 */
export interface Exchange {
  readonly id: string;
  /** performance.now() at arrival. */
  readonly startedAt: number;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  /** The decoded, normalised path (no query), already checked against traversal. */
  readonly path: string;
  /** The raw query string without '?', or ''. */
  readonly query: string;
  readonly network: NetworkIdentity;
  route: RouteTarget | undefined;
  principal: Principal | undefined;
  operation: Operation | undefined;
  decision: Decision | undefined;
  approval: ApprovalInfo | undefined;
  /** Buffered request body, when a stage needed it (MCP classification, decryption). */
  body: Buffer | undefined;
  /** Headers added for the upstream by stages (identity headers, injected credentials). */
  upstreamHeaders: Record<string, string>;
  /**
   * Set by a stage whose upstream header must bind the request target the upstream receives (the identity signature):
   * the proxy calls it once with that target and sends the header it returns.
   */
  upstreamSigner: ((target: string) => [string, string]) | undefined;
  /** Response status once known. */
  status: number | undefined;
  error: GatehouseError | undefined;
  /** Free-form, audit-safe facts stages want recorded. */
  meta: Record<string, unknown>;
  /**
   * Set by a stage that must rewrite the upstream response (MCP tools/list filtering): the gateway then buffers
   * the response (bounded) and sends what this returns. Content type is `application/json` or `text/event-stream`.
   */
  responseFilter: ((body: Buffer, contentType: string) => Buffer) | undefined;
  /**
   * Set on an MCP route's GET stream (the legacy SSE transport answers there, to requests the stream never carried):
   * each event's data passes through this, which rewrites list answers to what the caller may use and throws when it
   * cannot tell (the event is then withheld). Absent on any other exchange.
   */
  streamFilter?: ((data: string) => string) | undefined;
  /**
   * Set by the throttle stage only on exchanges a bandwidth rule counts (limits.bandwidth): the proxy reports body
   * bytes as they pass. Absent, the proxy counts nothing.
   */
  byteMeter?: ByteMeter | undefined;
}

/** Body bytes of one exchange as they flow: `in` toward the upstream, `out` from it. Either is absent when nothing counts it. */
export interface ByteMeter {
  readonly in: ((bytes: number) => void) | undefined;
  readonly out: ((bytes: number) => void) | undefined;
}

export type Stage = (ex: Exchange) => void | Promise<void>;

/** Minimal pino-compatible logger, so capabilities log without importing pino or the gateway. */
export interface Logger {
  trace(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/**
 * One audit event as capabilities emit it. Field names follow seed 001's example record
 * (subject, tool, args, result_status, scopes, risk_level, approved, tailscale, error); the audit
 * writer adds timestamp, seq and the hash chain. See docs/audit.md for seed 002's names.
 */
export interface AuditEvent {
  event_type: string;
  result_status: 'success' | 'error' | 'denied';
  subject?: string;
  principal_type?: PrincipalType;
  auth_method?: AuthMethod;
  source_ip?: string;
  tailscale?: TailscaleIdentity;
  tenant?: string;
  namespace?: string;
  resource?: string;
  action?: string;
  tool?: string;
  args?: unknown;
  /** Scopes used by the decision (seed 001's "scopes"). */
  scopes?: string[];
  risk_level?: RiskLevel;
  approved?: boolean;
  approval?: { id?: string; approver?: string; required?: boolean; break_glass?: boolean };
  /** Secret-free error message (seed 001's jq looks for "Insufficient" in it). */
  error?: string;
  error_code?: string;
  latency_ms?: number;
  request_id?: string;
  user_agent?: string;
  method?: string;
  path?: string;
  status?: number;
  metadata?: Record<string, unknown>;
}

/** Where capabilities send audit events; the audit module implements it. Rejects when the event cannot be made durable. */
export interface AuditEmitter {
  emit(event: AuditEvent): Promise<void>;
}

/** What the gateway hands every stage factory. */
export interface StageDeps {
  logger: Logger;
  clock: import('./clock.js').Clock;
  store: import('./store.js').StateStore;
  audit: AuditEmitter;
}
