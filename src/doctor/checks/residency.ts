/** Data residency (docs/authorization.md § Data residency): every route's region stated, bridges usable and known. */
import { residencyPolicy } from '../../config/index.js';
import type { CheckDefinition, Finding } from '../types.js';
import { judged, routeLabel, skipped, warn } from '../outcome.js';

export const residencyRoutesCheck: CheckDefinition = {
  id: 'routes.residency',
  title: 'Every route states the region its upstream runs in',
  source: 'seed 002 Compliance Features: Data Residency',
  fix: 'Set routes[].residency.region on each route; mark cross-region upstreams `bridge: true` only where tenants allow it.',
  inspect({ cfg }) {
    const res = cfg.residency;
    if (res.region === undefined) return skipped('residency.region is not set (data residency off)');
    const findings: Finding[] = [];
    const notes: string[] = [];
    const tenants = Object.keys(res.tenants);
    const crossers = tenants.filter((t) => residencyPolicy(res, t)?.crossRegion === true);
    const anyCross = res.allow_cross_region || crossers.length > 0;
    cfg.routes.forEach((r, i) => {
      if (r.residency?.region === undefined) {
        findings.push(warn(`${routeLabel(r, i)} states no region: it is taken to run in ${res.region}, beside the gateway (set routes[${i}].residency.region)`));
      }
      if (r.residency?.bridge === true) {
        if (!anyCross) findings.push(warn(`${routeLabel(r, i)} is a bridge, but neither residency.allow_cross_region nor any tenant allows crossing: it serves only tenants whose regions hold ${r.residency.region ?? res.region}`));
        else notes.push(`${routeLabel(r, i)} bridges to ${r.residency.region ?? res.region} for ${res.allow_cross_region ? 'every tenant allowed to cross' : `tenants ${crossers.join(', ')}`}`);
      }
    });
    const elsewhere = tenants.filter((t) => !(residencyPolicy(res, t)?.allowed.has(res.region as string) ?? true));
    if (elsewhere.length > 0) notes.push(`tenants served elsewhere (this gateway refuses them): ${elsewhere.join(', ')}`);
    return judged(findings, [`gateway in ${res.region}`, ...notes].join('; '));
  },
};

export const residencyChecks: readonly CheckDefinition[] = [residencyRoutesCheck];
