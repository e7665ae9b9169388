/**
 * The decision: Principal × Operation → Decision {allow, reason, rule or missing scope, scopes used, policy version}.
 * One function serves the authorize stage (which throws the error) and `gatehouse authz explain` (which prints it),
 * so what an operator is told is what the gateway does.
 */
import { GatehouseError } from '../core/errors.js';
import type { Decision, Operation, Principal, RiskLevel } from '../core/types.js';
import type { McpMethodPolicy } from './mcp-policy.js';
import { MCP_RESOURCE_METHODS } from './mcp-policy.js';
import type { RbacIndex } from './rbac.js';
import { isPermission, principalIssuer } from './rbac.js';
import type { CompiledRoute, RouteTable } from './routes.js';
import type { ScopeRegistry } from './scopes.js';
import type { Tenancy } from './tenancy.js';
import type { CompiledTool, ToolRegistry } from './tools.js';
import type { HostResolver } from './url-policy.js';

export interface DecisionOutcome {
  decision: Decision;
  /** Set when denied: the error the authorize stage throws. */
  error: GatehouseError | undefined;
}

export interface AuthorizerParts {
  scopes: ScopeRegistry;
  tools: ToolRegistry;
  routes: RouteTable;
  rbac: RbacIndex;
  tenancy: Tenancy;
  mcp: McpMethodPolicy;
  httpDefault: 'deny' | 'authenticated';
  /** Risk levels that always need approval (approval.require_for). */
  approvalFor: ReadonlySet<RiskLevel>;
  policyVersion: string;
  resolve: HostResolver;
}

const RISK_ORDER: Readonly<Record<RiskLevel, number>> = { low: 0, moderate: 1, high: 2, critical: 3 };
/** A request-supplied name, bounded for an error message. */
export const clip = (s: string, n = 128): string => (s.length > n ? `${s.slice(0, n)}…` : s);

/** Per-decision scratch: collects the facts a Decision reports. */
class Draft {
  rule: string | undefined;
  used: string[] = [];
  risk: RiskLevel | undefined;
  approval = false;
  constructor(readonly version: string) {}

  allow(reason: string): DecisionOutcome {
    return { decision: this.#decision(true, reason), error: undefined };
  }
  deny(reason: string, error: GatehouseError, missing?: string): DecisionOutcome {
    const d = this.#decision(false, reason);
    if (missing !== undefined) d.missing_scope = missing;
    return { decision: d, error };
  }
  #decision(allow: boolean, reason: string): Decision {
    const d: Decision = { allow, reason, scopes_used: this.used, policy_version: this.version };
    if (this.rule !== undefined) d.rule = this.rule;
    if (this.risk !== undefined) d.risk_level = this.risk;
    if (this.risk !== undefined || this.approval) d.requires_approval = this.approval;
    return d;
  }
}

export class Authorizer {
  constructor(readonly parts: AuthorizerParts) {}

  get policyVersion(): string {
    return this.parts.policyVersion;
  }

  /** May `principal` call `tool` as far as the registry and scopes go? The tools/list filter uses exactly this. */
  toolScopes(principal: Principal, tool: CompiledTool): { ok: boolean; missing?: string; used: string[] } {
    return this.parts.scopes.check(this.parts.scopes.expand(principal.scopes), tool.scopes);
  }

  canCallTool(principal: Principal, name: string): boolean {
    const tool = this.parts.tools.get(name);
    return tool !== undefined && this.toolScopes(principal, tool).ok;
  }

  canUseScopes(principal: Principal, required: readonly string[]): boolean {
    return this.parts.scopes.check(this.parts.scopes.expand(principal.scopes), required).ok;
  }

  /**
   * The decision for one operation. Synchronous unless a tool argument's URL constraint has to resolve a host
   * name (then a promise): the stage awaits only what is pending, so the usual request allocates no promise here.
   */
  decide(principal: Principal | undefined, op: Operation, route?: CompiledRoute): DecisionOutcome | Promise<DecisionOutcome> {
    const draft = new Draft(this.parts.policyVersion);
    if (!principal || principal.type === 'anonymous') {
      return draft.deny('unauthenticated', new GatehouseError('GH_AUTH_REQUIRED', 'Authentication is required for this operation.'));
    }
    if (op.kind === 'mcp') return this.#decideMcp(principal, op, draft);
    return this.#decideHttp(principal, op, draft, route);
  }

