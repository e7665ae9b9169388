import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GatehouseError } from '../../src/core/errors.js';
import { FailureCounter, createApiKey, createAuthenticator, type Authenticator } from '../../src/authn/index.js';
import type { LockoutCheck } from '../../src/authn/authenticator.js';
import { Lockouts } from '../../src/limits/index.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps, type TestDeps } from './helpers.js';

const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
const USERS = { users: [{ name: 'dev', password: 'dev-only-password' }, { name: 'ops', password: 'ops-only-password' }] };

/** A lockout check that records what it is asked and refuses the addresses and principals it is given. */
function fakeLockout(locked: { ips?: string[]; principals?: string[] } = {}): LockoutCheck & { calls: Array<[string, string | undefined]> } {
  const calls: Array<[string, string | undefined]> = [];
  const refuse = () => new GatehouseError('GH_LOCKED_OUT', undefined, { headers: { 'Retry-After': '60' } });
  return {
    calls,
    checkIp(ip) {
      calls.push(['ip', ip]);
      if (locked.ips?.includes(ip)) throw refuse();
    },
    checkPrincipal(claimed) {
      calls.push(['principal', claimed]);
      if (claimed !== undefined && locked.principals?.includes(claimed)) throw refuse();
    },
  };
}

async function setup(t: { after(fn: () => unknown): void }, lockout: LockoutCheck, auth: Record<string, unknown> = { methods: ['basic'], basic: USERS }): Promise<{ authn: Authenticator; deps: TestDeps }> {
  const dir = tempDir(t);
  const deps = testDeps(dir);
  const authn = await createAuthenticator(authConfig(auth, {}, dir), { ...deps, lockout });
  t.after(() => authn.close());
  return { authn, deps };
}

const code = (e: unknown) => (e as GatehouseError | undefined)?.code;

describe('identify with a lockout check', () => {
  test('a locked client is refused before its credential is looked at, even a correct one', async (t) => {
    const lockout = fakeLockout({ ips: ['198.51.100.66'] });
    const { authn } = await setup(t, lockout);
    const ex = exchange(basic('dev', 'dev-only-password'), { source_ip: '198.51.100.66' });
    // Thrown synchronously: no verification was started.
    assert.throws(() => authn.identify(ex), (e: GatehouseError) => e.code === 'GH_LOCKED_OUT' && e.status === 429);
    assert.equal(ex.principal, undefined);
    assert.deepEqual(lockout.calls, [['ip', '198.51.100.66']], 'the address is checked first, and the credential never read');
    // A wrong password from there is not even counted as a failure: it was never tried.
    const wrong = await identifyResult(authn.identify, exchange(basic('dev', 'guess'), { source_ip: '198.51.100.66' }));
    assert.equal(code(wrong.error), 'GH_LOCKED_OUT');
    assert.equal(authn.failures.forIp('198.51.100.66'), 0);
    assert.equal(authn.failures.forPrincipal('dev'), 0);
    // The public routes' identify and verifyBearer check the address too.
    assert.throws(() => authn.identifyOptional(exchange({}, { source_ip: '198.51.100.66' })), (e: GatehouseError) => e.code === 'GH_LOCKED_OUT');
    assert.throws(() => authn.verifyBearer('anything', { source_ip: '198.51.100.66', peer_ip: '198.51.100.66', tls: true }), (e: GatehouseError) => e.code === 'GH_LOCKED_OUT');
    // Another client with the same credential gets in.
    const ok = await identifyResult(authn.identify, exchange(basic('dev', 'dev-only-password'), { source_ip: '198.51.100.67' }));
    assert.equal(ok.error, undefined);
    assert.equal(ok.ex.principal?.id, 'dev');
  });

  test('checkPrincipal receives the Basic user name, before the password is checked', async (t) => {
    const lockout = fakeLockout({ principals: ['dev'] });
    const { authn } = await setup(t, lockout);
    const locked = await identifyResult(authn.identify, exchange(basic('dev', 'dev-only-password'), { source_ip: '192.0.2.1' }));
    assert.equal(code(locked.error), 'GH_LOCKED_OUT');
    assert.equal(locked.ex.principal, undefined);
    assert.deepEqual(lockout.calls, [['ip', '192.0.2.1'], ['principal', 'dev']]);
    assert.equal(authn.failures.forPrincipal('dev'), 0, 'the password was never tried');
    // Another user from the same address is not affected; an unknown user name is what is claimed.
    lockout.calls.length = 0;
    const ops = await identifyResult(authn.identify, exchange(basic('ops', 'ops-only-password'), { source_ip: '192.0.2.1' }));
    assert.equal(ops.ex.principal?.id, 'ops');
    const mallory = await identifyResult(authn.identify, exchange(basic('mallory', 'x'), { source_ip: '192.0.2.1' }));
    assert.equal(code(mallory.error), 'GH_CREDENTIALS_INVALID');
    assert.deepEqual(lockout.calls, [['ip', '192.0.2.1'], ['principal', 'ops'], ['ip', '192.0.2.1'], ['principal', 'mallory']]);
  });

  test('checkPrincipal receives the API key id, not the key', async (t) => {
    const lockout = fakeLockout();
    const { authn, deps } = await setup(t, lockout, { methods: ['api_key'] });
    const { key, record } = await createApiKey(deps.store, { name: 'svc', scopes: ['readonly'], now: deps.clock.now() });
    const r = await identifyResult(authn.identify, exchange({ 'X-API-Key': key }));
    assert.equal(r.ex.principal?.id, 'svc');
    assert.deepEqual(lockout.calls, [['ip', '203.0.113.5'], ['principal', record.id]]);
    assert.ok(!JSON.stringify(lockout.calls).includes(key));
  });
});

