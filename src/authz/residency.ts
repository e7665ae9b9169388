/**
 * Data residency (seed 002 "Data Residency": data never leaves the configured regions; cross-region bridges require
 * explicit configuration; an audit trail for any cross-region data movement). A request's tenant — the operation's,
 * else the principal's — allows a set of regions: the gateway itself must run in one of them, and the route's
 * upstream must lie in one, unless the route is a bridge and the tenant allows crossing (then the crossing is put in
 * the audit record). Checked after the policy decision allowed the request, so every other reason to deny comes first.
 */
import { GatehouseError } from '../core/errors.js';
import { clip } from './decide.js';
import { residencyPolicy, type ResidencyConfig, type ResidencyPolicy, type RouteResidencyConfig } from '../config/index.js';


/** What the audit record says about a request that crossed regions through a bridge. */
export interface ResidencyCrossing {
  from: string;
  to: string;
  bridge: string;
  rule: string;
}

export type ResidencyVerdict =
  | { allow: true; crossing: ResidencyCrossing }
  | { allow: false; rule: string; error: GatehouseError };

interface RouteRegion {
  region: string;
  bridge: boolean;
}

export class ResidencyGuard {
  readonly region: string;
  readonly #routes = new Map<string, RouteRegion>();
  readonly #defaults: ResidencyPolicy;
  /** Tenants with an entry of their own (a Map: tenant ids come from requests). */
  readonly #tenants = new Map<string, ResidencyPolicy>();

  constructor(cfg: ResidencyConfig, routes: ReadonlyArray<{ name?: string | undefined; residency?: RouteResidencyConfig | undefined }>) {
    if (cfg.region === undefined) throw new GatehouseError('GH_INTERNAL', 'residency is off: no residency.region');
    this.region = cfg.region;
    this.#defaults = residencyPolicy(cfg, undefined) as ResidencyPolicy;
    for (const t of Object.keys(cfg.tenants)) this.#tenants.set(t, residencyPolicy(cfg, t) as ResidencyPolicy);
    routes.forEach((r, i) => this.#routes.set(r.name ?? `route${i}`, { region: r.residency?.region ?? this.region, bridge: r.residency?.bridge === true }));
  }

  /** The rules `tenant` is held to (the defaults without a tenant or an entry of its own). */
  policyFor(tenant: string | undefined): ResidencyPolicy {
    return (tenant !== undefined ? this.#tenants.get(tenant) : undefined) ?? this.#defaults;
  }

  /** The region of a route's upstream (the gateway's own for an unknown route). */
  routeRegion(route: string | undefined): string {
    return (route !== undefined ? this.#routes.get(route)?.region : undefined) ?? this.region;
  }

  /**
   * Undefined when the request stays in its allowed regions (the usual case: nothing to record, nothing allocated);
   * a crossing to record; or a denial.
   */
  check(route: string | undefined, tenant: string | undefined): ResidencyVerdict | undefined {
    const policy = this.policyFor(tenant);
    const whose = (): string => (tenant !== undefined ? `tenant ${clip(tenant)}` : 'requests without a tenant');
    if (!policy.allowed.has(this.region)) {
      return this.#deny(policy, `Forbidden: data residency: this gateway runs in ${this.region}, outside the regions allowed for ${whose()}`, this.region);
    }
    const target = (route !== undefined ? this.#routes.get(route) : undefined) ?? { region: this.region, bridge: false };
    if (policy.allowed.has(target.region)) return undefined;
    if (target.bridge && policy.crossRegion) return { allow: true, crossing: { from: this.region, to: target.region, bridge: route as string, rule: policy.rule } };
    const why = target.bridge ? `and ${policy.rule} does not allow cross-region bridges` : 'and the route is not a cross-region bridge';
    return this.#deny(policy, `Forbidden: data residency: route ${clip(route ?? '')} reaches ${target.region}, outside the regions allowed for ${whose()}, ${why}`, target.region);
  }

  #deny(policy: ResidencyPolicy, message: string, region: string): ResidencyVerdict {
    return { allow: false, rule: policy.rule, error: new GatehouseError('GH_FORBIDDEN', message, { data: { reason: 'data_residency', region } }) };
  }
}
