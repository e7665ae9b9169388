import { GatehouseError } from '../core/errors.js';
import { clientKey } from '../core/net.js';
import type { Exchange, Principal } from '../core/types.js';
import type { LimitsConfig, RateKeyPart } from '../config/index.js';
import { RateTable, type RateVerdict } from './rate.js';

/** One configured rate limit, ready to match exchanges. */
export interface CompiledRule {
  readonly index: number;
  readonly name: string;
  readonly per: readonly RateKeyPart[];
  readonly routes: ReadonlySet<string> | undefined;
  readonly methods: ReadonlySet<string> | undefined;
  readonly tools: ReadonlySet<string> | undefined;
  readonly table: RateTable;
  /** The RateLimit-Policy item (draft-ietf-httpapi-ratelimit-headers): quota q per window w seconds. */
  readonly policy: string;
}

export interface CompileOptions {
  /** Route names the gateway serves (a rule naming another is a configuration error). */
  routeNames: ReadonlySet<string>;
  /** Whether a tool is in the registry (a rule naming another is a configuration error). */
  knownTool?: (name: string) => boolean;
}

/** limits.rates → rules checked at the throttle stage (`pre`) and, for tool rules, once the call is classified (`post`). */
export function compileRules(cfg: LimitsConfig, opts: CompileOptions): { pre: CompiledRule[]; post: CompiledRule[] } {
  const pre: CompiledRule[] = [];
  const post: CompiledRule[] = [];
  for (const [i, r] of cfg.rates.entries()) {
    for (const route of r.routes ?? []) {
      if (!opts.routeNames.has(route)) throw new GatehouseError('GH_CONFIG_INVALID', `limits.rates[${i}].routes: no route is named "${route.slice(0, 64)}"`);
    }
    for (const tool of r.tools ?? []) {
      if (opts.knownTool && !opts.knownTool(tool)) throw new GatehouseError('GH_CONFIG_INVALID', `limits.rates[${i}].tools: "${tool.slice(0, 64)}" is not in the tool registry`);
    }
    const burst = r.burst ?? Math.ceil(r.limit.limit * (r.burst_tolerance ?? cfg.burst_tolerance));
    const rule: CompiledRule = {
      index: i,
      name: r.name,
      per: r.per,
      routes: r.routes ? new Set(r.routes) : undefined,
      methods: r.methods ? new Set(r.methods) : undefined,
      tools: r.tools ? new Set(r.tools) : undefined,
      table: new RateTable({ limit: r.limit.limit, periodMs: r.limit.periodMs, burst }, cfg.max_keys),
      policy: `"${r.name}";q=${r.limit.limit};w=${Math.max(1, Math.round(r.limit.periodMs / 1000))}`,
    };
    (rule.tools ? post : pre).push(rule);
  }
  return { pre, post };
}

/** Whether a rule applies to this exchange, route and method wise (tools are matched by the caller). */
export function ruleMatches(rule: Pick<CompiledRule, 'routes' | 'methods'>, ex: Exchange): boolean {
  if (rule.routes !== undefined && (ex.route === undefined || !rule.routes.has(ex.route.name))) return false;
  if (rule.methods !== undefined && !rule.methods.has(ex.method)) return false;
  return true;
}

/** Length-prefixed, so no value can pass for another part (an id holding a separator). */
const part = (tag: string, v: string): string => `${tag}${v.length}:${v}`;
/** A principal as one value: method (a fixed word), then tenant length-prefixed, then id (a tenant may hold ':'). */
const who = (p: Principal): string => `${p.method}:${part('', p.tenant ?? '')}${p.id}`;

/**
 * The key an exchange counts under. `principal` is the authenticated principal (method, tenant and id, so a Basic
 * user and a token subject of the same name stay apart); anonymous callers count by their address. `token` is the
 * credential (token id, API key id), falling back to the principal. `tenant` is the operation's tenant once
 * classified, else the principal's ('' for none: one allowance for all tenantless callers).
 */
export function keyOf(rule: Pick<CompiledRule, 'per'>, ex: Exchange): string {
  let key = '';
  const p = ex.principal;
  const known = p !== undefined && p.type !== 'anonymous';
  for (const what of rule.per) {
    switch (what) {
      case 'principal':
        key += known ? part('p', who(p)) : part('i', clientKey(ex.network.source_ip));
        break;
      case 'token':
        // Tagged apart from the fallback, so no credential id can pass for a principal; qualified by the method, so a
        // JWT's jti cannot pass for another method's credential id. The header method's ids ('trusted-proxy', 'headers')
        // name no credential (every trusted-proxy user carries the same one): it counts by principal.
        key += !known ? part('i', clientKey(ex.network.source_ip)) : p.credential_id !== undefined && p.method !== 'header' ? part('t', `${p.method}:${p.credential_id}`) : part('p', who(p));
        break;
      case 'tenant':
        key += part('n', ex.operation?.tenant ?? p?.tenant ?? '');
        break;
      case 'ip':
        key += part('i', clientKey(ex.network.source_ip));
        break;
      case 'route':
        key += part('r', ex.route?.name ?? '');
        break;
    }
  }
  return key;
}

/** The refusal: 429 with Retry-After and the RateLimit headers, the rule named (never a key: it holds identities). */
export function rateLimited(rule: CompiledRule, v: RateVerdict): GatehouseError {
  const secs = Math.max(1, Math.ceil(v.retryAfterMs / 1000));
  return new GatehouseError('GH_RATE_LIMITED', undefined, {
    detail: `rate:${rule.name}`,
    headers: { 'retry-after': String(secs), 'ratelimit-policy': rule.policy, ratelimit: `"${rule.name}";r=0;t=${secs}` },
    data: { rate_limit: rule.name, retry_after: secs },
  });
}
