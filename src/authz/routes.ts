/**
 * HTTP classification rules: method + path pattern with named parameters → Operation
 * (seed 002's scope hierarchy tenant → namespace → stream/cache → key), e.g.
 * `/t/:tenant/ns/:namespace/streams/:stream` → resource `stream:{stream}`, publish on POST, subscribe on GET.
 */
import type { RouteRuleConfig } from '../config/schema/authz.js';
import { GatehouseError } from '../core/errors.js';
import { nullObject } from '../core/safe.js';
import type { Operation, RiskLevel } from '../core/types.js';
import { isPermission } from './rbac.js';
import type { ScopeRegistry } from './scopes.js';

type Segment = { literal: string; folded: string; param?: undefined } | { param: string; literal?: undefined; folded?: undefined };
type TemplatePart = { text: string; index?: undefined } | { index: number; text?: undefined };

export interface CompiledRoute {
  readonly rule: string;
  readonly segments: readonly Segment[];
  readonly rest: boolean;
  readonly methods: ReadonlySet<string> | undefined;
  readonly actions: Readonly<Record<string, string>> | undefined;
  readonly action: string | undefined;
  readonly resource: readonly TemplatePart[] | undefined;
  /** Positions of :tenant and :namespace among the bound parameters (-1 when absent). */
  readonly tenantAt: number;
  readonly namespaceAt: number;
  readonly scopes: readonly string[];
  /** The action is an ACL permission checked in the tenant named by :tenant. */
  readonly rbac: boolean;
  readonly anyAuthenticated: boolean;
  readonly risk_level: RiskLevel;
  readonly requires_approval: boolean;
}

export interface RouteMatch {
  route: CompiledRoute;
  operation: Operation;
}

// Parameter values: one plain path segment. '*' and '.' / '..' never bind (they mean something in ACLs and paths).
const PARAM_VALUE = /^[A-Za-z0-9_~-][A-Za-z0-9_.~-]{0,127}$/;
const PARAM_NAME = /^[a-z_][a-z0-9_]{0,31}$/;

function configError(path: string, message: string): GatehouseError {
  return new GatehouseError('GH_CONFIG_INVALID', `${path}: ${message}`);
}

function compileTemplate(tpl: string, params: readonly string[], where: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let i = 0;
  while (i < tpl.length) {
    const open = tpl.indexOf('{', i);
    if (open === -1) {
      parts.push({ text: tpl.slice(i) });
      break;
    }
    const close = tpl.indexOf('}', open);
    if (close === -1) throw configError(where, 'unclosed "{" in resource template');
    if (open > i) parts.push({ text: tpl.slice(i, open) });
    const name = tpl.slice(open + 1, close);
    if (!params.includes(name)) throw configError(where, `resource template names "{${name}}", which the path does not bind`);
    parts.push({ index: params.indexOf(name) });
    i = close + 1;
  }
  return parts;
}

export function compileRoute(cfg: RouteRuleConfig, index: number, scopes: ScopeRegistry): CompiledRoute {
  const where = `authz.routes[${index}]`;
  const raw = cfg.path.split('/').slice(1);
  const segments: Segment[] = [];
  const params: string[] = [];
  let rest = false;
  raw.forEach((s, i) => {
    if (s === '*') {
      if (i !== raw.length - 1) throw configError(`${where}.path`, '"*" is allowed only as the last segment');
      rest = true;
    } else if (s.startsWith(':')) {
      const name = s.slice(1);
      if (!PARAM_NAME.test(name)) throw configError(`${where}.path`, `invalid parameter name ":${name}"`);
      if (params.includes(name)) throw configError(`${where}.path`, `parameter ":${name}" appears twice`);
      params.push(name);
      segments.push({ param: name });
    } else {
      if (s.includes('*') || s.includes(':')) throw configError(`${where}.path`, `segment "${s}" mixes literal text with * or :`);
      segments.push({ literal: s, folded: foldSegment(s) });
    }
  });
  if (cfg.actions && cfg.methods) throw configError(where, 'give either methods or actions, not both');
  if (cfg.actions && cfg.action) throw configError(where, 'give either action or actions, not both');
  for (const s of cfg.scopes) if (!scopes.isScope(s)) throw configError(`${where}.scopes`, `unknown scope "${s}"`);
  const rbac = cfg.rbac && params.includes('tenant');
  if (rbac) {
    const actions = cfg.actions ? Object.values(cfg.actions) : cfg.action ? [cfg.action] : [];
    if (actions.length === 0) throw configError(where, 'a tenant route needs action or actions naming ACL permissions');
    for (const a of actions) if (!isPermission(a)) throw configError(where, `unknown permission "${a}" (an ACL permission is needed on a tenant route)`);
  }
  if (cfg.scopes.length === 0 && !rbac && !cfg.any_authenticated) {
    throw configError(where, 'the rule requires nothing: give scopes, a :tenant with ACL permissions, or any_authenticated: true');
  }
  const actions = cfg.actions ? Object.assign(nullObject<string>(), cfg.actions) : undefined;
  return Object.freeze({
    rule: `route:${cfg.name ?? index}`,
    segments,
    rest,
    methods: actions ? new Set(Object.keys(actions)) : cfg.methods ? new Set(cfg.methods) : undefined,
    actions,
    action: cfg.action,
    resource: cfg.resource === undefined ? undefined : compileTemplate(cfg.resource, params, `${where}.resource`),
    tenantAt: params.indexOf('tenant'),
    namespaceAt: params.indexOf('namespace'),
    scopes: [...cfg.scopes],
    rbac,
    anyAuthenticated: cfg.any_authenticated,
    risk_level: cfg.risk_level,
    requires_approval: cfg.requires_approval,
  });
}

