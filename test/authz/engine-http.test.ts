import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GatehouseError } from '../../src/core/errors.js';
import { FIXTURES, makeExchange, principal } from './helpers.js';
import { call, httpEngine } from './http-helpers.js';

const publisher = principal('service-account-publisher', [], { tenant: 'acme-corp' });

describe('HTTP classification', () => {
  test('route rules bind tenant, namespace, resource and the action per method', async () => {
    const e = await httpEngine();
    const { ex } = await call(e, 'POST', '/t/acme-corp/ns/production/streams/orders', publisher);
    assert.deepEqual(ex.operation, {
      kind: 'http',
      method: 'POST',
      path: '/t/acme-corp/ns/production/streams/orders',
      action: 'publish',
      risk_level: 'low',
      tenant: 'acme-corp',
      namespace: 'production',
      resource: 'stream:orders',
    });
    assert.equal(e.classifyHttp('GET', '/t/acme-corp/ns/production/streams/orders').action, 'subscribe');
  });

  test('a method the rule does not map, or a path no rule matches, is denied by default', async () => {
    const e = await httpEngine();
    assert.equal((await call(e, 'DELETE', '/t/acme-corp/ns/production/streams/orders', publisher)).err?.code, 'GH_FORBIDDEN');
    const { err, ex } = await call(e, 'GET', '/nowhere', publisher);
    assert.equal(err?.code, 'GH_FORBIDDEN');
    assert.equal(ex.decision?.reason, 'route_unmatched');
  });

  test('http_default: authenticated lets unmatched requests through for any principal', async () => {
    const e = await httpEngine({ http_default: 'authenticated' });
    assert.equal((await call(e, 'GET', '/nowhere', publisher)).err, undefined);
  });

  test('parameters never bind "*", "." or ".."', async () => {
    const e = await httpEngine();
    for (const seg of ['*', '..', '.']) assert.equal(e.classifyHttp('POST', `/t/acme-corp/ns/production/streams/${seg}`).resource, undefined, seg);
  });

  test('scope routes and any_authenticated routes', async () => {
    const e = await httpEngine();
    assert.equal((await call(e, 'GET', '/status', principal('m', ['readonly']))).err, undefined);
    const { err } = await call(e, 'GET', '/status', principal('n', ['network:read']));
    assert.equal(err?.code, 'GH_SCOPE_MISSING');
    assert.equal(err?.message, 'Insufficient scope: route:status requires system:read');
    assert.equal((await call(e, 'GET', '/health', principal('n', []))).ex.decision?.reason, 'any_authenticated');
  });
});

describe('stage shape', () => {
  test('an allowed request needing no approval passes authorize and approve synchronously (no promise); a denial throws', async () => {
    const e = await httpEngine();
    const ex = makeExchange({ kind: 'http', method: 'POST', path: '/t/acme-corp/ns/production/streams/orders', principal: publisher });
    assert.equal(e.classify(ex), undefined);
    assert.equal(e.authorize(ex), undefined);
    assert.equal(ex.decision?.allow, true);
    assert.equal(e.approve(ex), undefined);
    const denied = makeExchange({ kind: 'http', method: 'DELETE', path: '/t/acme-corp/ns/production/streams/orders', principal: publisher });
    e.classify(denied);
    assert.throws(() => e.authorize(denied), (err: unknown) => err instanceof GatehouseError && err.code === 'GH_FORBIDDEN');
  });
});

describe('RBAC decisions', () => {
  test('the publisher may publish to stream:orders, and the rule is named', async () => {
    const e = await httpEngine();
    const { err, ex } = await call(e, 'POST', '/t/acme-corp/ns/production/streams/orders', publisher);
    assert.equal(err, undefined);
    assert.equal(ex.decision?.reason, 'rbac_rule');
    assert.equal(ex.decision?.rule, `acl:${FIXTURES}seed002-acl.yaml#0.rules[0]`);
  });

  test('the publisher may not subscribe; the consumer may not publish', async () => {
    const e = await httpEngine();
    const { err, ex } = await call(e, 'GET', '/t/acme-corp/ns/production/streams/orders', publisher);
    assert.equal(err?.code, 'GH_FORBIDDEN');
    assert.equal(ex.decision?.reason, 'rbac_no_rule');
    assert.match(err?.message ?? '', /no ACL rule grants subscribe on stream:orders in acme-corp\/production to service-account-publisher/);
    assert.equal((await call(e, 'POST', '/t/acme-corp/ns/production/streams/orders', principal('service-account-consumer', []))).err?.code, 'GH_FORBIDDEN');
  });

  test('the admin service account has every permission on every resource of its namespace', async () => {
    const e = await httpEngine();
    const admin = principal('service-account-admin', [], { tenant: 'acme-corp' });
    for (const [m, p] of [
      ['POST', '/t/acme-corp/ns/production/streams/anything'],
      ['PUT', '/t/acme-corp/ns/production/caches/sessions'],
      ['POST', '/t/acme-corp/ns/production/admin/streams/create'],
    ] as const) {
      assert.equal((await call(e, m, p, admin)).err, undefined, `${m} ${p}`);
    }
    assert.equal((await call(e, 'POST', '/t/acme-corp/ns/staging/streams/orders', admin)).err?.code, 'GH_FORBIDDEN');
  });

  test('scopes do not replace ACL permissions: an admin-scoped token still needs a rule', async () => {
    const e = await httpEngine();
    assert.equal((await call(e, 'POST', '/t/acme-corp/ns/production/streams/orders', principal('root', ['admin']))).err?.code, 'GH_FORBIDDEN');
  });
});

