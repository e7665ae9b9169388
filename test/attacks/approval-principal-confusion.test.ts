/**
 * A principal id is only unique within the credential namespace it came from: `ops` the Gatehouse token subject,
 * `ops` the `sub` of a JWT from some configured issuer, and `ops` the name of an API key or a basic user are
 * different callers. An approval granted to one of them must not let another, holding a different kind of
 * credential that happens to carry the same name, through.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicyEngine } from '../../src/authz/index.js';
import type { Principal } from '../../src/core/types.js';
import { makeConfig, makeDeps, makeExchange, principal, runPolicy, toolCall } from '../authz/helpers.js';

async function setup() {
  const e = await createPolicyEngine(makeConfig({ approval: { mode: 'queue', queue: { hold_timeout: 0 } } }), makeDeps());
  const attempt = async (p: Principal, approvalId?: string) => {
    const ex = makeExchange({ body: toolCall('install_package', { package_name: 'nginx' }), principal: p, ...(approvalId ? { headers: { 'x-gatehouse-approval': approvalId } } : {}) });
    return runPolicy(e, ex);
  };
  return { e, attempt };
}

const tokenOps = principal('ops', ['admin'], { method: 'token' });
const impostors: Array<[string, Principal]> = [
  ['an API key named ops', principal('ops', ['admin'], { method: 'api_key', type: 'service' })],
  ['a basic user named ops', principal('ops', ['admin'], { method: 'basic', type: 'user' })],
  ['a JWT with sub ops', principal('ops', ['admin'], { method: 'jwt', attributes: { issuer: 'https://idp.partner.example' } })],
];

test('a window approval for a token principal does not cover a same-named principal of another credential kind', async () => {
  const { e, attempt } = await setup();
  const id = (await attempt(tokenOps))?.data?.['approval_id'] as string;
  await e.approvals.decide(id, 'approve', { approver: 'alice', windowMs: 3_600_000 });
  for (const [what, p] of impostors) {
    const err = await attempt(p, id);
    assert.equal(err?.code, 'GH_APPROVAL_PENDING', what);
    assert.notEqual(err?.data?.['approval_id'], id, what);
  }
  assert.equal(await attempt(tokenOps, id), undefined, 'the approved principal itself still passes');
});

test('a single-use approval is not consumed by a same-named JWT from another issuer', async () => {
  const { e, attempt } = await setup();
  const corp = principal('ops', ['admin'], { method: 'jwt', attributes: { issuer: 'https://idp.corp.example' } });
  const partner = principal('ops', ['admin'], { method: 'jwt', attributes: { issuer: 'https://idp.partner.example' } });
  const id = (await attempt(corp))?.data?.['approval_id'] as string;
  await e.approvals.decide(id, 'approve', { approver: 'alice' });
  assert.equal((await attempt(partner, id))?.code, 'GH_APPROVAL_PENDING');
  assert.equal((await attempt(partner))?.code, 'GH_APPROVAL_PENDING');
  assert.equal(await attempt(corp, id), undefined, 'the grant is still there for the principal it was given to');
});
