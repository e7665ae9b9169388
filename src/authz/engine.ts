/**
 * The policy engine the gateway composes: classify → authorize → approve stages over one Exchange, plus the
 * JSON-RPC error builder for MCP routes and explain() for the CLI. Built and validated once at load.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ApprovalGate, ApprovalStore, canonicalJson, loadApprovalKey, sha256Hex } from '../approval/index.js';
import type { GatehouseConfig } from '../config/schema/index.js';
import { createRedactor } from '../redact/index.js';
import { declaresContentCoding, rawHeaderValues } from '../core/net.js';
import { GatehouseError } from '../core/errors.js';
import type { Decision, Exchange, Operation, Principal, RiskLevel, Stage, StageDeps } from '../core/types.js';
import { loadAclFiles, type AclRule } from './acl.js';
import { APPROVAL_META_KEY, classifyMcpMessage } from './classify.js';
import { Authorizer, type DecisionOutcome } from './decide.js';
import { checkJsonRpcCharset, JSONRPC_PARSE_ERROR, parseJsonRpc, type JsonRpcId, type ParsedJsonRpc } from './jsonrpc.js';
import { buildJsonRpcError } from './jsonrpc-error.js';
import { makeListFilter, makeStreamListFilter, type ListItemCheck, type ListKind } from './list-filter.js';
import { MCP_FILTERED_LISTS, McpMethodPolicy } from './mcp-policy.js';
import { RbacIndex } from './rbac.js';
import { RouteTable, type CompiledRoute } from './routes.js';
import { ScopeRegistry } from './scopes.js';
import { ResidencyGuard } from './residency.js';
import { Tenancy } from './tenancy.js';
import { ToolRegistry } from './tools.js';
import { systemResolver, type HostResolver } from './url-policy.js';

export const APPROVAL_HEADER = 'x-gatehouse-approval';

export interface PolicyEngineOptions {
  /** DNS resolution for URL allow-lists (tests inject one). */
  resolve?: HostResolver;
  /** Directory relative acl_files are read from (default: process.cwd()). */
  baseDir?: string;
}

export interface PolicyEngine {
  readonly policyVersion: string;
  classify: Stage;
  authorize: Stage;
  approve: Stage;
  /** The JSON-RPC error body (HTTP 200) for a denial on an MCP route. */
  jsonRpcError(err: GatehouseError, ex: Exchange): Buffer;
  /** The decision for a principal and an operation, never throwing for a denial. */
  explain(principal: Principal, operation: Operation): Promise<Decision>;
  /** The decision and the error the authorize stage would throw on gateway route `route`, data residency included. */
  decideAt(principal: Principal, operation: Operation, route?: string): Promise<DecisionOutcome>;
  /** Data residency (residency.region set), else undefined. */
  readonly residency: ResidencyGuard | undefined;
  /** Classifies an HTTP request as the classify stage would (for explain). */
  classifyHttp(method: string, path: string): Operation;
  /** The approval mode an allowed decision would go through. */
  approvalModeFor(operation: Operation, decision: Decision): 'none' | 'webhook' | 'queue' | 'deny' | 'unavailable' | 'break_glass';
  readonly approvals: ApprovalStore;
  readonly authorizer: Authorizer;
  /** May this principal decide approvals (admin API)? */
  mayApprove(principal: Principal): boolean;
  /** May this principal see and decide approval requests of `tenant` (admin API)? */
  mayActInTenant(principal: Principal, tenant: string | undefined): boolean;
  /**
   * Whether the request body must be buffered before the policy stages: an HTTP request with a body on a route whose
   * rule may require approval. The approval then binds the exact bytes (their SHA-256), and the gateway forwards
   * exactly those bytes, so approving one body never lets another through.
   */
  needsBody(ex: Exchange): boolean;
  /** approval.queue.max_window in ms. */
  readonly maxWindowMs: number;
  close(): Promise<void>;
}

interface ExchangeState {
  parsed: ParsedJsonRpc | undefined;
  ops: Operation[];
  approvalIds: Array<string | undefined>;
  route: CompiledRoute | undefined;
}

/** The scope an admin-API principal needs to approve or deny. */
export const APPROVER_SCOPE = 'admin';

