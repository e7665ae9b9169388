/**
 * With `http_default: authenticated`, a path below a rule's tenant prefix (`/t/:tenant`) that no rule matches — a
 * stream list, a sub-resource, an export — is still that tenant's: it takes the tenant checks (known tenant; own
 * tenant or an explicit cross-tenant grant) before the default may allow it. Reviewer's PoC: an acme-corp token read
 * GET /t/globex/ns/production/streams and GET /t/globex/admin/export through http_default.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { call, httpEngine } from '../authz/http-helpers.js';
import { principal } from '../authz/helpers.js';

const UNMATCHED: [string, string][] = [
  ['GET', '/t/globex/ns/production/streams'],
  ['DELETE', '/t/globex/ns/production/streams/orders/messages'],
  ['GET', '/t/globex/admin/export'],
  ['GET', '/t/globex'],
  ['GET', '/t/globex/'],
  ['GET', '/T/globex/ADMIN/export'],
  ['POST', '/t/globex/other'],
];

describe('tenant prefixes under http_default: authenticated', () => {
  test("a principal of another tenant is refused every path below the tenant's prefix, not only the rules' exact shapes", async () => {
    const e = await httpEngine({ http_default: 'authenticated' });
    const acme = principal('acme-user', ['readonly', 'admin'], { tenant: 'acme-corp' });
    for (const [m, path] of UNMATCHED) {
      const { err, ex } = await call(e, m, path, acme);
      assert.equal(err?.code, 'GH_TENANT_MISMATCH', `${m} ${path}`);
      assert.equal(ex.decision?.reason, 'tenant_mismatch', `${m} ${path}`);
      assert.equal(ex.decision?.rule, 'route:streams', `${m} ${path}: the rule whose prefix covers it`);
      assert.equal(ex.operation?.tenant, 'globex', `${m} ${path}: the operation names the tenant it addresses`);
    }
  });

  test('an unknown tenant below the prefix is GH_TENANT_UNKNOWN, whatever the value (one no rule binds included)', async () => {
    const e = await httpEngine({ http_default: 'authenticated' });
    const p = principal('x', ['admin'], { tenant: 'acme-corp' });
    for (const path of ['/t/initech/admin/export', '/t/GLOBEX/ns/production/streams', '/t/globex@x/export', '/t/%2e%2e/export']) {
      const { err, ex } = await call(e, 'GET', path, p);
      assert.equal(err?.code, 'GH_TENANT_UNKNOWN', path);
      assert.equal(ex.decision?.reason, 'tenant_unknown', path);
    }
  });

  test('a principal bound to no tenant has no tenant of its own to use there: refused outside the rules', async () => {
    const e = await httpEngine({ http_default: 'authenticated' });
    const { err } = await call(e, 'GET', '/t/globex/admin/export', principal('svc', ['admin']));
    assert.equal(err?.code, 'GH_TENANT_MISMATCH');
  });

  test("the tenant's own principals and explicit cross-tenant grants still reach http_default", async () => {
    const e = await httpEngine({ http_default: 'authenticated', cross_tenant_grants: [{ principal: 'sre', tenants: ['*'] }] });
    for (const [m, path] of UNMATCHED.filter(([, p]) => !p.startsWith('/T/'))) {
      const own = await call(e, m, path, principal('globex-user', [], { tenant: 'globex' }));
      assert.equal(own.err, undefined, `${m} ${path}`);
      assert.equal(own.ex.decision?.reason, 'http_default');
    }
    const grant = await call(e, 'GET', '/t/globex/admin/export', principal('ops', ['tenant:globex:admin'], { tenant: 'acme-corp' }));
    assert.equal(grant.err, undefined);
    assert.deepEqual(grant.ex.decision?.scopes_used, ['tenant:globex:admin']);
    assert.equal((await call(e, 'GET', '/t/globex/admin/export', principal('sre', []))).err, undefined);
    // `admin` alone does not cross tenants here either.
    assert.equal((await call(e, 'GET', '/t/globex/admin/export', principal('ops', ['admin'], { tenant: 'acme-corp' }))).err?.code, 'GH_TENANT_MISMATCH');
  });

  test('every tenant prefix counts (a parameter before :tenant matches any segment); paths outside them keep the default', async () => {
    const routes = [
      { name: 'regional', path: '/r/:region/tenants/:tenant/jobs/:job', resource: 'stream:{job}', action: 'publish' },
      { name: 'status', path: '/status', methods: ['GET'], scopes: ['system:read'] },
    ];
    const e = await httpEngine({ http_default: 'authenticated', routes });
    const acme = principal('acme-user', [], { tenant: 'acme-corp' });
    assert.equal((await call(e, 'GET', '/r/eu/tenants/globex/jobs', acme)).err?.code, 'GH_TENANT_MISMATCH');
    assert.equal((await call(e, 'GET', '/R/us/TENANTS/globex', acme)).err?.code, 'GH_TENANT_MISMATCH');
    for (const path of ['/r/eu/tenants', '/r/eu/other/globex', '/t/globex/admin/export', '/nowhere']) {
      const r = await call(e, 'GET', path, acme);
      assert.equal(r.err, undefined, path);
      assert.equal(r.ex.decision?.reason, 'http_default', path);
    }
  });

  test('explain and classifyHttp say the same (the CLI judges what the gateway does)', async () => {
    const e = await httpEngine({ http_default: 'authenticated' });
    const op = e.classifyHttp('GET', '/t/globex/admin/export');
    assert.equal(op.tenant, 'globex');
    const d = await e.explain(principal('acme-user', [], { tenant: 'acme-corp' }), op);
    assert.equal(d.allow, false);
    assert.equal(d.reason, 'tenant_mismatch');
    assert.equal(e.classifyHttp('GET', '/nowhere').tenant, undefined);
  });

  test('http_default: deny is unchanged: an unmatched path below a prefix is route_unmatched', async () => {
    const e = await httpEngine();
    const { err, ex } = await call(e, 'GET', '/t/globex/admin/export', principal('globex-user', [], { tenant: 'globex' }));
    assert.equal(err?.code, 'GH_FORBIDDEN');
    assert.equal(ex.decision?.reason, 'route_unmatched');
  });
});
