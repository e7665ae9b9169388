/**
 * A principal bound to a tenant never reaches another tenant's resources, and `admin` alone does not cross tenants
 * (docs/authorization.md, Tenancy). The approvals admin API is such a resource: a tenant admin must neither read
 * another tenant's requests (their arguments) nor decide them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApprovalsAdminHandler } from '../../src/approval/index.js';
import { createPolicyEngine, type PolicyEngine } from '../../src/authz/index.js';
import type { Principal } from '../../src/core/types.js';
import { makeConfig, makeDeps, principal } from '../authz/helpers.js';

let server: Server;
let base: string;
let engine: PolicyEngine;
const callers: Record<string, Principal> = {
  'acme-admin': principal('acme-admin', ['admin'], { tenant: 'acme-corp' }),
  'globex-admin': principal('globex-admin', ['admin'], { tenant: 'globex' }),
  operator: principal('operator', ['admin']),
  'acme-sre': principal('acme-sre', ['admin', 'tenant:globex:admin'], { tenant: 'acme-corp' }),
};

before(async () => {
  engine = await createPolicyEngine(makeConfig({ approval: { mode: 'queue', queue: { hold_timeout: 0 } } }), makeDeps());
  const handler = createApprovalsAdminHandler(engine);
  server = createServer((req, res) => void handler(req, res, (req.url ?? '/').replace(/^\/_gatehouse/, ''), callers[String(req.headers['x-test-principal'])]));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/_gatehouse`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function api(method: string, path: string, who: string) {
  const res = await fetch(`${base}${path}`, { method, headers: { 'x-test-principal': who } });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

const globexRequest = async (pkg: string) =>
  (
    await engine.approvals.request({
      principal: 'globex-deployer',
      tenant: 'globex',
      kind: 'tool',
      subject: 'install_package',
      args: { package_name: pkg },
      risk_level: 'critical',
      mode: 'queue',
    })
  ).record;

test("a tenant admin cannot list or show another tenant's approval requests", async () => {
  const rec = await globexRequest('nginx');
  const list = await api('GET', '/approvals', 'acme-admin');
  assert.equal(list.status, 200);
  assert.ok(!list.json['approvals'].some((a: { id: string }) => a.id === rec.id), 'globex request listed to an acme admin');
  const show = await api('GET', `/approvals/${rec.id}`, 'acme-admin');
  assert.equal(show.status, 404);
  assert.equal(show.json['error'].code, 'GH_APPROVAL_NOT_FOUND');
});

test("a tenant admin cannot approve or deny another tenant's request", async () => {
  const a = await globexRequest('curl');
  assert.equal((await api('POST', `/approvals/${a.id}/approve`, 'acme-admin')).status, 404);
  assert.equal((await api('POST', `/approvals/${a.id}/deny`, 'acme-admin')).status, 404);
  assert.equal((await engine.approvals.get(a.id))?.status, 'pending');
});

test("the tenant's own admin, and an admin bound to no tenant, still decide it", async () => {
  const a = await globexRequest('htop');
  assert.ok((await api('GET', '/approvals', 'globex-admin')).json['approvals'].some((x: { id: string }) => x.id === a.id));
  assert.equal((await api('POST', `/approvals/${a.id}/approve`, 'globex-admin')).status, 200);
  const b = await globexRequest('vim');
  assert.equal((await api('POST', `/approvals/${b.id}/deny`, 'operator')).status, 200);
});

test('an explicit cross-tenant admin grant reaches the other tenant, as for any other resource', async () => {
  const a = await globexRequest('tmux');
  assert.ok((await api('GET', '/approvals', 'acme-sre')).json['approvals'].some((x: { id: string }) => x.id === a.id));
  assert.equal((await api('POST', `/approvals/${a.id}/approve`, 'acme-sre')).status, 200);
});

test("a cross-tenant admin's request acting in another tenant is seen and decided by that tenant's admins too", async () => {
  const { record } = await engine.approvals.request({
    principal: 'acme-sre',
    tenant: 'acme-corp',
    operation_tenant: 'globex',
    kind: 'tool',
    subject: 'install_package',
    args: { package_name: 'strace' },
    risk_level: 'critical',
    mode: 'queue',
  });
  assert.equal(record.operation_tenant, 'globex');
  assert.ok((await api('GET', '/approvals', 'globex-admin')).json['approvals'].some((x: { id: string }) => x.id === record.id), 'hidden from the tenant it acts in');
  assert.equal((await api('GET', `/approvals/${record.id}`, 'acme-admin')).status, 200, "the requester's tenant still sees it");
  assert.equal((await api('POST', `/approvals/${record.id}/approve`, 'globex-admin')).status, 200);
});
