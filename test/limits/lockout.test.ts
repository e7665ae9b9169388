import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import type { GatehouseError } from '../../src/core/errors.js';
import type { StateStore } from '../../src/core/store.js';
import type { AuditEvent } from '../../src/core/types.js';
import { MemoryStore } from '../../src/store/memory.js';
import { Lockouts, deleteLockout, listLockouts, lockoutKey, parseLockoutSubject, writeLockout, type FailureNotice, type LockoutRecord } from '../../src/limits/index.js';
import { captureLogger, limitsConfig, refusal } from './helpers.js';

const START = Date.UTC(2026, 0, 1);

async function setup(t: { after(fn: () => unknown): void }, lockout: Record<string, unknown> = {}, opts: { store?: StateStore; failAudit?: boolean } = {}) {
  const clock = new ManualClock(START);
  const store = opts.store ?? new MemoryStore({ clock });
  const logger = captureLogger();
  const events: AuditEvent[] = [];
  const audit = { emit: async (e: AuditEvent) => (opts.failAudit ? Promise.reject(new Error('audit sink down')) : void events.push(e)) };
  const cfg = limitsConfig({ lockout: { max_failures: 3, duration: '10m', ...lockout } }).lockout;
  const lockouts = new Lockouts(cfg, { store, clock, logger, audit });
  await lockouts.start();
  t.after(() => lockouts.close());
  return { clock, store, logger, events, lockouts };
}

const failure = (ip: string, ipCount: number, principal?: string, principalCount?: number): FailureNotice => ({ ip, principal, ipCount, principalCount });

function retryAfter(err: GatehouseError | undefined): string | undefined {
  for (const [k, v] of Object.entries(err?.headers ?? {})) if (k.toLowerCase() === 'retry-after') return v;
  return undefined;
}