  /** A batch is allowed only when every message is; the first denial is the answer. */
  async decideAll(principal: Principal | undefined, ops: readonly Operation[]): Promise<DecisionOutcome> {
    const used = new Set<string>();
    let risk: RiskLevel | undefined;
    let approval = false;
    let last: DecisionOutcome | undefined;
    for (const op of ops) {
      const out = await this.decide(principal, op);
      if (!out.decision.allow) return out;
      for (const s of out.decision.scopes_used) used.add(s);
      const r = out.decision.risk_level;
      if (r && (!risk || RISK_ORDER[r] > RISK_ORDER[risk])) risk = r;
      approval ||= out.decision.requires_approval === true;
      last = out;
    }
    const draft = new Draft(this.parts.policyVersion);
    draft.used = [...used];
    draft.risk = risk;
    draft.approval = approval;
    draft.rule = ops.length === 1 ? last?.decision.rule : 'batch';
    return draft.allow(ops.length === 1 ? (last?.decision.reason ?? 'batch') : 'batch');
  }

  #decideMcp(principal: Principal, op: Operation, draft: Draft): DecisionOutcome | Promise<DecisionOutcome> {
    const method = op.mcp_method;
    if (method === undefined) {
      // SSE GET, session DELETE, responses to server requests (POST). Only a POST body is classified, so any other
      // HTTP method would carry a body (a tools/call in a PUT) to the upstream unchecked.
      if (op.method === 'POST' || op.method === 'GET' || op.method === 'DELETE') return draft.allow('mcp_transport');
      return draft.deny(
        'mcp_method_unknown',
        new GatehouseError('GH_FORBIDDEN', `Forbidden: HTTP ${clip(op.method, 16)} is not allowed on an MCP endpoint`, { data: { reason: 'mcp_method_unknown' } }),
      );
    }
    if (method === 'tools/call') return this.#decideTool(principal, op, draft);
    if (this.parts.mcp.isPlain(method)) return draft.allow('mcp_protocol');
    if (method === 'prompts/get' || MCP_RESOURCE_METHODS.includes(method)) {
      const isPrompt = method === 'prompts/get';
      const target = op.resource ?? '';
      const policy = isPrompt ? this.parts.mcp.prompt(target.slice('prompt:'.length)) : this.parts.mcp.resource(target);
      if (!policy) {
        const what = isPrompt ? 'prompt' : 'resource';
        return draft.deny(`${what}_unknown`, new GatehouseError('GH_FORBIDDEN', `Forbidden: ${what} ${clip(target)} is not allowed by policy`, { data: { reason: `${what}_unknown` } }));
      }
      draft.rule = policy.rule;
      return this.#requireScopes(principal, policy.scopes, `${method} ${clip(target)}`, draft);
    }
    return draft.deny(
      'mcp_method_unknown',
      new GatehouseError('GH_FORBIDDEN', `Forbidden: MCP method ${clip(method)} is not allowed by policy`, { data: { reason: 'mcp_method_unknown' } }),
    );
  }

  #requireScopes(principal: Principal, required: readonly string[], what: string, draft: Draft): DecisionOutcome {
    const check = this.parts.scopes.check(this.parts.scopes.expand(principal.scopes), required);
    draft.used = check.used;
    if (!check.ok) {
      const missing = check.missing as string;
      const err = new GatehouseError('GH_SCOPE_MISSING', `Insufficient scope: ${what} requires ${missing}`, { data: { missing_scope: missing } });
      return draft.deny('scope_missing', err, missing);
    }
    return draft.allow('scope_satisfied');
  }

  #decideTool(principal: Principal, op: Operation, draft: Draft): DecisionOutcome | Promise<DecisionOutcome> {
    const name = op.tool ?? '';
    const tool = this.parts.tools.get(name);
    if (!tool) {
      return draft.deny('tool_unknown', new GatehouseError('GH_TOOL_UNKNOWN', `Unknown tool: ${clip(name)} is not in the policy registry`, { data: { tool: clip(name) } }));
    }
    draft.rule = tool.rule;
    draft.risk = tool.risk_level;
    draft.approval = tool.requires_approval || this.parts.approvalFor.has(tool.risk_level);
    const scoped = this.#requireScopes(principal, tool.scopes, name, draft);
    if (!scoped.decision.allow) return scoped;
    const refusedArgument = (e: unknown): DecisionOutcome => {
      if (e instanceof GatehouseError) return draft.deny('argument_refused', e);
      throw e;
    };
    let pending: Promise<void> | undefined;
    try {
      pending = this.parts.tools.checkArguments(tool, op.args ?? {}, this.parts.resolve);
    } catch (e) {
      return refusedArgument(e);
    }
    if (pending) return pending.then(() => draft.allow('scope_satisfied'), refusedArgument);
    return draft.allow('scope_satisfied');
  }

  /**
   * http_default: authenticated, for a path no rule matched: below a rule's tenant prefix (`/t/:tenant`) the request is
   * that tenant's all the same (a list, a sub-resource, an export no rule describes), so it must pass the tenant checks
   * first: a known tenant, and the principal's own tenant or an explicit cross-tenant grant. A principal bound to no
   * tenant reaches a tenant's paths through rules (and their ACLs) only: none is there to judge it.
   */
  #tenantPrefixDefault(principal: Principal, op: Operation, draft: Draft): DecisionOutcome {
    const used: string[] = [];
    for (const { rule, tenant } of this.parts.routes.tenantsAddressed(op.path)) {
      if (!this.parts.tenancy.isKnown(tenant)) {
        draft.rule = rule;
        return draft.deny('tenant_unknown', new GatehouseError('GH_TENANT_UNKNOWN', `Unknown tenant: ${clip(tenant)}`, { data: { tenant: clip(tenant) } }));
      }
      if (principal.tenant === tenant) continue;
      const adminVia = this.parts.tenancy.adminGrant(principal, tenant);
      if (adminVia === undefined) {
        draft.rule = rule;
        const who = principal.tenant === undefined ? 'a principal bound to no tenant' : `a principal of tenant ${clip(principal.tenant)}`;
        return draft.deny(
          'tenant_mismatch',
          new GatehouseError('GH_TENANT_MISMATCH', `Forbidden: ${who} may not act in tenant ${clip(tenant)} outside its rules`, { data: { tenant: clip(tenant) } }),
        );
      }
      if (!used.includes(adminVia)) used.push(adminVia);
    }
    draft.used = used;
    return draft.allow('http_default');
  }

  #decideHttp(principal: Principal, op: Operation, draft: Draft, given?: CompiledRoute): DecisionOutcome {
    const route = given ?? this.parts.routes.match(op.method, op.path)?.route;
    if (!route) {
      const covering = this.parts.httpDefault === 'authenticated' ? this.parts.routes.covering(op.path) : undefined;
      if (covering) {
        draft.rule = covering.rule;
        return draft.deny(
          'rule_not_matched',
          new GatehouseError('GH_FORBIDDEN', `Forbidden: ${clip(op.method, 16)} ${clip(op.path)} has the shape of rule ${covering.rule} but does not match it (method or parameter value)`, {
            data: { reason: 'rule_not_matched' },
          }),
        );
      }
      if (this.parts.httpDefault === 'authenticated') return this.#tenantPrefixDefault(principal, op, draft);
      return draft.deny(
        'route_unmatched',
        new GatehouseError('GH_FORBIDDEN', `Forbidden: no authorization rule matches ${clip(op.method, 16)} ${clip(op.path)}`, { data: { reason: 'route_unmatched' } }),
      );
    }
    draft.rule = route.rule;
    draft.risk = route.risk_level;
    draft.approval = route.requires_approval || this.parts.approvalFor.has(route.risk_level);
    let adminVia: string | undefined;
    if (op.tenant !== undefined) {
      const tenant = op.tenant;
      if (!this.parts.tenancy.isKnown(tenant)) {
        return draft.deny('tenant_unknown', new GatehouseError('GH_TENANT_UNKNOWN', `Unknown tenant: ${clip(tenant)}`, { data: { tenant: clip(tenant) } }));
      }
      adminVia = this.parts.tenancy.adminGrant(principal, tenant);
      if (principal.tenant !== undefined && principal.tenant !== tenant && adminVia === undefined) {
        return draft.deny(
          'tenant_mismatch',
          new GatehouseError('GH_TENANT_MISMATCH', `Forbidden: a principal of tenant ${clip(principal.tenant)} may not act in tenant ${clip(tenant)}`, {
            data: { tenant: clip(tenant) },
          }),
        );
      }
    }
    if (route.scopes.length > 0) {
      const scoped = this.#requireScopes(principal, route.scopes, route.rule, draft);
      if (!scoped.decision.allow) return scoped;
    }
    if (route.rbac && op.tenant !== undefined) {
      const action = op.action ?? '';
      if (adminVia !== undefined) {
        draft.used = [...draft.used, adminVia];
        return draft.allow(principal.tenant !== undefined && principal.tenant !== op.tenant ? 'cross_tenant_grant' : 'tenant_admin');
      }
      const rule = isPermission(action) ? this.parts.rbac.find(op.tenant, op.namespace ?? '', principal.id, op.resource ?? '*', action, principal.method, principalIssuer(principal)) : undefined;
      if (rule === undefined) {
        const where = `${clip(op.tenant)}/${clip(op.namespace ?? '*')}`;
        return draft.deny(
          'rbac_no_rule',
          new GatehouseError('GH_FORBIDDEN', `Forbidden: no ACL rule grants ${action} on ${clip(op.resource ?? '*')} in ${where} to ${clip(principal.id)}`, {
            data: { reason: 'rbac_no_rule', permission: action },
          }),
        );
      }
      draft.rule = rule;
      return draft.allow('rbac_rule');
    }
    return draft.allow(route.scopes.length > 0 ? 'scope_satisfied' : 'any_authenticated');
  }
}