/**
 * The bound parameter values in path order, or undefined when the path does not match. Literal segments compare
 * case-insensitively (`folded` is `parts` lower-cased): Express, ASP.NET and others route `/NS/…` to the `/ns/…`
 * handler, so a case variant must be judged by the rule, never left to http_default. With `shape`, any non-empty
 * segment fills a parameter (values are not collected): whether the path is one the rule is about at all.
 */
function matchPath(route: CompiledRoute, parts: readonly string[], folded: readonly string[], shape = false): string[] | undefined {
  if (route.rest ? parts.length < route.segments.length : parts.length !== route.segments.length) return undefined;
  const values: string[] = [];
  for (let i = 0; i < route.segments.length; i++) {
    const seg = route.segments[i] as Segment;
    const part = parts[i] as string;
    if (seg.param === undefined) {
      if (seg.folded !== folded[i]) return undefined;
    } else if (shape) {
      if (part === '') return undefined;
    } else {
      if (!PARAM_VALUE.test(part)) return undefined;
      values.push(part);
    }
  }
  return values;
}

/**
 * A literal segment as ignore-case routers compare it: lower case, and the letters that Java's equalsIgnoreCase and
 * .NET's ordinal ignore-case (Spring, ASP.NET) equate with ASCII ones — dotted capital İ (which JavaScript lowers to
 * i + U+0307), dotless ı and the long s ſ (the Kelvin sign already lowers to k). Otherwise `/api/admın/x` matched no
 * rule here and took http_default, while such an upstream served it from its /api/admin handler.
 */
export function foldSegment(s: string): string {
  const l = s.toLowerCase();
  return /[\u0131\u017f\u0307]/.test(l) ? l.replace(/i\u0307/g, 'i').replace(/\u0131/g, 'i').replace(/\u017f/g, 's') : l;
}

