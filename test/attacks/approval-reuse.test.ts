/** An approval binds principal, tool, the exact arguments and an expiry: every attempt to stretch one is refused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicyEngine } from '../../src/authz/index.js';
import type { Principal } from '../../src/core/types.js';
import { makeConfig, makeDeps, makeExchange, principal, runPolicy, toolCall } from '../authz/helpers.js';

async function setup() {
  const deps = makeDeps();
  const e = await createPolicyEngine(makeConfig({ approval: { mode: 'queue', queue: { hold_timeout: 0 } } }), deps);
  const attempt = async (p: Principal, tool: string, args: Record<string, unknown>, approvalId?: string) => {
    const ex = makeExchange({ body: toolCall(tool, args), principal: p, ...(approvalId ? { headers: { 'x-gatehouse-approval': approvalId } } : {}) });
    return runPolicy(e, ex);
  };
  return { e, deps, attempt };
}
const ops = principal('ops', ['admin']);

test('an approval for install_package nginx does not cover nginx plus auto_approve, another package, or another tool', async () => {
  const { e, attempt } = await setup();
  const id = (await attempt(ops, 'install_package', { package_name: 'nginx' }))?.data?.['approval_id'] as string;
  await e.approvals.decide(id, 'approve', { approver: 'alice', windowMs: 3_600_000 });
  for (const [tool, args] of [
    ['install_package', { package_name: 'nginx', auto_approve: true }],
    ['install_package', { package_name: 'nginx ' }],
    ['install_package', { package_name: 'NGINX' }],
    ['pull_docker_image', { image: 'nginx' }],
  ] as const) {
    const err = await attempt(ops, tool, args, id);
    assert.equal(err?.code, 'GH_APPROVAL_PENDING', `${tool} ${JSON.stringify(args)}`);
    assert.notEqual(err?.data?.['approval_id'], id);
  }
  assert.equal(await attempt(ops, 'install_package', { package_name: 'nginx' }, id), undefined, 'the approved call itself still passes');
});

test('the same principal id in another tenant does not share approvals', async () => {
  const { e, attempt } = await setup();
  const a = principal('svc', ['admin'], { tenant: 'acme-corp' });
  const id = (await attempt(a, 'install_package', { package_name: 'nginx' }))?.data?.['approval_id'] as string;
  await e.approvals.decide(id, 'approve', { approver: 'alice' });
  const err = await attempt(principal('svc', ['admin'], { tenant: 'globex' }), 'install_package', { package_name: 'nginx' }, id);
  assert.equal(err?.code, 'GH_APPROVAL_PENDING');
});

test('an approval granted on one MCP route is not used on another route exposing the same tool (staging vs prod)', async () => {
  const deps = makeDeps();
  const e = await createPolicyEngine(makeConfig({ approval: { mode: 'queue', queue: { hold_timeout: 0 } } }), deps);
  const via = (route: string, approvalId?: string) => {
    const ex = makeExchange({ body: toolCall('install_package', { package_name: 'nginx' }), principal: ops, ...(approvalId ? { headers: { 'x-gatehouse-approval': approvalId } } : {}) });
    ex.route = { name: route, prefix: `/${route}`, kind: 'mcp' };
    return runPolicy(e, ex);
  };
  const id = (await via('staging'))?.data?.['approval_id'] as string;
  assert.equal((await e.approvals.get(id))?.route, 'staging', 'the approver sees which route asks');
  await e.approvals.decide(id, 'approve', { approver: 'alice', windowMs: 3_600_000 });
  const err = await via('prod', id);
  assert.equal(err?.code, 'GH_APPROVAL_PENDING');
  assert.notEqual(err?.data?.['approval_id'], id);
  assert.equal(await via('staging', id), undefined, 'on its own route the approval still works');
});

test('garbage or injected approval ids are ignored, never looked up as keys', async () => {
  const { attempt } = await setup();
  for (const id of ['../../approvals', '*', 'apr_', 'apr_AAAAAAAAAAAAAAAA\r\nx: y', '__proto__']) {
    assert.equal((await attempt(ops, 'install_package', { package_name: 'nginx' }, id))?.code, 'GH_APPROVAL_PENDING', id);
  }
});

test('concurrent retries of one single-use approval: exactly one proceeds', async () => {
  const { e, attempt } = await setup();
  const id = (await attempt(ops, 'install_package', { package_name: 'nginx' }))?.data?.['approval_id'] as string;
  await e.approvals.decide(id, 'approve', { approver: 'alice' });
  const results = await Promise.all(Array.from({ length: 5 }, () => attempt(ops, 'install_package', { package_name: 'nginx' }, id)));
  assert.equal(results.filter((r) => r === undefined).length, 1);
  for (const r of results.filter((x) => x !== undefined)) assert.equal(r?.code, 'GH_APPROVAL_PENDING');
});
