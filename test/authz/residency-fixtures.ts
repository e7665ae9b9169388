/** The residency used by the residency suites: a Frankfurt gateway and tenants with narrower, consenting or foreign regions. */
export const RESIDENCY = {
  region: 'eu-central-1',
  allowed_regions: ['eu-central-1', 'eu-west-1'],
  tenants: {
    acme: { allowed_regions: ['eu-central-1'] },
    globex: { allowed_regions: ['eu-central-1'], allow_cross_region: true },
    initech: { allowed_regions: ['us-east-1'] },
  },
};

/** One route per case: local, in another allowed region, a consented bridge, and outside every list. */
export const residencyRoutes = (upstream: string, extra: Record<string, unknown> = {}) => [
  { name: 'local', prefix: '/local', upstream, ...extra, residency: { region: 'eu-central-1' } },
  { name: 'dublin', prefix: '/dublin', upstream, ...extra, residency: { region: 'eu-west-1' } },
  { name: 'virginia', prefix: '/virginia', upstream, ...extra, residency: { region: 'us-east-1', bridge: true } },
  { name: 'ohio', prefix: '/ohio', upstream, ...extra, residency: { region: 'us-east-2' } },
];