describe('identify with the real lockouts (as the gateway wires them)', () => {
  test('max_failures wrong passwords lock the client out; the right one is then refused; the record holds no password', async (t) => {
    const dir = tempDir(t);
    const deps = testDeps(dir);
    const cfg = authConfig({ methods: ['basic'], basic: USERS }, { limits: { lockout: { max_failures: 3, duration: '5m' } } }, dir);
    const lockouts = new Lockouts(cfg.limits.lockout, deps);
    await lockouts.start();
    t.after(() => lockouts.close());
    const authn = await createAuthenticator(cfg, { ...deps, lockout: lockouts });
    t.after(() => authn.close());
    authn.failures.onFailure((e) => lockouts.onFailure(e));

    const ip = { source_ip: '198.51.100.23' };
    const wrong = 'Tr0ub4dor&3-wrong';
    for (let i = 0; i < 3; i++) assert.equal(code((await identifyResult(authn.identify, exchange(basic('dev', wrong), ip))).error), 'GH_CREDENTIALS_INVALID', `attempt ${i + 1}`);
    const locked = await identifyResult(authn.identify, exchange(basic('dev', 'dev-only-password'), ip));
    assert.equal(code(locked.error), 'GH_LOCKED_OUT');
    assert.equal((locked.error as GatehouseError).headers?.['Retry-After'] ?? (locked.error as GatehouseError).headers?.['retry-after'], '300');
    assert.equal(locked.ex.principal, undefined);
    assert.equal((await identifyResult(authn.identify, exchange(basic('dev', 'dev-only-password'), { source_ip: '198.51.100.24' }))).ex.principal?.id, 'dev');
    deps.clock.advance(300_000);
    assert.equal((await identifyResult(authn.identify, exchange(basic('dev', 'dev-only-password'), ip))).ex.principal?.id, 'dev', 'after the lockout');

    await new Promise<void>((resolve) => setImmediate(resolve));
    const lockEvents = deps.events.filter((e) => e.event_type === 'limits.lockout');
    assert.equal(lockEvents.length, 1);
    assert.equal(lockEvents[0]?.source_ip, '198.51.100.23');
    const recorded = JSON.stringify([deps.events, deps.logger.lines, [...lockouts.snapshot().keys()]]);
    for (const secret of [wrong, 'dev-only-password', Buffer.from(`dev:${wrong}`).toString('base64')]) assert.equal(recorded.includes(secret), false, secret);
  });
});

describe('FailureCounter: what a client is counted as', () => {
  test('an IPv4-mapped address counts as the IPv4 address, an IPv6 address as its /64; resetClient clears the count', () => {
    const f = new FailureCounter({ now: () => 1000 });
    f.record('192.0.2.7', undefined, 'basic', 'bad_password');
    const mapped = f.record('::ffff:192.0.2.7', undefined, 'basic', 'bad_password');
    assert.equal(mapped.ipCount, 2, 'the mapped form is the same client');
    assert.equal(f.forIp('::ffff:192.0.2.7'), 2);
    f.record('2001:db8:1:2::1', undefined, 'basic', 'bad_password');
    assert.equal(f.record('2001:db8:1:2:ffff::9', undefined, 'basic', 'bad_password').ipCount, 2, 'one /64, one client');
    assert.equal(f.record('2001:db8:1:3::1', undefined, 'basic', 'bad_password').ipCount, 1, 'another /64');
    f.resetClient('2001:db8:1:2::/64');
    assert.equal(f.forIp('2001:db8:1:2::1'), 0);
    f.record('10.0.0.1', 'alice', 'basic', 'bad_password');
    assert.equal(f.forPrincipal('alice'), 1);
    f.resetPrincipal('alice');
    assert.equal(f.forPrincipal('alice'), 0);
    assert.equal(f.forIp('192.0.2.7'), 2, 'other clients keep their counts');
  });
});
