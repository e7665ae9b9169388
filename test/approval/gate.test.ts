import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApprovalStore } from '../../src/approval/index.js';
import { createPolicyEngine } from '../../src/authz/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { GatehouseError } from '../../src/core/errors.js';
import type { Principal } from '../../src/core/types.js';
import { SqliteStore } from '../../src/store/index.js';
import { fakeResolver, makeConfig, makeDeps, makeExchange, principal, toolCall, type TestDeps } from '../authz/helpers.js';

const admin = principal('ops-automation', ['admin']);

async function setup(approval: Record<string, unknown>, deps: TestDeps = makeDeps(), stateDir?: string) {
  const cfg = { ...makeConfig({ approval: approval as never }), ...(stateDir !== undefined ? { state_dir: stateDir } : {}) };
  const e = await createPolicyEngine(cfg, deps, { resolve: fakeResolver({ 'example.com': ['93.184.215.14'] }) });
  const attempt = async (args: Record<string, unknown>, opts: { p?: Principal; headers?: Record<string, string>; meta?: Record<string, unknown>; tool?: string } = {}) => {
    const ex = makeExchange({ body: toolCall(opts.tool ?? 'install_package', args, 1, opts.meta), principal: opts.p ?? admin, ...(opts.headers ? { headers: opts.headers } : {}) });
    try {
      await e.classify(ex);
      await e.authorize(ex);
      await e.approve(ex);
      return { ex, err: undefined };
    } catch (err) {
      if (!(err instanceof GatehouseError)) throw err;
      return { ex, err };
    }
  };
  return { e, deps, attempt };
}

const idOf = (err: GatehouseError | undefined): string => {
  assert.equal(err?.code, 'GH_APPROVAL_PENDING', String(err?.message));
  return err?.data?.['approval_id'] as string;
};

