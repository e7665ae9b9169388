/**
 * Data residency (seed 002): the config rules refused at load, the guard's verdicts, `authz explain --route`, and the
 * doctor's routes.residency check.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResidencyGuard } from '../../src/authz/index.js';
import { validateConfig } from '../../src/config/index.js';
import { cli } from '../helpers/cli.js';
import { checkOf } from '../doctor/helpers.js';
import { RESIDENCY, residencyRoutes } from './residency-fixtures.js';

const UP = 'https://up.internal';
const load = (raw: Record<string, unknown>) => validateConfig(raw, { env: {} });

const ROUTES = residencyRoutes(UP);

describe('residency config', () => {
  test('off by default: no section, no check, nothing refused', () => {
    const cfg = load({ routes: [{ prefix: '/x', upstream: UP }] });
    assert.equal(cfg.residency.region, undefined);
    assert.deepEqual(cfg.residency.tenants, {});
  });

  test('refused at load, each problem named: route residency or tenants without a gateway region, a gateway outside its own regions, unknown tenants, bad names', () => {
    assert.throws(() => load({ routes: [{ prefix: '/x', upstream: UP, residency: { region: 'eu-west-1' } }] }), /routes\[0\]\.residency: residency\.region is not set/);
    assert.throws(() => load({ residency: { tenants: { acme: { allowed_regions: ['eu-west-1'] } } } }), /residency: allowed_regions and tenants need residency\.region/);
    assert.throws(() => load({ residency: { region: 'eu-central-1', allowed_regions: ['eu-west-1'] } }), /residency\.allowed_regions: does not hold this gateway's region eu-central-1/);
    assert.throws(() => load({ authz: { tenants: ['acme'] }, residency: { region: 'eu-central-1', tenants: { globex: {} } } }), /residency\.tenants\.globex: not in authz\.tenants/);
    assert.throws(() => load({ residency: { region: 'EU-Central-1' } }), /residency\.region.*lower-case/s);
    assert.throws(() => load({ residency: { region: 'eu-central-1', allowed_regions: ['eu-central-1', 'eu-central-1'] } }), /listed twice/);
    assert.throws(() => load({ residency: { region: 'eu-central-1', tenants: { acme: { regions: ['x'] } } } }), /residency\.tenants\.acme.*regions/s);
    assert.throws(() => load({ residency: { region: 'eu-central-1' }, routes: [{ prefix: '/x', upstream: UP, residency: { region: 'us-east-1', bridges: true } }] }), /routes\[0\]\.residency.*bridges/s);
  });

  test('a public route outside the default regions is refused at load, bridge or not; inside them it loads', () => {
    const pub = (residency: Record<string, unknown>) => () =>
      load({ residency: { region: 'eu-central-1', allow_cross_region: true }, routes: [{ prefix: '/pub', upstream: UP, auth_required: false, residency }] });
    assert.throws(pub({ region: 'us-east-1' }), /routes\[0\]\.residency\.region: us-east-1 is outside residency\.region and the route is public/);
    assert.throws(pub({ region: 'us-east-1', bridge: true }), /a public route cannot cross regions/);
    assert.doesNotThrow(pub({ region: 'eu-central-1' }));
    assert.doesNotThrow(pub({}));
  });
});

describe('ResidencyGuard', () => {
  const cfg = load({ residency: RESIDENCY, routes: ROUTES });
  const guard = new ResidencyGuard(cfg.residency, cfg.routes);

  test('inside the allowed regions: no verdict (nothing to record)', () => {
    assert.equal(guard.check('local', 'acme'), undefined);
    assert.equal(guard.check('dublin', undefined), undefined, 'the defaults hold eu-west-1');
    assert.equal(guard.check('dublin', 'umbrella'), undefined, 'a tenant without an entry gets the defaults');
    assert.equal(guard.check(undefined, 'acme'), undefined, 'no route: processed where the gateway is');
  });

  test('outside them: denied with the rule that decided and the region, never forwarded', () => {
    const v = guard.check('dublin', 'acme');
    assert.equal(v?.allow, false);
    if (v?.allow !== false) return;
    assert.equal(v.rule, 'residency.tenants.acme');
    assert.equal(v.error.code, 'GH_FORBIDDEN');
    assert.equal(v.error.status, 403);
    assert.deepEqual(v.error.data, { reason: 'data_residency', region: 'eu-west-1' });
    assert.match(v.error.message, /route dublin reaches eu-west-1, outside the regions allowed for tenant acme, and the route is not a cross-region bridge/);
    const bridgeNoConsent = guard.check('virginia', 'acme');
    assert.equal(bridgeNoConsent?.allow, false);
    assert.match(bridgeNoConsent?.allow === false ? bridgeNoConsent.error.message : '', /residency\.tenants\.acme does not allow cross-region bridges/);
    const untenanted = guard.check('ohio', undefined);
    assert.equal(untenanted?.allow === false ? untenanted.rule : '', 'residency.allowed_regions');
  });

  test('a bridge with the tenant\'s consent: allowed, and the crossing is returned for the audit record', () => {
    assert.deepEqual(guard.check('virginia', 'globex'), { allow: true, crossing: { from: 'eu-central-1', to: 'us-east-1', bridge: 'virginia', rule: 'residency.tenants.globex' } });
    assert.equal(guard.check('ohio', 'globex')?.allow, false, 'consent does not make a plain route a bridge');
  });

  test('a tenant whose regions exclude the gateway is refused on every route, the local one included', () => {
    for (const route of ['local', 'virginia', undefined]) {
      const v = guard.check(route, 'initech');
      assert.equal(v?.allow, false);
      assert.match(v?.allow === false ? v.error.message : '', /this gateway runs in eu-central-1, outside the regions allowed for tenant initech/);
    }
  });

  test('hostile tenant names are clipped in messages and never match a policy by prototype', () => {
    assert.equal(guard.policyFor('__proto__').rule, 'residency.allowed_regions');
    assert.equal(guard.policyFor('constructor').rule, 'residency.allowed_regions');
    const v = guard.check('ohio', 'x'.repeat(10_000));
    assert.ok(v?.allow === false && v.error.message.length < 400);
  });
});

describe('gatehouse authz explain with residency', () => {
  const home = mkdtempSync(join(tmpdir(), 'gh-residency-'));
  after(() => rmSync(home, { recursive: true, force: true }));
  const file = join(home, 'gatehouse.yaml');
  writeFileSync(
    file,
    JSON.stringify({
      state_dir: home,
      residency: RESIDENCY,
      routes: ROUTES,
      authz: { tenants: ['acme', 'globex', 'initech'], routes: [{ path: '/*', scopes: ['system:read'] }] },
    }),
  );
  const explain = (...args: string[]) => cli(['authz', 'explain', '--config', file, ...args], { env: { GATEHOUSE_HOME: home } });

  test('the route a path falls under is judged: denied for acme in eu-west-1, the rule and regions shown (exit 1)', async () => {
    const r = await explain('--scopes', 'readonly', '--tenant', 'acme', '--method', 'GET', '--path', '/dublin/reports');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^decision:\s+deny$/m);
    assert.match(r.stdout, /^reason:\s+data_residency$/m);
    assert.match(r.stdout, /^rule:\s+residency\.tenants\.acme$/m);
    assert.match(r.stdout, /^residency:\s+route dublin in eu-west-1, gateway in eu-central-1; allowed eu-central-1 \(residency\.tenants\.acme\)$/m);
  });

  test('--route names the route; a bridge crossing is allowed and said to be audited (exit 0, JSON)', async () => {
    const r = await explain('--scopes', 'readonly', '--tenant', 'globex', '--method', 'GET', '--path', '/anything', '--route', 'virginia', '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { decision: { allow: boolean; reason: string }; residency: Record<string, unknown> };
    assert.equal(out.decision.allow, true);
    assert.deepEqual(out.residency, { route: 'virginia', gateway_region: 'eu-central-1', route_region: 'us-east-1', allowed_regions: ['eu-central-1'], rule: 'residency.tenants.globex', crossing: true });
  });

  test('an unknown --route is a usage error naming it', async () => {
    const r = await explain('--scopes', 'readonly', '--method', 'GET', '--path', '/local', '--route', 'nowhere');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--route: no route is named nowhere/);
  });

  test('a missing scope is reported before residency', async () => {
    const r = await explain('--scopes', 'file:read', '--tenant', 'acme', '--method', 'GET', '--path', '/ohio/x');
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^reason:\s+scope_missing$/m);
  });
});

describe('doctor routes.residency', () => {
  test('skipped when residency is off; warns on routes without a region and on a bridge no tenant may use', async () => {
    assert.equal((await checkOf('routes.residency', { routes: [{ prefix: '/x', upstream: UP }] })).status, 'skip');
    const unstated = await checkOf('routes.residency', { residency: { region: 'eu-central-1' }, routes: [{ name: 'api', prefix: '/api', upstream: UP }] });
    assert.equal(unstated.status, 'warn');
    assert.match(unstated.detail, /routes\[0\] \(api\) states no region: it is taken to run in eu-central-1/);
    const idleBridge = await checkOf('routes.residency', { residency: { region: 'eu-central-1' }, routes: [{ name: 'us', prefix: '/us', upstream: UP, residency: { region: 'us-east-1', bridge: true } }] });
    assert.equal(idleBridge.status, 'warn');
    assert.match(idleBridge.detail, /routes\[0\] \(us\) is a bridge, but neither residency\.allow_cross_region nor any tenant allows crossing/);
  });

  test('passes when every route states its region, naming bridges and the tenants served elsewhere', async () => {
    const r = await checkOf('routes.residency', { residency: RESIDENCY, routes: ROUTES });
    assert.equal(r.status, 'pass', r.detail);
    assert.match(r.detail, /routes\[2\] \(virginia\) bridges to us-east-1 for tenants globex/);
    assert.match(r.detail, /tenants served elsewhere \(this gateway refuses them\): initech/);
  });
});
