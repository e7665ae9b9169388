import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApprovalStore, argsDigest, bindingOf, canonicalJson, effectiveStatus } from '../../src/approval/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { GatehouseError } from '../../src/core/errors.js';
import { MemoryStore, SqliteStore } from '../../src/store/index.js';

const HOUR = 3_600_000;
const KEY = Buffer.alloc(32, 7);
const argsHash = (args: unknown) => argsDigest(KEY, args);
const bind = (principal: string, tenant: string | undefined, subject: string, args: string) => bindingOf(KEY, { principal, tenant, subject, args });
const req = (args: unknown = { package_name: 'nginx' }, principal = 'ops') => ({
  principal,
  kind: 'tool' as const,
  subject: 'install_package',
  args,
  risk_level: 'critical' as const,
  mode: 'queue' as const,
});

describe('canonical arguments', () => {
  test('key order does not change the hash; any value change does', () => {
    assert.equal(argsHash({ a: 1, b: [1, { y: 2, x: 1 }] }), argsHash({ b: [1, { x: 1, y: 2 }], a: 1 }));
    assert.notEqual(argsHash({ package_name: 'nginx' }), argsHash({ package_name: 'nginx', auto_approve: true }));
    assert.notEqual(argsHash({ n: 1 }), argsHash({ n: '1' }));
    assert.equal(argsHash(undefined), argsHash({}));
    assert.equal(canonicalJson({ b: 1, a: 'x' }), '{"a":"x","b":1}');
  });
  test('arguments that are not plain JSON values are refused, never hashed as {} (a Map, Set or Date would all collide)', () => {
    // Library callers pass arguments directly: every Map hashed as {} would let one approval cover any Map.
    for (const v of [new Map([['package_name', 'nginx']]), new Set(['nginx']), new Date(0), /nginx/, new (class Args { x = 1 })()]) {
      assert.throws(() => argsHash({ args: v }), TypeError, Object.prototype.toString.call(v));
    }
    assert.equal(argsHash(Object.assign(Object.create(null), { a: 1 })), argsHash({ a: 1 }));
    assert.equal(canonicalJson([1, 1.0, 1e0, -0]), '[1,1,1,0]');
  });
  test('the binding covers principal, tenant, subject and arguments', () => {
    const h = argsHash({});
    const b = bind('ops', undefined, 'install_package', h);
    assert.notEqual(b, bind('ops2', undefined, 'install_package', h));
    assert.notEqual(b, bind('ops', 't', 'install_package', h));
    assert.notEqual(b, bind('ops', undefined, 'pull_docker_image', h));
    assert.notEqual(b, bindingOf(Buffer.alloc(32, 8), { principal: 'ops', subject: 'install_package', args: h }), 'another key, another binding');
  });
});