describe('queue approvals (hold_timeout 0)', () => {
  test('the call returns at once with the approval id, named in the message and the JSON-RPC error', async () => {
    const { e, attempt, deps } = await setup({ mode: 'queue', queue: { hold_timeout: 0 } });
    const { err, ex } = await attempt({ package_name: 'nginx' });
    const id = idOf(err);
    assert.match(err?.message ?? '', new RegExp(`waiting for approval ${id}`));
    const body = JSON.parse(e.jsonRpcError(err!, ex).toString());
    assert.equal(body.error.code, -32020);
    assert.equal(body.error.data.approval_id, id);
    assert.deepEqual(deps.events.map((x) => x.event_type), ['approval.requested']);
    assert.equal(deps.events[0]?.approval?.id, id);
    assert.equal((deps.events[0]?.metadata as Record<string, unknown>)['args_hmac'], (await e.approvals.get(id))?.args_hmac);
    assert.equal(JSON.stringify(deps.events).includes('nginx'), false, 'audit events carry the argument hash, not the arguments');
  });

  test('once approved, a retry carrying the id (header or _meta) proceeds, once', async () => {
    const { e, attempt, deps } = await setup({ mode: 'queue', queue: { hold_timeout: 0 } });
    const id = idOf((await attempt({ package_name: 'nginx' })).err);
    await e.approvals.decide(id, 'approve', { approver: 'cli:alice' });
    const ok = await attempt({ package_name: 'nginx' }, { headers: { 'x-gatehouse-approval': id } });
    assert.equal(ok.err, undefined);
    assert.deepEqual(ok.ex.approval, { required: true, approved: true, id, approver: 'cli:alice' });
    assert.equal(deps.events.at(-1)?.event_type, 'approval.approved');
    // used once: the same retry now needs a new approval
    const again = await attempt({ package_name: 'nginx' }, { meta: { 'gatehouse/approval_id': id } });
    assert.notEqual(idOf(again.err), id);
  });

  test('a retry without the id also proceeds once approved (the binding finds it)', async () => {
    const { e, attempt } = await setup({ mode: 'queue', queue: { hold_timeout: 0 } });
    const id = idOf((await attempt({ package_name: 'nginx' })).err);
    await e.approvals.decide(id, 'approve', { approver: 'x' });
    assert.equal((await attempt({ package_name: 'nginx' })).err, undefined);
  });

  test('a different argument set needs its own approval, even carrying an approved id', async () => {
    const { e, attempt } = await setup({ mode: 'queue', queue: { hold_timeout: 0 } });
    const id = idOf((await attempt({ package_name: 'nginx' })).err);
    await e.approvals.decide(id, 'approve', { approver: 'x' });
    const other = await attempt({ package_name: 'netcat' }, { headers: { 'x-gatehouse-approval': id } });
    const otherId = idOf(other.err);
    assert.notEqual(otherId, id);
    assert.equal((await e.approvals.get(id))?.status, 'approved', 'the nginx approval is untouched');
  });

  test("another principal cannot use someone else's approval", async () => {
    const { e, attempt } = await setup({ mode: 'queue', queue: { hold_timeout: 0 } });
    const id = idOf((await attempt({ package_name: 'nginx' })).err);
    await e.approvals.decide(id, 'approve', { approver: 'x' });
    const mallory = principal('mallory', ['admin']);
    assert.notEqual(idOf((await attempt({ package_name: 'nginx' }, { p: mallory, headers: { 'x-gatehouse-approval': id } })).err), id);
  });

  test('a denied request answers GH_APPROVAL_DENIED with approver and reason', async () => {
    const { e, attempt, deps } = await setup({ mode: 'queue', queue: { hold_timeout: 0 } });
    const id = idOf((await attempt({ package_name: 'nginx' })).err);
    await e.approvals.decide(id, 'deny', { approver: 'bob', reason: 'change freeze' });
    const { err } = await attempt({ package_name: 'nginx' }, { headers: { 'x-gatehouse-approval': id } });
    assert.equal(err?.code, 'GH_APPROVAL_DENIED');
    assert.match(err?.message ?? '', new RegExp(`^Approval ${id} for install_package was denied by bob: change freeze\\. It was denied recently`));
    assert.equal(deps.events.at(-1)?.event_type, 'approval.denied');
  });

  test('an expired approval answers GH_APPROVAL_EXPIRED and is audited', async () => {
    const deps = makeDeps();
    const { attempt } = await setup({ mode: 'queue', queue: { hold_timeout: 0, approval_ttl: '10m' } }, deps);
    const id = idOf((await attempt({ package_name: 'nginx' })).err);
    deps.clock.advance(11 * 60_000);
    const { err } = await attempt({ package_name: 'nginx' }, { headers: { 'x-gatehouse-approval': id } });
    assert.equal(err?.code, 'GH_APPROVAL_EXPIRED');
    assert.equal(deps.events.at(-1)?.event_type, 'approval.expired');
  });

  test('a window grant lets identical calls through until it closes', async () => {
    const deps = makeDeps();
    const { e, attempt } = await setup({ mode: 'queue', queue: { hold_timeout: 0 } }, deps);
    const id = idOf((await attempt({ package_name: 'nginx' })).err);
    await e.approvals.decide(id, 'approve', { approver: 'x', windowMs: 30 * 60_000 });
    assert.equal((await attempt({ package_name: 'nginx' })).err, undefined);
    assert.equal((await attempt({ package_name: 'nginx' })).err, undefined);
    deps.clock.advance(31 * 60_000);
    assert.equal((await attempt({ package_name: 'nginx' })).err?.code, 'GH_APPROVAL_PENDING');
  });
});