/** Lets the store write and the audit emit that onFailure started (not awaited there) settle. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('Lockouts', () => {
  test('the client is locked at max_failures, not below: GH_LOCKED_OUT, 429, Retry-After in seconds', async (t) => {
    const { lockouts, store, clock } = await setup(t);
    lockouts.onFailure(failure('192.0.2.1', 1, 'alice', 1));
    lockouts.onFailure(failure('192.0.2.1', 2, 'alice', 2));
    assert.equal(refusal(() => lockouts.checkIp('192.0.2.1')), undefined, 'two failures of three');
    lockouts.onFailure(failure('192.0.2.1', 3, 'alice', 3));
    const err = refusal(() => lockouts.checkIp('192.0.2.1'));
    assert.equal(err?.code, 'GH_LOCKED_OUT');
    assert.equal(err?.status, 429);
    assert.equal(retryAfter(err), '600');
    assert.equal(err?.data?.['retry_after'], 600);
    assert.equal(refusal(() => lockouts.checkIp('192.0.2.2')), undefined, 'another client');
    assert.equal(refusal(() => lockouts.checkPrincipal('alice')), undefined, "per: ['ip'] (the default) locks no principal");
    await settle();
    const stored = await listLockouts(store, clock.now());
    assert.deepEqual(stored, [{ key: 'ip:192.0.2.1', kind: 'ip', subject: '192.0.2.1', since: START, until: START + 600_000, reason: 'failures', failures: 3 }]);
  });

  test("per: ['principal'] locks the claimed principal, not the client", async (t) => {
    const { lockouts } = await setup(t, { per: ['principal'] });
    lockouts.onFailure(failure('192.0.2.1', 7, 'alice', 2));
    assert.equal(refusal(() => lockouts.checkPrincipal('alice')), undefined, 'two failures of three');
    lockouts.onFailure(failure('192.0.2.1', 8, 'alice', 3));
    const err = refusal(() => lockouts.checkPrincipal('alice'));
    assert.equal(err?.code, 'GH_LOCKED_OUT');
    assert.equal(retryAfter(err), '600');
    assert.equal(refusal(() => lockouts.checkIp('192.0.2.1')), undefined, 'the address is not locked');
    assert.equal(refusal(() => lockouts.checkPrincipal('bob')), undefined);
    assert.equal(refusal(() => lockouts.checkPrincipal(undefined)), undefined, 'a credential claiming nobody');
    assert.equal(refusal(() => lockouts.checkPrincipal('alice ')), undefined, 'another name');
  });

  test("per: ['ip', 'principal'] locks each on its own count", async (t) => {
    const { lockouts } = await setup(t, { per: ['ip', 'principal'] });
    lockouts.onFailure(failure('192.0.2.1', 3, 'alice', 1));
    lockouts.onFailure(failure('192.0.2.2', 1, 'bob', 3));
    assert.equal(refusal(() => lockouts.checkIp('192.0.2.1'))?.code, 'GH_LOCKED_OUT');
    assert.equal(refusal(() => lockouts.checkPrincipal('alice')), undefined);
    assert.equal(refusal(() => lockouts.checkPrincipal('bob'))?.code, 'GH_LOCKED_OUT');
    assert.equal(refusal(() => lockouts.checkIp('192.0.2.2')), undefined);
  });

  test('an exempt address or CIDR is never locked out', async (t) => {
    const { lockouts, events } = await setup(t, { exempt: ['192.0.2.0/24', '2001:db8:aa::/48', '198.51.100.7'] });
    for (const ip of ['192.0.2.9', '::ffff:192.0.2.10', '2001:db8:aa:1::5', '198.51.100.7']) {
      lockouts.onFailure(failure(ip, 1000));
      assert.equal(refusal(() => lockouts.checkIp(ip)), undefined, ip);
    }
    assert.equal(lockouts.snapshot().size, 0);
    lockouts.onFailure(failure('198.51.100.8', 3));
    assert.equal(refusal(() => lockouts.checkIp('198.51.100.8'))?.code, 'GH_LOCKED_OUT', 'the next address is not exempt');
    await settle();
    assert.equal(events.length, 1);
  });

  test('a lockout ends when the clock passes its end; Retry-After counts down, rounded up', async (t) => {
    const { lockouts, clock } = await setup(t);
    lockouts.onFailure(failure('192.0.2.1', 3));
    clock.advance(599_500);
    assert.equal(retryAfter(refusal(() => lockouts.checkIp('192.0.2.1'))), '1');
    clock.advance(499);
    assert.equal(refusal(() => lockouts.checkIp('192.0.2.1'))?.code, 'GH_LOCKED_OUT', '1 ms before the end');
    clock.advance(1);
    assert.equal(refusal(() => lockouts.checkIp('192.0.2.1')), undefined);
    assert.equal(lockouts.snapshot().size, 0);
  });

  test('more failures while locked do not extend the lockout or record it again', async (t) => {
    const { lockouts, clock, events } = await setup(t);
    lockouts.onFailure(failure('192.0.2.1', 3));
    clock.advance(60_000);
    lockouts.onFailure(failure('192.0.2.1', 4));
    assert.equal(retryAfter(refusal(() => lockouts.checkIp('192.0.2.1'))), '540');
    await settle();
    assert.equal(events.length, 1);
  });

  test('an IPv6 client is locked by its /64; an IPv4-mapped address is the IPv4 one', async (t) => {
    const { lockouts } = await setup(t);
    lockouts.onFailure(failure('2001:db8:1:2::5', 3));
    assert.equal(refusal(() => lockouts.checkIp('2001:db8:1:2:ffff:1:2:3'))?.code, 'GH_LOCKED_OUT');
    assert.equal(refusal(() => lockouts.checkIp('2001:db8:1:3::5')), undefined);
    lockouts.onFailure(failure('::ffff:192.0.2.7', 3));
    assert.deepEqual([...lockouts.snapshot().keys()].sort(), ['ip:192.0.2.7', 'ip:2001:db8:1:2::/64']);
    assert.equal(refusal(() => lockouts.checkIp('192.0.2.7'))?.code, 'GH_LOCKED_OUT');
    assert.equal(refusal(() => lockouts.checkIp('::ffff:192.0.2.7'))?.code, 'GH_LOCKED_OUT');
  });

  test('a lockout written to the store by another party is picked up by poll(), and lifted by deleteLockout', async (t) => {
    const { lockouts, store, clock } = await setup(t);
    const key = lockoutKey('ip', '203.0.113.9');
    const rec: LockoutRecord = { kind: 'ip', subject: '203.0.113.9', since: clock.now(), until: clock.now() + 3_600_000, reason: 'manual', note: 'abuse ticket 42' };
    await writeLockout(store, key, rec);
    assert.equal(refusal(() => lockouts.checkIp('203.0.113.9')), undefined, 'not seen before the poll');
    await lockouts.poll();
    const err = refusal(() => lockouts.checkIp('203.0.113.9'));
    assert.equal(err?.code, 'GH_LOCKED_OUT');
    assert.equal(retryAfter(err), '3600');
    const pkey = lockoutKey('principal', 'mallory');
    await writeLockout(store, pkey, { kind: 'principal', subject: 'mallory', since: clock.now(), until: clock.now() + 60_000, reason: 'manual' });
    await lockouts.poll();
    assert.equal(refusal(() => lockouts.checkPrincipal('mallory'))?.code, 'GH_LOCKED_OUT');

    assert.equal(await deleteLockout(store, key), true);
    assert.equal(await deleteLockout(store, key), false, 'nothing left to lift');
    assert.equal(refusal(() => lockouts.checkIp('203.0.113.9'))?.code, 'GH_LOCKED_OUT', 'still in force until the next poll');
    await lockouts.poll();
    assert.equal(refusal(() => lockouts.checkIp('203.0.113.9')), undefined);
    assert.equal(refusal(() => lockouts.checkPrincipal('mallory'))?.code, 'GH_LOCKED_OUT', 'the other lockout stays');
    assert.equal(lockouts.feedHealthy, true);
  });

  test('start() loads the lockouts already in the store (a restart does not lift them)', async (t) => {
    const clock = new ManualClock(START);
    const store = new MemoryStore({ clock });
    await writeLockout(store, lockoutKey('ip', '203.0.113.10'), { kind: 'ip', subject: '203.0.113.10', since: START, until: START + 60_000, reason: 'failures', failures: 3 });
    const cfg = limitsConfig({}).lockout;
    const lockouts = new Lockouts(cfg, { store, clock, logger: captureLogger() });
    await lockouts.start();
    t.after(() => lockouts.close());
    assert.equal(refusal(() => lockouts.checkIp('203.0.113.10'))?.code, 'GH_LOCKED_OUT');
  });

  test('the audit event names the subject and counts, and holds no credential', async (t) => {
    const { lockouts, events, logger } = await setup(t, { per: ['ip', 'principal'], window: '5m' });
    lockouts.onFailure(failure('192.0.2.1', 3, 'alice', 3));
    await settle();
    const until = new Date(START + 600_000).toISOString();
    assert.deepEqual(events, [
      { event_type: 'limits.lockout', result_status: 'denied', source_ip: '192.0.2.1', metadata: { kind: 'ip', failures: 3, window_ms: 300_000, until } },
      { event_type: 'limits.lockout', result_status: 'denied', subject: 'alice', metadata: { kind: 'principal', failures: 3, window_ms: 300_000, until } },
    ]);
    const warned = logger.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['event'] === 'limits.lockout');
    assert.deepEqual(warned.map((l) => [l['level'], l['kind'], l['subject']]), [['warn', 'ip', '192.0.2.1'], ['warn', 'principal', 'alice']]);
  });

  test('a lockout holds in this process when the store write and the audit fail (fail closed), and says so', async (t) => {
    const clock = new ManualClock(START);
    class BrokenStore extends MemoryStore {
      override async put(): Promise<void> {
        throw new Error('disk full');
      }
      override async putMany(): Promise<void> {
        throw new Error('disk full');
      }
    }
    const { lockouts, logger } = await setup(t, {}, { store: new BrokenStore({ clock }), failAudit: true });
    lockouts.onFailure(failure('192.0.2.1', 3));
    assert.equal(refusal(() => lockouts.checkIp('192.0.2.1'))?.code, 'GH_LOCKED_OUT');
    await settle();
    const events = logger.lines.map((l) => (JSON.parse(l) as { event?: string }).event);
    assert.ok(events.includes('limits.lockout_unsaved'), events.join());
    assert.ok(events.includes('limits.lockout_unaudited'), events.join());
    assert.equal(refusal(() => lockouts.checkIp('192.0.2.1'))?.code, 'GH_LOCKED_OUT');
  });

  test('an audit emitter that throws synchronously neither escapes onFailure (a 401 stays a 401) nor lifts the lockout', async (t) => {
    const clock = new ManualClock(START);
    const logger = captureLogger();
    const cfg = limitsConfig({ lockout: { max_failures: 3 } }).lockout;
    const audit = {
      emit: (): Promise<void> => {
        throw new Error('emitter broke');
      },
    };
    const lockouts = new Lockouts(cfg, { store: new MemoryStore({ clock }), clock, logger, audit });
    await lockouts.start();
    t.after(() => lockouts.close());
    assert.doesNotThrow(() => lockouts.onFailure(failure('192.0.2.9', 3)));
    assert.equal(refusal(() => lockouts.checkIp('192.0.2.9'))?.code, 'GH_LOCKED_OUT');
    assert.ok(logger.lines.some((l) => (JSON.parse(l) as { event?: string }).event === 'limits.lockout_unaudited'));
  });

  test('lockouts made in one turn of the event loop are written in one transaction (one commit, not one per lockout)', async (t) => {
    const clock = new ManualClock(START);
    const batches: number[] = [];
    class CountingStore extends MemoryStore {
      override async putMany(ns: string, entries: ReadonlyArray<{ key: string; value: unknown; ttlMs?: number }>): Promise<void> {
        batches.push(entries.length);
        return super.putMany(ns, entries);
      }
      override async put(): Promise<void> {
        throw new Error('lockouts are written with putMany');
      }
    }
    const store = new CountingStore({ clock });
    const { lockouts } = await setup(t, {}, { store });
    for (let i = 1; i <= 50; i++) lockouts.onFailure(failure(`192.0.2.${i}`, 3));
    await settle();
    assert.deepEqual(batches, [50]);
    assert.equal((await listLockouts(store, START)).length, 50);
    for (let i = 1; i <= 50; i++) assert.equal(refusal(() => lockouts.checkIp(`192.0.2.${i}`))?.code, 'GH_LOCKED_OUT');
  });

  test('a claimed principal no operator could name locks nothing by principal (the address lockout still applies)', async (t) => {
    const { lockouts } = await setup(t, { per: ['ip', 'principal'] });
    lockouts.onFailure(failure('192.0.2.1', 3, 'has space', 3));
    assert.equal(refusal(() => lockouts.checkPrincipal('has space')), undefined);
    assert.equal(refusal(() => lockouts.checkIp('192.0.2.1'))?.code, 'GH_LOCKED_OUT');
  });
});

describe('lockoutKey and parseLockoutSubject', () => {
  test('addresses are keyed as the limits count them', () => {
    assert.equal(lockoutKey('ip', '192.0.2.1'), 'ip:192.0.2.1');
    assert.equal(lockoutKey('ip', ' 192.0.2.1 '), 'ip:192.0.2.1');
    assert.equal(lockoutKey('ip', '::ffff:1.2.3.4'), 'ip:1.2.3.4');
    assert.equal(lockoutKey('ip', '2001:db8:1:2::5'), 'ip:2001:db8:1:2::/64');
    assert.equal(lockoutKey('ip', '2001:db8:1:2:ffff:ffff:ffff:ffff'), 'ip:2001:db8:1:2::/64');
    assert.equal(lockoutKey('ip', '[2001:db8:1:2::9]'), 'ip:2001:db8:1:2::/64');
    assert.equal(lockoutKey('principal', 'alice'), 'principal:alice');
    assert.deepEqual(parseLockoutSubject('ip:2001:db8:1:2::5'), { kind: 'ip', key: 'ip:2001:db8:1:2::/64' });
    assert.deepEqual(parseLockoutSubject('ip:::ffff:1.2.3.4'), { kind: 'ip', key: 'ip:1.2.3.4' });
    assert.deepEqual(parseLockoutSubject('principal:svc:deploy'), { kind: 'principal', key: 'principal:svc:deploy' });
  });

  test('anything else is GH_USAGE', () => {
    const bad = ['ip:not-an-ip', 'ip:', 'ip:1.2.3', 'ip:10.0.0.0/8', 'host:example.com', 'principal:', 'principal:has space', 'principal:tab\there', `principal:${'a'.repeat(129)}`, ':alice', 'alice', '', 'IP:1.2.3.4'];
    for (const text of bad) assert.throws(() => parseLockoutSubject(text), (e: GatehouseError) => e.code === 'GH_USAGE', JSON.stringify(text));
    assert.throws(() => lockoutKey('ip', 'example.com'), (e: GatehouseError) => e.code === 'GH_USAGE');
    assert.throws(() => lockoutKey('principal', 'é'), (e: GatehouseError) => e.code === 'GH_USAGE');
    assert.doesNotThrow(() => parseLockoutSubject(`principal:${'a'.repeat(128)}`));
  });
});

describe('Lockouts under server.workers: failures shared between workers', () => {
  test('failures counted here go to the sink on the next turn, in one batch, with their counts', async (t) => {
    const { lockouts } = await setup(t);
    const sent: unknown[] = [];
    lockouts.shareFailures((batch) => sent.push(batch));
    lockouts.onFailure(failure('192.0.2.1', 1, 'alice', 1));
    lockouts.onFailure(failure('2001:db8::1', 1));
    assert.deepEqual(sent, [], 'not sent synchronously');
    await settle();
    assert.deepEqual(sent, [[['192.0.2.1', 'alice', 1, 1], ['2001:db8::1', null, 1, null]]]);
    // A failure another worker reported is not sent back.
    lockouts.onFailure({ ...failure('192.0.2.1', 2, 'alice', 2), peer: { ipCount: 2, principalCount: 2 } });
    await settle();
    assert.equal(sent.length, 1);
  });

  test('applyPeerFailures passes well-formed entries to the listeners and skips the rest', async (t) => {
    const { lockouts } = await setup(t);
    const heard: unknown[] = [];
    lockouts.onPeerFailure((ip, principal, counts) => heard.push([ip, principal, counts]));
    lockouts.applyPeerFailures([
      ['192.0.2.1', 'alice', 1, 1],
      ['192.0.2.2', null, 2, null],
      ['192.0.2.3', 'bob', 1, null], // a principal without its count
      ['192.0.2.4', null, 1, 1], // a count without a principal
      ['192.0.2.5', 'carol', -1, 1],
      ['192.0.2.6', 'carol', 1.5, 1],
      ['x'.repeat(65), null, 1, null],
      ['192.0.2.7', 'p'.repeat(1025), 1, 1],
      ['192.0.2.8', null, 1],
      { 0: '192.0.2.9', 1: null, 2: 1, 3: null, length: 4 },
      null,
    ]);
    lockouts.applyPeerFailures({ 0: ['192.0.2.10', null, 1, null] });
    lockouts.applyPeerFailures('nonsense');
    assert.deepEqual(heard, [
      ['192.0.2.1', 'alice', { ipCount: 1, principalCount: 1 }],
      ['192.0.2.2', undefined, { ipCount: 2, principalCount: undefined }],
    ]);
  });

  test('a peer failure that reaches the limit locks here at once; the worker that reached it too stores and audits it', async (t) => {
    const { lockouts, store, clock, events, logger } = await setup(t);
    lockouts.onFailure({ ...failure('192.0.2.1', 3), peer: { ipCount: 3, principalCount: undefined } });
    assert.equal(refusal(() => lockouts.checkIp('192.0.2.1'))?.code, 'GH_LOCKED_OUT', 'held here without waiting for the store feed');
    await settle();
    assert.deepEqual(await listLockouts(store, clock.now()), [], 'not written here: the other worker writes it');
    assert.deepEqual(events, [], 'nor audited here');
    assert.equal(logger.lines.filter((l) => l.includes('"event":"limits.lockout"')).length, 0);
  });

  test('when the other worker was short of the limit (failures in both at once), this worker makes the lockout', async (t) => {
    const { lockouts, store, clock, events } = await setup(t);
    lockouts.onFailure({ ...failure('192.0.2.1', 3), peer: { ipCount: 2, principalCount: undefined } });
    assert.equal(refusal(() => lockouts.checkIp('192.0.2.1'))?.code, 'GH_LOCKED_OUT');
    await settle();
    assert.equal((await listLockouts(store, clock.now())).length, 1, 'stored');
    assert.equal(events.length, 1, 'audited');
    assert.equal(events[0]?.event_type, 'limits.lockout');
  });
});
