import { z } from 'zod';
import { tenantId } from './common.js';

// The 'residency' section and routes[].residency (docs/authorization.md § Data residency): seed 002's planned
// "Data Residency" (cluster.region, data_residency.allow_cross_region, data_residency.allowed_regions) for a gateway —
// a tenant's requests reach only upstreams in the regions it allows, cross-region bridges need explicit configuration
// on both sides (the route and the tenant), and every crossing is in the audit trail.

/** Cloud region names as providers write them: eu-central-1, europe-west3, westeurope, on-prem-fra. */
export const regionName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a region is 1-63 of a-z 0-9 - (e.g. eu-central-1), lower-case');

const regionList = z
  .array(regionName)
  .min(1)
  .max(64)
  .refine((l) => new Set(l).size === l.length, 'a region is listed twice');

const tenantResidency = z.strictObject({
  /** Where this tenant's data may be processed. Default: residency.allowed_regions. */
  allowed_regions: regionList.optional(),
  /** May this tenant's requests cross to another region through a route marked `bridge: true`? Default: residency.allow_cross_region. */
  allow_cross_region: z.boolean().optional(),
});

/**
 * Absent or without `region`: residency is off and routes[].residency is refused. With `region`: every request is
 * checked (authenticated routes at the authorize stage, public routes once at load).
 */
export const residencySection = z
  .strictObject({
    /** The region this gateway runs (and so processes data) in. Setting it turns residency on. */
    region: regionName.optional(),
    /** Regions data may be processed in, for every tenant without its own list and for requests with no tenant. Default: [region]. */
    allowed_regions: regionList.optional(),
    /** Default for tenants: whether bridge routes may carry their data out of their allowed regions. */
    allow_cross_region: z.boolean().default(false),
    tenants: z.record(tenantId, tenantResidency).default({}),
  })
  .prefault({});

export const routeResidencySchema = z.strictObject({
  /** The region of this route's upstream. Default: residency.region (the upstream is taken to run beside the gateway). */
  region: regionName.optional(),
  /** A cross-region bridge: tenants with allow_cross_region may reach this upstream outside their allowed regions (audited). */
  bridge: z.boolean().default(false),
});

export type ResidencyConfig = z.infer<typeof residencySection>;
export type RouteResidencyConfig = z.infer<typeof routeResidencySchema>;

/** The residency rules a tenant (or, with none, every request) is held to. `rule` is the config path that set them. */
export interface ResidencyPolicy {
  allowed: ReadonlySet<string>;
  crossRegion: boolean;
  rule: string;
}

/** The defaults' policy and, for a tenant with its own entry, that tenant's. Undefined when residency is off. */
export function residencyPolicy(cfg: ResidencyConfig, tenant: string | undefined): ResidencyPolicy | undefined {
  if (cfg.region === undefined) return undefined;
  const base = cfg.allowed_regions ?? [cfg.region];
  const own = tenant !== undefined && Object.hasOwn(cfg.tenants, tenant) ? cfg.tenants[tenant] : undefined;
  if (!own) return { allowed: new Set(base), crossRegion: cfg.allow_cross_region, rule: cfg.allowed_regions ? 'residency.allowed_regions' : 'residency.region' };
  return {
    allowed: new Set(own.allowed_regions ?? base),
    crossRegion: own.allow_cross_region ?? cfg.allow_cross_region,
    rule: `residency.tenants.${tenant}`,
  };
}

interface RouteLike {
  name?: string | undefined;
  auth_required: boolean;
  residency?: RouteResidencyConfig | undefined;
}

/**
 * What the schema alone cannot see, one line per problem: route residency without a gateway region, a gateway outside
 * its own default regions, tenants the authz section does not know, and public routes (no tenant, no authorize stage)
 * whose upstream lies outside the default regions — refused here, once, instead of per request.
 */
export function residencyProblems(cfg: ResidencyConfig, routes: readonly RouteLike[], knownTenants: readonly string[]): string[] {
  const problems: string[] = [];
  if (cfg.region === undefined) {
    routes.forEach((r, i) => {
      if (r.residency !== undefined) problems.push(`routes[${i}].residency: residency.region is not set (the region this gateway runs in): set it to turn residency on`);
    });
    if (cfg.allowed_regions !== undefined || Object.keys(cfg.tenants).length > 0) problems.push('residency: allowed_regions and tenants need residency.region (the region this gateway runs in)');
    return problems;
  }
  const here = cfg.region;
  if (cfg.allowed_regions !== undefined && !cfg.allowed_regions.includes(here)) {
    problems.push(`residency.allowed_regions: does not hold this gateway's region ${here}: no request without a tenant could be served`);
  }
  if (knownTenants.length > 0) {
    const known = new Set(knownTenants);
    for (const t of Object.keys(cfg.tenants)) if (!known.has(t)) problems.push(`residency.tenants.${t}: not in authz.tenants`);
  }
  const defaults = residencyPolicy(cfg, undefined) as ResidencyPolicy;
  routes.forEach((r, i) => {
    if (r.auth_required) return;
    const region = r.residency?.region ?? here;
    // No tenant and no authorize stage: a public route is never a bridge (its crossings would go unattributed).
    if (defaults.allowed.has(region)) return;
    problems.push(`routes[${i}].residency.region: ${region} is outside ${defaults.rule} and the route is public (auth_required: false): a public route cannot cross regions; allow the region or require authentication`);
  });
  return problems;
}