describe('queue approvals held (another process approves)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-gate-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the call is held until the CLI (second SQLite handle) approves, then proceeds', async () => {
    const clock = new ManualClock();
    const gwStore = new SqliteStore(join(dir, 'state.db'), { clock });
    const cliStore = new SqliteStore(join(dir, 'state.db'), { clock });
    try {
      const { attempt } = await setup({ mode: 'queue', queue: { hold_timeout: '5s', poll_interval: '10ms' } }, makeDeps({ clock, store: gwStore }), dir);
      const cli = new ApprovalStore(cliStore, clock, 3_600_000);
      const approver = (async () => {
        for (;;) {
          const [pending] = await cli.list({ status: 'pending' });
          if (pending) return cli.decide(pending.id, 'approve', { approver: 'cli:alice' });
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      const { err, ex } = await attempt({ package_name: 'nginx' });
      assert.equal(err, undefined);
      assert.equal(ex.approval?.approver, 'cli:alice');
      await approver;
    } finally {
      await gwStore.close();
      await cliStore.close();
    }
  });

  test('when nobody decides within hold_timeout, the call answers pending with the id', async () => {
    const { attempt } = await setup({ mode: 'queue', queue: { hold_timeout: '50ms', poll_interval: '10ms' } });
    const started = Date.now();
    idOf((await attempt({ package_name: 'nginx' })).err);
    assert.ok(Date.now() - started < 3000);
  });

  test('a principal holding max_held_per_principal calls gets the next answered at once; another principal is still held', async () => {
    const { e, attempt } = await setup({ mode: 'queue', queue: { hold_timeout: '30s', poll_interval: '10ms', max_held_per_principal: 2 } });
    const held = [0, 1].map(() => {
      const ex = makeExchange({ body: toolCall('install_package', { package_name: 'nginx' }), principal: admin });
      return { ex, done: (async () => { await e.classify(ex); await e.authorize(ex); await e.approve(ex); })() };
    });
    let settled = 0;
    for (const h of held) h.done.then(() => settled++, () => settled++);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(settled, 0, 'the first two are held');
    const started = Date.now();
    idOf((await attempt({ package_name: 'nginx' })).err);
    assert.ok(Date.now() - started < 5000, 'the third is answered with the id instead of being held 30 s');
    // The cap is per principal: another principal's call is held (and ends when its client leaves).
    const other = makeExchange({ body: toolCall('install_package', { package_name: 'nginx' }), principal: principal('ops-2', ['admin']) });
    await e.classify(other);
    await e.authorize(other);
    let otherSettled = false;
    const otherDone = Promise.resolve(e.approve(other)).finally(() => (otherSettled = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(otherSettled, false, 'another principal is held');
    for (const x of [...held.map((h) => h.ex), other]) x.res.emit('close');
    await Promise.allSettled([...held.map((h) => h.done), otherDone]);
    // Released: the principal is held again.
    const again = makeExchange({ body: toolCall('install_package', { package_name: 'nginx' }), principal: admin });
    await e.classify(again);
    await e.authorize(again);
    let againSettled = false;
    const againDone = Promise.resolve(e.approve(again)).finally(() => (againSettled = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(againSettled, false, 'the held count went back down when the clients left');
    again.res.emit('close');
    await assert.rejects(againDone, (err: unknown) => (err as GatehouseError).code === 'GH_APPROVAL_PENDING');
  });

  test('a client that goes away stops the hold', async () => {
    const { e } = await setup({ mode: 'queue', queue: { hold_timeout: '30s', poll_interval: '10ms' } });
    const ex = makeExchange({ body: toolCall('install_package', { package_name: 'nginx' }), principal: admin });
    await e.classify(ex);
    await e.authorize(ex);
    const pending = Promise.resolve(e.approve(ex));
    setTimeout(() => ex.res.emit('close'), 30);
    await assert.rejects(pending, (err: unknown) => (err as GatehouseError).code === 'GH_APPROVAL_PENDING');
  });
});

describe('modes and break-glass', () => {
  test('no approver configured: critical operations are denied, saying so, and audited', async () => {
    const { attempt, deps } = await setup({});
    const { err } = await attempt({ package_name: 'nginx' });
    assert.equal(err?.code, 'GH_APPROVAL_UNAVAILABLE');
    assert.equal(err?.message, 'no approver configured: critical operations are denied (install_package requires approval)');
    assert.equal(deps.events[0]?.event_type, 'approval.denied');
  });

  test('mode deny refuses; per-tool mode overrides per-risk mode', async () => {
    const { attempt } = await setup({ modes: { critical: 'deny' }, tools: { pull_docker_image: 'queue' }, queue: { hold_timeout: 0 } });
    assert.equal((await attempt({ package_name: 'nginx' })).err?.code, 'GH_APPROVAL_DENIED');
    assert.equal((await attempt({ image: 'nginx' }, { tool: 'pull_docker_image' })).err?.code, 'GH_APPROVAL_PENDING');
  });

  test('a tool named like an Object.prototype member gets the configured mode, not an inherited function', async () => {
    // approval.tools is a plain object: `tools["constructor"]` would find Object.prototype.constructor, which is neither
    // deny nor unavailable, so a call meant to be refused went to the queue instead (and could then be approved).
    for (const name of ['constructor', 'toString', 'valueOf', 'hasOwnProperty']) {
      const tool = { scopes: ['system:admin'], risk_level: 'critical' as const };
      const e = await createPolicyEngine(makeConfig({ authz: { tools: { [name]: tool } } as never, approval: { mode: 'deny', queue: { hold_timeout: 0 } } as never }), makeDeps());
      const ex = makeExchange({ body: toolCall(name, {}), principal: admin });
      await e.classify(ex);
      await e.authorize(ex);
      await assert.rejects(async () => e.approve(ex), (err: unknown) => (err as GatehouseError).code === 'GH_APPROVAL_DENIED', name);
      assert.equal(e.approvalModeFor(ex.operation as never, ex.decision as never), 'deny', name);
    }
  });

  test('require_for extends approval to other risk levels', async () => {
    const { attempt } = await setup({ require_for: ['critical', 'high'], mode: 'queue', queue: { hold_timeout: 0 } });
    assert.equal((await attempt({ name: 'web', action: 'stop' }, { tool: 'manage_container' })).err?.code, 'GH_APPROVAL_PENDING');
    assert.equal((await attempt({}, { tool: 'get_system_status' })).err, undefined);
  });

  test('requires_approval tools need approval whatever their risk (http_request_test)', async () => {
    const { attempt } = await setup({});
    const { err } = await attempt({ url: 'https://example.com/' }, { tool: 'http_request_test', p: principal('n', ['network:diag']) });
    assert.equal(err?.code, 'GH_APPROVAL_UNAVAILABLE');
    assert.match(err?.message ?? '', /^no approver configured: operations requiring approval are denied/);
  });

  test('a break-glass principal skips approval and is audited as break_glass', async () => {
    const { attempt, deps } = await setup({ modes: { critical: 'deny' } });
    const { err, ex } = await attempt({ package_name: 'nginx' }, { p: principal('oncall', ['admin'], { break_glass: true }) });
    assert.equal(err, undefined);
    assert.deepEqual(ex.approval, { required: true, approved: true, approver: 'break_glass', break_glass: true });
    assert.equal(deps.events[0]?.event_type, 'approval.break_glass');
    assert.equal(deps.events[0]?.approval?.break_glass, true);
  });

  test('break-glass does not bypass authorization', async () => {
    const { attempt } = await setup({});
    const { err } = await attempt({ package_name: 'nginx' }, { p: principal('oncall', ['readonly'], { break_glass: true }) });
    assert.equal(err?.code, 'GH_SCOPE_MISSING');
  });

  test('an audit sink that fails denies the call (fail closed)', async () => {
    const deps = makeDeps();
    deps.audit = {
      emit: async () => {
        throw new GatehouseError('GH_AUDIT_UNAVAILABLE');
      },
    };
    const { attempt } = await setup({ mode: 'queue', queue: { hold_timeout: 0 } }, deps);
    assert.equal((await attempt({ package_name: 'nginx' })).err?.code, 'GH_AUDIT_UNAVAILABLE');
  });
});

describe('arguments that cannot be hashed', () => {
  test('arguments nested too deeply to hash are a client error (GH_BAD_REQUEST), not an internal one', async () => {
    const tools = { run_job: { scopes: ['system:admin'], risk_level: 'critical', requires_approval: true, arguments: { spec: { type: 'object' } } } };
    const e = await createPolicyEngine(makeConfig({ authz: { tools } as never, approval: { mode: 'queue', queue: { hold_timeout: 0 } } }), makeDeps());
    let deep = '1';
    for (let i = 0; i < 100; i++) deep = `[${deep}]`;
    const body = Buffer.from(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run_job","arguments":{"spec":{"a":${deep}}}}}`);
    const ex = makeExchange({ body, principal: admin });
    await e.classify(ex);
    await e.authorize(ex);
    await assert.rejects(async () => e.approve(ex), (err: unknown) => err instanceof GatehouseError && err.code === 'GH_BAD_REQUEST' && err.status === 400);
  });
});