/**
 * What an HTTP approval binds beyond method, path and query: the body's SHA-256 and length (the approval digests these
 * under its key; neither is shown). The approver reads the body itself (approval/view.ts). No body: nothing more.
 */
function httpApprovalArgs(body: Buffer | undefined): Record<string, unknown> {
  if (body === undefined || body.length === 0) return {};
  return { body_sha256: createHash('sha256').update(body).digest('hex'), body_bytes: body.length };
}

/** A header's value as one string (several lines joined as HTTP joins them), or undefined. */
function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Every Content-Type header as sent (the proxy forwards duplicates Node's parsed headers would hide). */
function contentTypes(ex: Exchange): string[] {
  const raw = ex.req.rawHeaders;
  if (!Array.isArray(raw)) {
    const h = ex.req.headers['content-type'];
    return typeof h === 'string' ? [h] : [];
  }
  return rawHeaderValues(raw, 'content-type');
}

/**
 * Whether the request declares a Content-Encoding other than identity (every header line as sent: all are forwarded).
 * The policy reads the body as it arrived, while an upstream (Express's body-parser, the MCP SDK behind it) decodes it
 * by this header first: what was authorized, hashed for an approval or re-serialised would not be what it runs.
 */
function contentEncoded(ex: Exchange): boolean {
  const raw = ex.req.rawHeaders;
  const h = ex.req.headers['content-encoding'];
  return declaresContentCoding(Array.isArray(raw) ? raw : h === undefined ? [] : ['content-encoding', h]);
}

function computePolicyVersion(cfg: GatehouseConfig, rules: readonly AclRule[]): string {
  const { policy_version: _ignored, acl_files: _files, ...rest } = cfg.authz;
  void _ignored;
  void _files;
  const text = canonicalJson({ authz: rest, acl: rules.map((r) => (r.method === undefined ? [r.tenant, r.namespace, r.principal, r.resource, r.permissions] : [r.tenant, r.namespace, r.principal, r.resource, r.permissions, r.method, r.issuer ?? null])), approval: cfg.approval.require_for });
  return `sha256:${sha256Hex(text).slice(0, 12)}`;
}

export async function createPolicyEngine(cfg: GatehouseConfig, deps: StageDeps, opts: PolicyEngineOptions = {}): Promise<PolicyEngine> {
  const a = cfg.authz;
  const scopes = new ScopeRegistry(a.scopes);
  const tools = new ToolRegistry(a, scopes);
  const routes = new RouteTable(a.routes, scopes);
  const mcp = new McpMethodPolicy(a.mcp, scopes);
  const rules = await loadAclFiles(a.acl_files, opts.baseDir ?? process.cwd(), a.resource_types);
  const rbac = new RbacIndex(rules);
  if (a.tenants.length > 0) {
    const known = new Set(a.tenants);
    for (const r of rules) if (!known.has(r.tenant)) throw new GatehouseError('GH_CONFIG_INVALID', `${r.source}: tenant "${r.tenant}" is not in authz.tenants`);
  }
  for (const [i, g] of a.cross_tenant_grants.entries()) {
    for (const t of g.tenants) {
      if (t !== '*' && a.tenants.length > 0 && !a.tenants.includes(t)) throw new GatehouseError('GH_CONFIG_INVALID', `authz.cross_tenant_grants[${i}]: unknown tenant "${t}"`);
    }
  }
  const tenancy = new Tenancy(a.tenants.length > 0 ? a.tenants : rbac.tenants(), a.cross_tenant_grants);
  // Approval views are redacted with the `redact:` section's rules and keys, as the audit log is (per value, though).
  // The digest key is shared through the state directory (or approval.hmac_key_file) by every process using the
  // store; a memory store is this process's alone.
  const key = deps.store.kind === 'memory' ? randomBytes(32) : loadApprovalKey({ keyFile: cfg.approval.hmac_key_file, stateDir: cfg.state_dir });
  const gate = await ApprovalGate.create(cfg.approval, deps, (name) => tools.has(name), { redactor: createRedactor(cfg.redact), sensitiveKeys: cfg.redact.keys, key });
  const policyVersion = a.policy_version ?? computePolicyVersion(cfg, rules);
  const authorizer = new Authorizer({
    scopes,
    tools,
    routes,
    rbac,
    tenancy,
    mcp,
    httpDefault: a.http_default,
    approvalFor: new Set<RiskLevel>(cfg.approval.require_for),
    policyVersion,
    resolve: opts.resolve ?? systemResolver,
  });
  const residency = cfg.residency.region !== undefined ? new ResidencyGuard(cfg.residency, cfg.routes) : undefined;
  return new Engine(authorizer, gate, mcp, routes, cfg.approval.queue.max_window, residency);
}

/** An allowed decision turned into a data-residency denial (the scopes it used stay: they were satisfied). */
function residencyDenial(d: Decision, rule: string): Decision {
  const { requires_approval: _approval, ...rest } = d;
  void _approval;
  return { ...rest, allow: false, reason: 'data_residency', rule };
}

class Engine implements PolicyEngine {
  readonly #state = new WeakMap<Exchange, ExchangeState>();
  readonly approvals: ApprovalStore;

  constructor(
    readonly authorizer: Authorizer,
    readonly gate: ApprovalGate,
    readonly mcp: McpMethodPolicy,
    readonly routes: RouteTable,
    readonly maxWindowMs: number,
    readonly residency: ResidencyGuard | undefined,
  ) {
    this.approvals = gate.queue;
    this.#httpApprovals = routes.some((r) => r.requires_approval || authorizer.parts.approvalFor.has(r.risk_level));
  }

  /** Some HTTP route rule may require approval (most configurations have none: needsBody then costs nothing). */
  readonly #httpApprovals: boolean;

  needsBody(ex: Exchange): boolean {
    if (!this.#httpApprovals || ex.route?.kind !== 'http' || ex.body !== undefined) return false;
    const h = ex.req.headers;
    const cl = h['content-length'];
    if ((cl === undefined || cl === '0') && h['transfer-encoding'] === undefined) return false;
    const m = this.routes.match(ex.method, ex.path);
    return m !== undefined && (m.route.requires_approval || this.authorizer.parts.approvalFor.has(m.route.risk_level));
  }

  get policyVersion(): string {
    return this.authorizer.policyVersion;
  }

  classify: Stage = (ex) => {
    if (ex.route?.kind === 'mcp') {
      if (ex.method !== 'POST') {
        ex.operation = { kind: 'mcp', method: ex.method, path: ex.path };
        return;
      }
      if (contentEncoded(ex)) {
        throw new GatehouseError('GH_JSONRPC_INVALID', 'Invalid JSON-RPC: the body must be sent without Content-Encoding', { data: { jsonrpc_code: JSONRPC_PARSE_ERROR } });
      }
      checkJsonRpcCharset(contentTypes(ex));
      const parsed = parseJsonRpc(ex.body ?? Buffer.alloc(0), this.mcp.maxBatch);
      ex.body = parsed.canonical; // forward exactly what was authorized
      const classified = parsed.messages.map((m) => classifyMcpMessage(m, ex.method, ex.path));
      const ops = classified.map((c) => c.operation);
      this.#state.set(ex, { parsed, ops, approvalIds: classified.map((c) => c.approvalId), route: undefined });
      ex.operation = parsed.batch ? this.#batchOperation(ex, ops) : (ops[0] as Operation);
      return;
    }
    const m = this.routes.match(ex.method, ex.path);
    ex.operation = m?.operation ?? this.#unmatched(ex.method, ex.path);
    this.#state.set(ex, { parsed: undefined, ops: [ex.operation], approvalIds: [], route: m?.route });
  };

  #batchOperation(ex: Exchange, ops: readonly Operation[]): Operation {
    ex.meta['mcp_batch'] = ops.map((o) => (o.tool ? `${o.mcp_method}:${o.tool}` : (o.mcp_method ?? 'response')));
    const op: Operation = { kind: 'mcp', method: ex.method, path: ex.path, mcp_method: 'batch' };
    const calls = ops.filter((o) => o.mcp_method === 'tools/call');
    if (calls.length === 1) {
      op.tool = calls[0]?.tool as string;
      op.args = calls[0]?.args as Record<string, unknown>;
    }
    return op;
  }

  /** Synchronous unless the decision has to wait (a batch, a host name to resolve): then a promise, as stages may. */
  authorize: Stage = (ex) => {
    const op = ex.operation;
    if (!op) throw new GatehouseError('GH_INTERNAL', 'authorize ran before classify');
    const st = this.#state.get(ex);
    const out = st?.parsed?.batch ? this.authorizer.decideAll(ex.principal, st.ops) : this.authorizer.decide(ex.principal, st?.ops[0] ?? op, st?.route);
    if (out instanceof Promise) return out.then((o) => this.#applyDecision(ex, op, st, o));
    this.#applyDecision(ex, op, st, out);
    return undefined;
  };

  #applyDecision(ex: Exchange, op: Operation, st: ExchangeState | undefined, out: DecisionOutcome): void {
    ex.decision = out.decision;
    if (out.decision.risk_level !== undefined) op.risk_level = out.decision.risk_level;
    if (out.error) throw out.error;
    if (this.residency) {
      const verdict = this.residency.check(ex.route?.name, op.tenant ?? ex.principal?.tenant);
      if (verdict?.allow === false) {
        ex.decision = residencyDenial(out.decision, verdict.rule);
        throw verdict.error;
      }
      // Seed 002: an audit trail for any cross-region data movement.
      if (verdict) ex.meta['residency'] = verdict.crossing;
    }
    if (st?.parsed && ex.principal) this.#installListFilter(ex, st.parsed, ex.principal);
    // An MCP GET stream: the legacy SSE transport answers lists there, to POSTs this stream never saw.
    else if (op.kind === 'mcp' && ex.method === 'GET' && ex.principal) ex.streamFilter = makeStreamListFilter(this.#itemCheck(ex.principal));
  }

  /** What the caller may see of a list: tools it may call, prompts and resources whose scopes it holds. */
  #itemCheck(principal: Principal): ListItemCheck {
    return (kind, key) => {
      if (kind === 'tools') return this.authorizer.canCallTool(principal, key);
      const policy = kind === 'prompts' ? this.mcp.prompt(key) : this.mcp.resource(key);
      return policy !== undefined && this.authorizer.canUseScopes(principal, policy.scopes);
    };
  }

  /**
   * Every MCP POST that carries a request gets the list filter, not only one that asks for a list: the MCP SDK routes
   * an answer to the stream of the latest POST using its id (_requestToStreamMapping), so a client reusing a slow
   * tools/list's id in an allowed tools/call receives the list on that call's stream. The POST's own list requests are
   * filtered by id; any other answer by its shape (list-filter.ts: a result holding a list array, tool results never).
   * `responseFilter` judges a whole body (application/json); `streamFilter` judges an event stream event by event, so a
   * long tool stream need not be buffered where the proxy reads POST streams that way. A POST of only notifications and
   * responses is answered 202 without a body (MCP streamable HTTP transport): no request id, no answer to route there.
   */
  #installListFilter(ex: Exchange, parsed: ParsedJsonRpc, principal: Principal): void {
    const lists = new Map<JsonRpcId, ListKind>();
    let requests = false;
    for (const m of parsed.messages) {
      if (m.kind !== 'request') continue;
      requests = true;
      if (m.method !== undefined && MCP_FILTERED_LISTS.includes(m.method)) lists.set(m.id as JsonRpcId, m.method.split('/')[0] as ListKind);
    }
    if (!requests) return;
    const keep = this.#itemCheck(principal);
    ex.responseFilter = makeListFilter(lists, keep);
    ex.streamFilter = makeStreamListFilter(keep, lists);
  }

  /** Returns at once (no promise) when the decision needs no approval, the usual case. */
  approve: Stage = (ex) => {
    const decision = ex.decision;
    const op = ex.operation;
    if (!decision?.allow || !op) throw new GatehouseError('GH_INTERNAL', 'approve ran before authorize');
    if (!decision.requires_approval) return undefined;
    return this.#approve(ex, decision, op);
  };

  async #approve(ex: Exchange, decision: Decision, op: Operation): Promise<void> {
    const principal = ex.principal as Principal;
    const st = this.#state.get(ex);
    if (st?.parsed?.batch && st.ops.length > 1) {
      throw new GatehouseError('GH_APPROVAL_DENIED', 'Approval denied: calls that need approval cannot be batched; send each in its own request', {
        data: { reason: 'batched' },
      });
    }
    const single = st?.ops[0] ?? op;
    const header = ex.req.headers[APPROVAL_HEADER];
    const approvalId = (typeof header === 'string' ? header : undefined) ?? st?.approvalIds[0];
    const isTool = single.kind === 'mcp';
    // The approval binds the body's bytes (their SHA-256) and shows them to the approver; an upstream would run what they
    // decode to. Refused before any approval request is made.
    if (!isTool && ex.body !== undefined && ex.body.length > 0 && contentEncoded(ex)) {
      throw new GatehouseError('GH_BAD_REQUEST', 'Bad request: a request body that needs approval must be sent without Content-Encoding', { data: { reason: 'body_encoded' } });
    }
    const subject = isTool ? (single.tool ?? '') : `${op.method} ${op.path}${ex.query ? `?${ex.query}` : ''}`;
    const controller = new AbortController();
    const onClose = (): void => {
      if (!ex.res.writableFinished) controller.abort();
    };
    ex.res.once('close', onClose);
    try {
      ex.approval = await this.gate.approve({
        principal,
        kind: isTool ? 'tool' : 'http',
        subject,
        ...(isTool && single.tool !== undefined ? { tool: single.tool } : {}),
        ...(ex.route !== undefined ? { route: ex.route.name } : {}),
        args: isTool ? (single.args ?? {}) : httpApprovalArgs(ex.body),
        ...(!isTool && ex.body !== undefined && ex.body.length > 0 ? { body: { bytes: ex.body, contentEncoding: headerText(ex.req.headers['content-encoding']) } } : {}),
        ...(single.tenant !== undefined && single.tenant !== principal.tenant ? { operationTenant: single.tenant } : {}),
        risk: decision.risk_level ?? 'critical',
        ...(approvalId !== undefined ? { approvalId } : {}),
        requestId: ex.id,
        signal: controller.signal,
      });
    } finally {
      ex.res.off('close', onClose);
    }
  }

  jsonRpcError(err: GatehouseError, ex: Exchange): Buffer {
    return buildJsonRpcError(err, this.#state.get(ex)?.parsed);
  }

  async explain(principal: Principal, operation: Operation): Promise<Decision> {
    return (await this.decideAt(principal, operation)).decision;
  }

  async decideAt(principal: Principal, operation: Operation, route?: string): Promise<DecisionOutcome> {
    const out = await this.authorizer.decide(principal, operation);
    if (!out.decision.allow || !this.residency) return out;
    const verdict = this.residency.check(route, operation.tenant ?? principal.tenant);
    return verdict?.allow === false ? { decision: residencyDenial(out.decision, verdict.rule), error: verdict.error } : out;
  }

  classifyHttp(method: string, path: string): Operation {
    return this.routes.match(method, path)?.operation ?? this.#unmatched(method, path);
  }

  /** A request no rule matches; below a tenant prefix it names the tenant it addresses (audit, data residency). */
  #unmatched(method: string, path: string): Operation {
    const op: Operation = { kind: 'http', method, path };
    const tenant = this.routes.tenantsAddressed(path)[0]?.tenant;
    if (tenant !== undefined) op.tenant = tenant;
    return op;
  }

  approvalModeFor(operation: Operation, decision: Decision): 'none' | 'webhook' | 'queue' | 'deny' | 'unavailable' | 'break_glass' {
    if (!decision.requires_approval) return 'none';
    return this.gate.modeFor(operation.tool, decision.risk_level ?? 'critical');
  }

  mayApprove(principal: Principal): boolean {
    return this.authorizer.canUseScopes(principal, [APPROVER_SCOPE]);
  }

  /**
   * Approvals API: a principal bound to a tenant sees and decides that tenant's requests, and another tenant's only
   * through an explicit cross-tenant admin grant (tenant:<id>:admin, tenant:*:admin, authz.cross_tenant_grants), as
   * for any other resource. A principal bound to no tenant reaches all.
   */
  mayActInTenant(principal: Principal, tenant: string | undefined): boolean {
    if (principal.tenant === undefined || principal.tenant === tenant) return true;
    return tenant !== undefined && this.authorizer.parts.tenancy.adminGrant(principal, tenant) !== undefined;
  }

  async close(): Promise<void> {
    // The store belongs to the gateway (deps.store); the approval webhook's connections are ours.
    await this.gate.close();
  }
}

export { APPROVAL_META_KEY };
