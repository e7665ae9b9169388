import { after, before, describe, test } from 'node:test';
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
  alice: principal('alice', ['admin']),
  ops: principal('ops-automation', ['admin']),
  reader: principal('reader', ['readonly']),
};

before(async () => {
  engine = await createPolicyEngine(makeConfig({ approval: { mode: 'queue', queue: { hold_timeout: 0 } } }), makeDeps());
  const handler = createApprovalsAdminHandler(engine);
  server = createServer((req, res) => {
    const who = callers[String(req.headers['x-test-principal'])];
    void handler(req, res, (req.url ?? '/').replace(/^\/_gatehouse/, ''), who);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/_gatehouse`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function api(method: string, path: string, who: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'x-test-principal': who, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

const pending = async (pkg: string) =>
  (await engine.approvals.request({ principal: 'ops-automation', kind: 'tool', subject: 'install_package', args: { package_name: pkg }, risk_level: 'critical', mode: 'queue' }))
    .record;

describe('approvals admin API', () => {
  test('list and show pending approvals', async () => {
    const rec = await pending('nginx');
    const list = await api('GET', '/approvals?status=pending', 'alice');
    assert.equal(list.status, 200);
    assert.ok(list.json['approvals'].some((a: { id: string }) => a.id === rec.id));
    const show = await api('GET', `/approvals/${rec.id}`, 'alice');
    assert.equal(show.json['approval'].subject, 'install_package');
    assert.deepEqual(show.json['approval'].args, { package_name: 'nginx' });
    assert.equal(show.json['approval'].effective_status, 'pending');
  });

  test('approve with a window, deny with a reason', async () => {
    const a = await pending('curl');
    const ok = await api('POST', `/approvals/${a.id}/approve`, 'alice', { window: '15m', reason: 'maintenance' });
    assert.equal(ok.status, 200);
    assert.equal(ok.json['approval'].status, 'approved');
    assert.equal(ok.json['approval'].approver, 'alice');
    assert.ok(ok.json['approval'].window_until > ok.json['approval'].decided_at);
    const d = await pending('netcat');
    const no = await api('POST', `/approvals/${d.id}/deny`, 'alice', { reason: 'why netcat?' });
    assert.equal(no.json['approval'].status, 'denied');
    const twice = await api('POST', `/approvals/${d.id}/approve`, 'alice');
    assert.equal(twice.status, 409);
    assert.equal(twice.json['error'].code, 'GH_APPROVAL_ALREADY_DECIDED');
  });

  test('the caller needs the admin scope', async () => {
    const r = await api('GET', '/approvals', 'reader');
    assert.equal(r.status, 403);
    assert.equal(r.json['error'].code, 'GH_SCOPE_MISSING');
    assert.equal((await api('GET', '/approvals', 'nobody')).status, 403);
  });

  test('nobody approves their own request (four eyes)', async () => {
    const rec = await pending('htop');
    const r = await api('POST', `/approvals/${rec.id}/approve`, 'ops');
    assert.equal(r.status, 403);
    assert.match(r.json['error'].message, /their own request/);
  });

  test('bad input: unknown id, oversized window, bad JSON, unknown route', async () => {
    assert.equal((await api('GET', '/approvals/apr_AAAAAAAAAAAAAAAA', 'alice')).status, 404);
    const rec = await pending('vim');
    assert.equal((await api('POST', `/approvals/${rec.id}/approve`, 'alice', { window: '30d' })).status, 400);
    const bad = await fetch(`${base}/approvals/${rec.id}/approve`, { method: 'POST', headers: { 'x-test-principal': 'alice' }, body: '{nope' });
    assert.equal(bad.status, 400);
    assert.equal((await api('PUT', `/approvals/${rec.id}`, 'alice')).status, 404);
  });
});
