/** Seed 002 isolation: a principal bound to a tenant never reaches another tenant's resources, whatever its scopes. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { call, httpEngine } from '../authz/http-helpers.js';
import { principal } from '../authz/helpers.js';
import type { Principal } from '../../src/core/types.js';

describe('tenant escape attempts', () => {
  test('an unknown tenant is rejected', async () => {
    const e = await httpEngine();
    const { err, ex } = await call(e, 'POST', '/t/initech/ns/production/streams/orders', principal('service-account-admin', []));
    assert.equal(err?.code, 'GH_TENANT_UNKNOWN');
    assert.equal(ex.decision?.reason, 'tenant_unknown');
  });

  test("a globex principal with admin scopes cannot touch acme-corp's streams", async () => {
    const e = await httpEngine();
    const p = principal('service-account-admin', ['admin', 'system:admin'], { tenant: 'globex' });
    const { err, ex } = await call(e, 'POST', '/t/acme-corp/ns/production/streams/orders', p);
    assert.equal(err?.code, 'GH_TENANT_MISMATCH');
    assert.equal(ex.decision?.reason, 'tenant_mismatch');
  });

  test('the same principal id in another tenant gains nothing from the first tenant\'s ACL', async () => {
    const e = await httpEngine();
    // service-account-admin is admin in acme-corp/production; bound to acme-corp it may not reach globex.
    const p = principal('service-account-admin', [], { tenant: 'acme-corp' });
    assert.equal((await call(e, 'GET', '/t/globex/ns/staging/caches/x', p)).err?.code, 'GH_TENANT_MISMATCH');
  });

  test('a tenant-admin scope for another tenant is an explicit cross-tenant grant', async () => {
    const e = await httpEngine();
    const ops = principal('ops', ['tenant:acme-corp:admin'], { tenant: 'globex' });
    const { err, ex } = await call(e, 'POST', '/t/acme-corp/ns/production/streams/orders', ops);
    assert.equal(err, undefined);
    assert.equal(ex.decision?.reason, 'cross_tenant_grant');
    assert.deepEqual(ex.decision?.scopes_used, ['tenant:acme-corp:admin']);
    // …and only for that tenant
    assert.equal((await call(e, 'GET', '/t/globex/ns/x/streams/y', principal('ops', ['tenant:acme-corp:admin'], { tenant: 'initech' }))).err?.code, 'GH_TENANT_MISMATCH');
  });

  test('tenant:*:admin crosses every tenant; the config grant does too', async () => {
    const e = await httpEngine({ cross_tenant_grants: [{ principal: 'sre', tenants: ['*'] }] });
    assert.equal((await call(e, 'PUT', '/t/globex/ns/prod/caches/c', principal('root', ['tenant:*:admin'], { tenant: 'acme-corp' }))).err, undefined);
    const { err, ex } = await call(e, 'PUT', '/t/acme-corp/ns/prod/caches/c', principal('sre', [], { tenant: 'globex' }));
    assert.equal(err, undefined);
    assert.deepEqual(ex.decision?.scopes_used, ['authz.cross_tenant_grants[0]']);
  });

  test('a grant narrowed to one IdP does not follow the same principal id from another issuer or method', async () => {
    const e = await httpEngine({ cross_tenant_grants: [{ principal: 'sre', tenants: ['*'], method: 'jwt', issuer: 'https://idp.internal' }] });
    const sre = (method: Principal['method'], issuer?: string) => principal('sre', [], { tenant: 'globex', method, attributes: issuer ? { issuer } : {} });
    const path = '/t/acme-corp/ns/prod/caches/c';
    const ours = await call(e, 'PUT', path, sre('jwt', 'https://idp.internal'));
    assert.equal(ours.err, undefined);
    assert.deepEqual(ours.ex.decision?.scopes_used, ['authz.cross_tenant_grants[0]']);
    assert.equal((await call(e, 'PUT', path, sre('jwt', 'https://partner.example'))).err?.code, 'GH_TENANT_MISMATCH', 'a partner IdP\'s sub: sre');
    assert.equal((await call(e, 'PUT', path, sre('token'))).err?.code, 'GH_TENANT_MISMATCH', 'a Gatehouse token for sre');
    await assert.rejects(httpEngine({ cross_tenant_grants: [{ principal: 'sre', tenants: ['*'], method: 'token', issuer: 'https://idp.internal' }] }), /issuer narrows jwt principals only/);
  });

  test('the hierarchy never implies a cross-tenant grant, even if configured under admin', async () => {
    const hierarchy = { admin: null, 'tenant:*:admin': 'admin', 'system:read': 'admin' };
    const e = await httpEngine({ scopes: { hierarchy, bundles: {} }, default_tools: 'none', routes: [{ path: '/t/:tenant/ns/:namespace/streams/:stream', resource: 'stream:{stream}', action: 'publish' }] });
    const { err } = await call(e, 'POST', '/t/acme-corp/ns/production/streams/orders', principal('root', ['admin'], { tenant: 'globex' }));
    assert.equal(err?.code, 'GH_TENANT_MISMATCH');
  });

  test('look-alike tenant scopes do not grant', async () => {
    const e = await httpEngine();
    for (const s of ['tenant:acme-corp:admins', 'tenant:acme:admin', 'tenant:acme-corp:read', 'tenant:*:read', 'Tenant:*:admin']) {
      assert.equal((await call(e, 'POST', '/t/acme-corp/ns/production/streams/orders', principal('x', [s], { tenant: 'globex' }))).err?.code, 'GH_TENANT_MISMATCH', s);
    }
  });

  test('a trailing slash does not slip past the tenant rule into http_default: authenticated', async () => {
    // Express (strict routing off, its default) serves /streams/orders/ with the /streams/:stream handler.
    const e = await httpEngine({ http_default: 'authenticated' });
    const p = principal('service-account-publisher', ['admin'], { tenant: 'globex' });
    for (const path of ['/t/acme-corp/ns/production/streams/orders/', '/t/acme-corp/ns/production/caches/c/']) {
      const { err, ex } = await call(e, path.includes('caches') ? 'PUT' : 'POST', path, p);
      assert.equal(err?.code, 'GH_TENANT_MISMATCH', path);
      assert.equal(ex.decision?.reason, 'tenant_mismatch');
    }
    // …and the same path with the slash is classified like the rule says, for the principal it grants
    const { err, ex } = await call(e, 'GET', '/status/', principal('x', ['readonly']));
    assert.equal(err, undefined);
    assert.equal(ex.decision?.rule, 'route:status');
  });

  test('HEAD is judged as GET by a rule listing GET: it cannot cross tenants or skip scopes under http_default: authenticated', async () => {
    // Node and Express answer HEAD with the GET handler, side effects included.
    const e = await httpEngine({ http_default: 'authenticated' });
    const globex = principal('service-account-publisher', ['admin'], { tenant: 'globex' });
    for (const m of ['GET', 'HEAD']) {
      const { err, ex } = await call(e, m, '/t/acme-corp/ns/production/streams/orders', globex);
      assert.equal(err?.code, 'GH_TENANT_MISMATCH', m);
      assert.equal(ex.decision?.rule, 'route:streams', m);
    }
    const head = await call(e, 'HEAD', '/status', principal('x', []));
    assert.equal(head.err?.code, 'GH_SCOPE_MISSING', 'HEAD /status needs what GET /status needs');
    const allowed = await call(e, 'HEAD', '/status', principal('x', ['readonly']));
    assert.equal(allowed.err, undefined);
    assert.equal(allowed.ex.operation?.action, 'get', 'classified with the GET action');
    assert.equal((await call(e, 'HEAD', '/t/acme-corp/ns/production/streams/orders', principal('service-account-subscriber', [], { tenant: 'acme-corp' }))).ex.operation?.action, 'subscribe');
  });

  test('a method no rule lists, or a parameter value no rule binds, on a path a rule covers is refused, not left to http_default', async () => {
    const e = await httpEngine({ http_default: 'authenticated' });
    const globex = principal('service-account-publisher', ['admin'], { tenant: 'globex' });
    const cases: [string, string][] = [
      ['OPTIONS', '/t/acme-corp/ns/production/streams/orders'],
      ['DELETE', '/t/acme-corp/ns/production/caches/c'],
      ['PUT', '/t/acme-corp/ns/production/streams/orders'],
      ['POST', '/t/acme-corp/ns/production/streams/orders@x'],
      ['POST', '/t/acme-corp/ns/production/streams/.orders'],
      ['POST', '/t/acme-corp/ns/production/streams/orders%20'],
      ['POST', '/t/acme-corp/ns/production/streams/orders%2B1'],
      ['POST', `/t/acme-corp/ns/production/streams/${'o'.repeat(129)}`],
      ['POST', '/t/acme-corp@x/ns/production/streams/orders'],
    ];
    for (const [m, path] of cases) {
      const { err, ex } = await call(e, m, path, globex);
      assert.equal(err?.code, 'GH_FORBIDDEN', `${m} ${path}`);
      assert.equal(ex.decision?.reason, 'rule_not_matched', `${m} ${path}`);
    }
    // A path below a tenant prefix is that tenant's even where no rule describes it (authz-tenant-prefix-default.test.ts).
    assert.equal((await call(e, 'POST', '/t/acme-corp/other', globex)).err?.code, 'GH_TENANT_MISMATCH');
    // A path no rule is about still falls to http_default, and so does a method a rule without :tenant does not list.
    for (const [m, path] of [['POST', '/other'], ['POST', '/status']] as const) {
      const other = await call(e, m, path, globex);
      assert.equal(other.err, undefined, `${m} ${path}`);
      assert.equal(other.ex.decision?.reason, 'http_default', `${m} ${path}`);
    }
    // …but a parameter value no rule binds is refused on a rule without :tenant too (its handler serves it anyway).
    const files = await httpEngine({ http_default: 'authenticated', routes: [{ name: 'files', path: '/files/:name', scopes: ['file:read'] }] });
    assert.equal((await call(files, 'GET', '/files/a@b', principal('x', []))).ex.decision?.reason, 'rule_not_matched');
    assert.equal((await call(files, 'GET', '/files/ab', principal('x', []))).err?.code, 'GH_SCOPE_MISSING');
  });

  test('a case variant of a rule\'s literal segments is judged by the rule (Express routes /NS/ to the /ns/ handler)', async () => {
    const e = await httpEngine({ http_default: 'authenticated' });
    const globex = principal('service-account-publisher', ['admin'], { tenant: 'globex' });
    for (const path of ['/T/acme-corp/ns/production/streams/orders', '/t/acme-corp/NS/production/Streams/orders', '/t/acme-corp/ns/production/STREAMS/orders/']) {
      const { err, ex } = await call(e, 'POST', path, globex);
      assert.equal(err?.code, 'GH_TENANT_MISMATCH', path);
      assert.equal(ex.decision?.rule, 'route:streams', path);
    }
    assert.equal((await call(e, 'GET', '/t/acme-corp/ns/production/Admin/x', globex)).err?.code, 'GH_TENANT_MISMATCH');
    for (const path of ['/Status', '/STATUS/']) assert.equal((await call(e, 'GET', path, principal('x', []))).err?.code, 'GH_SCOPE_MISSING', path);
    // Parameter values keep their case: a tenant spelled otherwise is another (unknown) tenant, refused.
    assert.equal((await call(e, 'POST', '/t/ACME-CORP/ns/production/streams/orders', principal('p', ['admin']))).err?.code, 'GH_TENANT_UNKNOWN');
  });

  test('a rule for one method under * leaves the other methods to http_default', async () => {
    const e = await httpEngine({ http_default: 'authenticated', routes: [{ name: 'api-delete', path: '/api/*', methods: ['DELETE'], scopes: ['admin'] }] });
    for (const [m, path] of [['GET', '/api/users'], ['POST', '/api/orders/1'], ['GET', '/api']] as const) {
      const r = await call(e, m, path, principal('x', []));
      assert.equal(r.err, undefined, `${m} ${path}`);
      assert.equal(r.ex.decision?.reason, 'http_default');
    }
    assert.equal((await call(e, 'DELETE', '/api/users/1', principal('x', []))).err?.code, 'GH_SCOPE_MISSING');
  });

  test('path tricks do not switch tenants: encoded separators never bind a parameter', async () => {
    const e = await httpEngine();
    const p = principal('service-account-publisher', [], { tenant: 'acme-corp' });
    for (const path of ['/t/acme-corp%2f..%2fglobex/ns/production/streams/orders', '/t/acme-corp/../globex/ns/staging/streams/public', '/t//ns/production/streams/orders']) {
      const { err } = await call(e, 'POST', path, p);
      assert.equal(err?.code, 'GH_FORBIDDEN', path);
    }
  });
});