describe('policy validated at load (routes and tenants)', () => {
  const invalid = async (authz: Record<string, unknown>, re: RegExp) =>
    assert.rejects(httpEngine(authz), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_CONFIG_INVALID' && re.test(e.message));

  test('a tenant route with an unknown permission', () =>
    invalid({ routes: [{ path: '/t/:tenant/x', action: 'delete' }] }, /authz\.routes\[0\]: unknown permission "delete"/));
  test('a route naming an unknown scope', () => invalid({ routes: [{ path: '/x', scopes: ['sys:read'] }] }, /authz\.routes\[0\]\.scopes: unknown scope/));
  test('a route requiring nothing', () => invalid({ routes: [{ path: '/x' }] }, /requires nothing/));
  test('a resource template naming an unbound parameter', () =>
    invalid({ routes: [{ path: '/t/:tenant/s/:stream', action: 'publish', resource: 'stream:{name}' }] }, /does not bind/));
  test('a "*" that is not last', () => invalid({ routes: [{ path: '/a/*/b', any_authenticated: true }] }, /only as the last segment/));
  test('an ACL naming a tenant outside authz.tenants', () => invalid({ tenants: ['acme-corp'] }, /tenant "globex" is not in authz\.tenants/));
  test('a cross-tenant grant naming an unknown tenant', () =>
    invalid({ tenants: ['acme-corp', 'globex'], cross_tenant_grants: [{ principal: 'ops', tenants: ['initech'] }] }, /unknown tenant "initech"/));
  test('approval.tools naming an unknown tool', async () => {
    await assert.rejects(httpEngine({}, { tools: { nope: 'queue' } }), /approval\.tools\.nope: unknown tool/);
  });
  test('mode webhook without a url, and a url without a secret', async () => {
    await assert.rejects(httpEngine({}, { mode: 'webhook' }), /approval\.webhook\.url/);
    await assert.rejects(httpEngine({}, { webhook: { url: 'https://approver.example/' } }), /secret/);
  });
});

describe('approval on HTTP routes', () => {
  test('a route marked requires_approval binds method, path and query; a retry with the id proceeds once approved', async () => {
    const e = await httpEngine(
      { routes: [{ name: 'purge', path: '/ops/purge', methods: ['POST'], scopes: ['system:admin'], risk_level: 'high', requires_approval: true }] },
      { mode: 'queue', queue: { hold_timeout: 0 } },
    );
    const ops = principal('ops', ['admin']);
    const attempt = async (query: string, headers: Record<string, string> = {}) => {
      const ex = makeExchange({ kind: 'http', method: 'POST', path: '/ops/purge', query, principal: ops, headers });
      try {
        await e.classify(ex);
        await e.authorize(ex);
        await e.approve(ex);
        return { ex, err: undefined };
      } catch (err) {
        return { ex, err: err as GatehouseError };
      }
    };
    const first = await attempt('all=1');
    assert.equal(first.err?.code, 'GH_APPROVAL_PENDING');
    const id = first.err?.data?.['approval_id'] as string;
    assert.equal((await e.approvals.get(id))?.subject, 'POST /ops/purge?all=1');
    await e.approvals.decide(id, 'approve', { approver: 'alice' });
    const other = await attempt('all=2', { 'x-gatehouse-approval': id });
    assert.equal(other.err?.code, 'GH_APPROVAL_PENDING', 'another query string needs its own approval');
    const ok = await attempt('all=1', { 'x-gatehouse-approval': id });
    assert.equal(ok.err, undefined);
    assert.equal(ok.ex.approval?.id, id);
  });
});