/** The path's segments, a trailing slash dropped: `/x/` is `/x` to most upstreams (Express's default non-strict routing). */
function segmentsOf(path: string): string[] {
  const parts = path.split('/').slice(1);
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/**
 * The method a rule judges: HEAD as GET when the rule lists GET and not HEAD (servers answer HEAD with their GET
 * handler, side effects included), so a HEAD cannot pass where its GET is refused.
 */
function judgedMethod(route: CompiledRoute, method: string): string {
  return method === 'HEAD' && route.methods !== undefined && !route.methods.has('HEAD') && route.methods.has('GET') ? 'GET' : method;
}

/** A rule's path up to and including its `:tenant` segment (`/t/:tenant`): everything below it is that tenant's. */
export interface TenantPrefix {
  /** The first rule with this prefix (named in a refusal). */
  readonly rule: string;
  readonly segments: readonly Segment[];
  readonly tenantAt: number;
}

/** The tenant a path addresses under a prefix (any value in the tenant segment, even one no rule binds), if under it. */
function tenantUnder(prefix: TenantPrefix, folded: readonly string[], parts: readonly string[]): string | undefined {
  if (parts.length < prefix.segments.length) return undefined;
  for (let i = 0; i < prefix.segments.length; i++) {
    const seg = prefix.segments[i] as Segment;
    if (seg.param === undefined && seg.folded !== folded[i]) return undefined;
  }
  return parts[prefix.tenantAt] as string;
}

export class RouteTable {
  readonly #routes: CompiledRoute[];
  readonly #tenantPrefixes: TenantPrefix[] = [];
  constructor(rules: readonly RouteRuleConfig[], scopes: ScopeRegistry) {
    this.#routes = rules.map((r, i) => compileRoute(r, i, scopes));
    const seen = new Set<string>();
    for (const route of this.#routes) {
      const at = route.segments.findIndex((s) => s.param === 'tenant');
      if (at < 0) continue;
      const segments = route.segments.slice(0, at + 1);
      const key = segments.map((s) => (s.param === undefined ? `/${s.folded}` : '/:')).join('');
      if (seen.has(key)) continue;
      seen.add(key);
      this.#tenantPrefixes.push({ rule: route.rule, segments, tenantAt: at });
    }
  }

  /**
   * For a request no rule matched: every tenant prefix the path lies under, with the tenant it addresses there. A path
   * below `/t/:tenant` is that tenant's even where no rule describes it (a list, a sub-resource, an export), so it takes
   * the tenant checks before http_default may allow it (seed 002: tenant isolation holds for every path of a tenant).
   */
  tenantsAddressed(path: string): Array<{ rule: string; tenant: string }> {
    if (this.#tenantPrefixes.length === 0) return [];
    const parts = segmentsOf(path);
    const folded = parts.map(foldSegment);
    const out: Array<{ rule: string; tenant: string }> = [];
    for (const prefix of this.#tenantPrefixes) {
      const tenant = tenantUnder(prefix, folded, parts);
      if (tenant !== undefined) out.push({ rule: prefix.rule, tenant });
    }
    return out;
  }
  get size(): number {
    return this.#routes.length;
  }

  /** Whether any rule satisfies `pred` (e.g. one that may require approval). */
  some(pred: (route: CompiledRoute) => boolean): boolean {
    return this.#routes.some(pred);
  }

  /** The first rule matching method and path, with the Operation it classifies to. */
  match(method: string, path: string): RouteMatch | undefined {
    // A trailing slash is classified by the same rule, or it would slip a tenant route into http_default.
    const parts = segmentsOf(path);
    const folded = parts.map(foldSegment);
    for (const route of this.#routes) {
      const judged = judgedMethod(route, method);
      if (route.methods && !route.methods.has(judged)) continue;
      const values = matchPath(route, parts, folded);
      if (!values) continue;
      const action = route.actions?.[judged] ?? route.action ?? judged.toLowerCase();
      const operation: Operation = { kind: 'http', method, path, action, risk_level: route.risk_level };
      if (route.tenantAt >= 0) operation.tenant = values[route.tenantAt] as string;
      if (route.namespaceAt >= 0) operation.namespace = values[route.namespaceAt] as string;
      if (route.resource !== undefined) {
        let resource = '';
        for (const p of route.resource) resource += p.index === undefined ? p.text : (values[p.index] as string);
        operation.resource = resource;
      }
      return { route, operation };
    }
    return undefined;
  }

  /**
   * For a request match() found no rule for: the first rule whose path has the same shape (its literal segments,
   * any segment where it binds a parameter) that must still judge it, whatever http_default says —
   * - a rule binding `:tenant`, whatever the method: tenant isolation holds for every method (seed 002);
   * - any rule, when a parameter value is one no rule binds (`orders@x`, `.orders`, 129 characters): the upstream's
   *   handler for that path serves it all the same, and the rule's scopes would be skipped.
   * A method a tenant-less rule does not list is left to http_default (`DELETE /api/*` needing admin says nothing
   * about GET).
   */
  covering(path: string): CompiledRoute | undefined {
    const parts = segmentsOf(path);
    const folded = parts.map(foldSegment);
    for (const route of this.#routes) {
      if (!matchPath(route, parts, folded, true)) continue;
      if (route.tenantAt >= 0 || !matchPath(route, parts, folded)) return route;
    }
    return undefined;
  }
}