describe('approval store', () => {
  test('identical calls share one pending request; different arguments get their own', async () => {
    const clock = new ManualClock();
    const q = new ApprovalStore(new MemoryStore({ clock }), clock, HOUR);
    const a = await q.request(req());
    const b = await q.request(req({ package_name: 'nginx' }));
    const c = await q.request(req({ package_name: 'curl' }));
    assert.equal(a.created, true);
    assert.equal(b.created, false);
    assert.equal(b.record.id, a.record.id);
    assert.notEqual(c.record.id, a.record.id);
    assert.match(a.record.id, /^apr_[A-Za-z0-9_-]{16}$/);
  });

  test('an approval is used once', async () => {
    const clock = new ManualClock();
    const q = new ApprovalStore(new MemoryStore({ clock }), clock, HOUR);
    const { record } = await q.request(req());
    await q.decide(record.id, 'approve', { approver: 'alice' });
    assert.ok(await q.consume(record.id, record.binding));
    assert.equal(await q.consume(record.id, record.binding), undefined);
    assert.equal((await q.get(record.id))?.status, 'used');
  });

  test('an approval never serves another binding', async () => {
    const clock = new ManualClock();
    const q = new ApprovalStore(new MemoryStore({ clock }), clock, HOUR);
    const { record } = await q.request(req());
    await q.decide(record.id, 'approve', { approver: 'alice' });
    const other = bind('ops', undefined, 'install_package', argsHash({ package_name: 'netcat' }));
    assert.equal(await q.consume(record.id, other), undefined);
  });

  test('a window grant is reusable until the window closes', async () => {
    const clock = new ManualClock();
    const q = new ApprovalStore(new MemoryStore({ clock }), clock, HOUR);
    const { record } = await q.request(req());
    await q.decide(record.id, 'approve', { approver: 'alice', windowMs: 10 * 60_000 });
    assert.ok(await q.consume(record.id, record.binding));
    clock.advance(5 * 60_000);
    assert.equal((await q.consume(record.id, record.binding))?.uses, 2);
    clock.advance(6 * 60_000);
    assert.equal(await q.consume(record.id, record.binding), undefined);
    assert.equal(effectiveStatus((await q.get(record.id))!, clock.now()), 'expired');
  });

  test('a pending request expires after approval_ttl and can no longer be approved', async () => {
    const clock = new ManualClock();
    const q = new ApprovalStore(new MemoryStore({ clock }), clock, HOUR);
    const { record } = await q.request(req());
    clock.advance(HOUR);
    await assert.rejects(q.decide(record.id, 'approve', { approver: 'alice' }), (e: unknown) => (e as GatehouseError).code === 'GH_APPROVAL_EXPIRED');
    const again = await q.request(req());
    assert.equal(again.created, true, 'an expired request is replaced by a new one');
  });

  test('deciding twice is GH_APPROVAL_ALREADY_DECIDED; an unknown id is GH_APPROVAL_NOT_FOUND', async () => {
    const clock = new ManualClock();
    const q = new ApprovalStore(new MemoryStore({ clock }), clock, HOUR);
    const { record } = await q.request(req());
    await q.decide(record.id, 'deny', { approver: 'bob', reason: 'not during the freeze' });
    await assert.rejects(q.decide(record.id, 'approve', { approver: 'alice' }), (e: unknown) => (e as GatehouseError).code === 'GH_APPROVAL_ALREADY_DECIDED');
    await assert.rejects(q.decide('apr_AAAAAAAAAAAAAAAA', 'approve', { approver: 'a' }), (e: unknown) => (e as GatehouseError).code === 'GH_APPROVAL_NOT_FOUND');
    await assert.rejects(q.decide('../../etc', 'approve', { approver: 'a' }), (e: unknown) => (e as GatehouseError).code === 'GH_APPROVAL_NOT_FOUND');
  });

  test('reasons and approver names are cleaned of control characters and bounded', async () => {
    const clock = new ManualClock();
    const q = new ApprovalStore(new MemoryStore({ clock }), clock, HOUR);
    const { record } = await q.request(req());
    const d = await q.decide(record.id, 'deny', { approver: 'eve\u001b[31m', reason: `line1\nline2\r${'x'.repeat(2000)}` });
    assert.ok(!/[\u0000-\u001f]/.test(d.reason ?? ''));
    assert.ok((d.reason ?? '').length <= 512);
    assert.ok(!d.approver?.includes('\u001b'));
  });

  test('list filters by effective status, newest first', async () => {
    const clock = new ManualClock();
    const q = new ApprovalStore(new MemoryStore({ clock }), clock, HOUR);
    const a = await q.request(req({ n: 1 }));
    clock.advance(1000);
    const b = await q.request(req({ n: 2 }));
    await q.decide(a.record.id, 'approve', { approver: 'x' });
    assert.deepEqual((await q.list()).map((r) => r.id), [b.record.id, a.record.id]);
    assert.deepEqual((await q.list({ status: 'pending' })).map((r) => r.id), [b.record.id]);
  });

  describe('across processes (two handles on one SQLite file)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-approval-'));
    after(() => rmSync(dir, { recursive: true, force: true }));

    test('a decision made through one handle is seen and consumed exactly once through another', async () => {
      const clock = new ManualClock();
      const gatewayStore = new SqliteStore(join(dir, 'state.db'), { clock });
      const cliStore = new SqliteStore(join(dir, 'state.db'), { clock });
      try {
        const gw = new ApprovalStore(gatewayStore, clock, HOUR);
        const cli = new ApprovalStore(cliStore, clock, HOUR);
        const { record } = await gw.request(req());
        assert.deepEqual((await cli.list({ status: 'pending' })).map((r) => r.id), [record.id]);
        await cli.decide(record.id, 'approve', { approver: 'cli:alice' });
        const results = await Promise.all([gw.consume(record.id, record.binding), cli.consume(record.id, record.binding)]);
        assert.equal(results.filter(Boolean).length, 1);
      } finally {
        await gatewayStore.close();
        await cliStore.close();
      }
    });
  });
});
