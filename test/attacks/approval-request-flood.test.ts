/**
 * Approval flooding and MFA fatigue: one principal could create any number of pending requests, re-ask a denied call
 * at once until someone clicked approve, and every admin list and metrics scrape loaded every record with its
 * arguments. Now: at most approval.max_pending_per_principal pending requests per principal (429), a denied call is
 * not asked again within approval.deny_cooldown, and the pending gauge and pending list read a small index.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { APPROVALS_NS, pendingApprovals } from '../../src/approval/index.js';
import { createPolicyEngine } from '../../src/authz/index.js';
import type { StateStore } from '../../src/core/store.js';
import { MemoryStore } from '../../src/store/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { startApprovalGateway, type ApprovalGateway } from '../helpers/approval-gateway.js';
import { makeConfig, makeDeps, makeExchange, principal, runPolicy, toolCall } from '../authz/helpers.js';

const bot = principal('ops-bot', ['system:admin']);
const install = (pkg: string, p = bot) => makeExchange({ body: toolCall('install_package', { package_name: pkg }), principal: p });

async function engine(approval: Record<string, unknown>, store?: StateStore) {
  const clock = new ManualClock();
  const deps = makeDeps({ clock, ...(store ? { store } : {}) });
  const e = await createPolicyEngine(makeConfig({ approval: { mode: 'queue', queue: { hold_timeout: 0 }, ...approval } as never }), deps);
  return { e, deps, clock };
}

test('a principal cannot have more than max_pending_per_principal requests waiting', async () => {
  const { e, deps } = await engine({ max_pending_per_principal: 3 });
  for (const pkg of ['a', 'b', 'c']) assert.equal((await runPolicy(e, install(pkg)))?.code, 'GH_APPROVAL_PENDING');
  const refused = await runPolicy(e, install('d'));
  assert.equal(refused?.code, 'GH_RATE_LIMITED');
  assert.equal(refused?.status, 429);
  assert.equal(refused?.data?.['reason'], 'approval_pending_limit');
  assert.equal((await e.approvals.list({ status: 'pending' })).length, 3, 'the refused call created no request');
  assert.equal(deps.events.at(-1)?.event_type, 'approval.denied');
  assert.equal((await runPolicy(e, install('a')))?.code, 'GH_APPROVAL_PENDING', 'an identical call still shares its pending request');
  assert.equal((await runPolicy(e, install('d', principal('alice', ['system:admin']))))?.code, 'GH_APPROVAL_PENDING', 'another principal is not affected');
  const [oldest] = await e.approvals.list({ status: 'pending' });
  await e.approvals.decide(oldest!.id, 'approve', { approver: 'carol' });
  assert.equal((await runPolicy(e, install('e')))?.code, 'GH_APPROVAL_PENDING', 'a decided request frees its slot');
});

test('a denied call asked again within deny_cooldown gets the denial, no new request; after it, a new request', async () => {
  const { e, clock } = await engine({ deny_cooldown: '5m' });
  const id = (await runPolicy(e, install('netcat')))?.data?.['approval_id'] as string;
  await e.approvals.decide(id, 'deny', { approver: 'carol', reason: 'no' });
  for (let i = 0; i < 3; i++) {
    const again = await runPolicy(e, install('netcat'));
    assert.equal(again?.code, 'GH_APPROVAL_DENIED');
    assert.equal(again?.data?.['reason'], 'denied_recently');
    assert.equal(again?.data?.['approval_id'], id);
    assert.match(again?.message ?? '', /denied recently/);
  }
  assert.equal((await e.approvals.list({ status: 'pending' })).length, 0, 'the approver was not asked again');
  clock.advance(5 * 60_000 + 1);
  const later = await runPolicy(e, install('netcat'));
  assert.equal(later?.code, 'GH_APPROVAL_PENDING');
  assert.notEqual(later?.data?.['approval_id'], id);
});

test('the pending gauge and the pending list do not load every record and its arguments', async () => {
  const store = new MemoryStore({ clock: new ManualClock() });
  const { e, clock } = await engine({}, store);
  for (let i = 0; i < 5; i++) await runPolicy(e, install(`pkg-${i}`, principal(`agent-${i}`, ['system:admin'])));
  const decided = (await e.approvals.list({ status: 'pending' }))[0]!;
  await e.approvals.decide(decided.id, 'deny', { approver: 'carol' });
  const listed: string[] = [];
  const list = store.list.bind(store);
  store.list = (async (ns: string, opts?: { prefix?: string; limit?: number }) => {
    listed.push(ns);
    return list(ns, opts);
  }) as StateStore['list'];
  assert.equal(await pendingApprovals(store, clock.now()), 4);
  assert.equal((await e.approvals.list({ status: 'pending' })).length, 4);
  assert.ok(!listed.includes(APPROVALS_NS), `read every record: ${listed.join(', ')}`);
});

describe('through the gateway', () => {
  let setup: ApprovalGateway;
  let upstream: ApprovalGateway['upstream'];
  let gw: ApprovalGateway['gw'];
  let token: string;
  let approverToken: string;
  before(async () => {
    setup = await startApprovalGateway({ approval: { max_pending_per_principal: 2 } });
    ({ upstream, gw, token, approverToken } = setup);
  });
  after(() => setup.close());
  const purge = async (scope: string) => {
    const res = await request(`${gw.url}/ops/purge`, { method: 'POST', body: JSON.stringify({ scope }), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    return { status: res.statusCode, headers: res.headers, error: ((await res.body.json()) as { error: Record<string, any> }).error };
  };

  test('the third pending request is 429; a denied one asked again is refused as denied recently', async () => {
    const first = await purge('a');
    await purge('b');
    const third = await purge('c');
    assert.equal(third.status, 429);
    assert.equal(third.error['reason'], 'approval_pending_limit');
    assert.ok(Number(third.headers['retry-after']) > 0);
    const deny = await request(`${gw.url}/_gatehouse/approvals/${first.error['approval_id']}/deny`, { method: 'POST', body: '{"reason":"no"}', headers: { authorization: `Bearer ${approverToken}` } });
    assert.equal(deny.statusCode, 200);
    await deny.body.dump();
    const again = await purge('a');
    assert.equal(again.status, 403);
    assert.equal(again.error['code'], 'GH_APPROVAL_DENIED');
    assert.equal(again.error['reason'], 'denied_recently');
    assert.equal(upstream.requests.length, 0);
  });
});

test('a request its webhook approver could not be asked about frees its pending place (the approver was down)', async () => {
  // A closed port on loopback: the webhook is unreachable, as when the approver service is down.
  const { createServer } = await import('node:net');
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const { e } = await engine({ mode: 'webhook', max_pending_per_principal: 2, webhook: { url: `http://127.0.0.1:${port}/approve`, secret: 'w'.repeat(32), timeout: '2s' } });
  for (const pkg of ['a', 'b', 'c', 'd']) {
    const refused = await runPolicy(e, install(pkg));
    // Denied because nobody could be asked — never the pending cap, which requests no approver saw used to fill.
    assert.notEqual(refused?.data?.['reason'], 'approval_pending_limit', `${pkg}: ${refused?.code} ${JSON.stringify(refused?.data)}`);
    assert.ok(refused, `${pkg} was let through`);
  }
  assert.equal((await e.approvals.list({ status: 'pending' })).length, 0, 'nothing is left waiting');
  const all = await e.approvals.list({});
  assert.ok(all.length >= 4 && all.every((r) => r.status === 'expired' && r.reason === 'approver unavailable'), JSON.stringify(all.map((r) => [r.status, r.reason])));
});
