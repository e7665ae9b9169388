/** The verification gate (src/authn/gate.ts): guesses in flight count against the lockout allowance; waiting is bounded. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailureCounter } from '../../src/authn/failures.js';
import { VerificationGate, type Release } from '../../src/authn/gate.js';
import { GatehouseError } from '../../src/core/errors.js';
import { ipMatcher } from '../../src/core/net.js';

const limits = (over: Partial<ConstructorParameters<typeof VerificationGate>[0]> = {}) => ({ maxFailures: 3, perIp: true, perPrincipal: true, exempt: ipMatcher([]), ...over });
const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    return e instanceof GatehouseError ? e.code : 'other';
  }
  return undefined;
};

test('max_failures − failures verifications run at once; the next waits until one ends and its failure is counted', async () => {
  const failures = new FailureCounter();
  const gate = new VerificationGate(limits(), failures);
  const held = [0, 1, 2].map(() => gate.enter('203.0.113.9', 'alice'));
  assert.ok(held.every((r) => typeof r === 'function'), 'three start at once');
  const fourth = gate.enter('203.0.113.9', 'alice');
  assert.ok(fourth instanceof Promise, 'the fourth waits');
  // The first ends in a failure: counted before its slot is given back, so the allowance is still spent.
  failures.record('203.0.113.9', 'alice', 'basic', 'bad_password');
  (held[0] as Release)();
  // The waiter looks again and finds 1 failure + 2 in flight = 3: it waits on.
  let settled = false;
  void fourth.then(() => (settled = true), () => (settled = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false);
  // The second ends in a success: a slot frees with no failure, and the waiter starts.
  (held[1] as Release)();
  const release = await fourth;
  assert.equal(gate.inFlight, 2 * 2, 'two verifications, each counted under its client and its principal');
  release();
  release();
  (held[2] as Release)();
  assert.equal(gate.inFlight, 0, 'a release is idempotent');
});

test('past the allowance one verification runs at a time (the lockout, checked by every waiter, refuses the rest)', async () => {
  const failures = new FailureCounter();
  for (let i = 0; i < 3; i++) failures.record('203.0.113.9', 'alice', 'basic', 'bad_password');
  const gate = new VerificationGate(limits(), failures);
  const first = gate.enter('203.0.113.9', 'bob');
  assert.equal(typeof first, 'function');
  assert.ok(gate.enter('203.0.113.9', 'carol') instanceof Promise, 'same client: waits');
  const other = gate.enter('198.51.100.1', 'alice');
  assert.equal(typeof other, 'function');
  assert.ok(gate.enter('198.51.100.2', 'alice') instanceof Promise, 'same principal: waits');
  assert.equal(typeof gate.enter('198.51.100.1', 'bob'), 'function', 'a fresh principal from a fresh client does not wait');
  // The /64 of an IPv6 client is one client.
  for (let i = 0; i < 3; i++) failures.record('2001:db8::1', undefined, 'basic', 'bad_password');
  assert.equal(typeof gate.enter('2001:db8::ffff', undefined), 'function');
  assert.ok(gate.enter('2001:db8::1234', undefined) instanceof Promise);
  (first as Release)();
  (other as Release)();
});

test('exempt addresses and dimensions the lockout does not use are not gated', () => {
  const failures = new FailureCounter();
  for (let i = 0; i < 5; i++) failures.record('10.0.0.1', 'alice', 'basic', 'bad_password');
  assert.equal(code(() => new VerificationGate(limits({ exempt: ipMatcher(['10.0.0.0/8']), perPrincipal: false }), failures).enter('10.0.0.1', 'alice')), undefined);
  assert.equal(code(() => new VerificationGate(limits({ perIp: false }), failures).enter('10.0.0.1', 'bob')), undefined);
});

test('waiting is bounded: per key, overall, and in time (GH_RATE_LIMITED)', async () => {
  const failures = new FailureCounter();
  const gate = new VerificationGate(limits({ maxFailures: 1 }), failures, { maxWaitingPerKey: 2, maxWaiting: 3, maxWaitMs: 50 });
  const holder = gate.enter('203.0.113.1', undefined) as Release;
  const w1 = gate.enter('203.0.113.1', undefined) as Promise<Release>;
  const w2 = gate.enter('203.0.113.1', undefined) as Promise<Release>;
  assert.equal(code(() => gate.enter('203.0.113.1', undefined)), 'GH_RATE_LIMITED', 'a third waiter on one client');
  const other = gate.enter('203.0.113.2', undefined) as Release;
  const w3 = gate.enter('203.0.113.2', undefined) as Promise<Release>;
  assert.equal(code(() => gate.enter('203.0.113.3', 'x')), undefined, 'a client with room does not wait');
  assert.equal(code(() => gate.enter('203.0.113.3', 'x')), 'GH_RATE_LIMITED', 'it has now: a fourth waiter overall is refused');
  // Nobody releases: every waiter gives up at its deadline (its timer is unref'd, as a server keeps the loop alive).
  const alive = setInterval(() => undefined, 10);
  try {
    for (const w of [w1, w2, w3]) await assert.rejects(w, (e: GatehouseError) => e.code === 'GH_RATE_LIMITED');
  } finally {
    clearInterval(alive);
  }
  holder();
  other();
});

test('under workers each gate lets its share of the allowance left be in flight, rounded up, and at least one', () => {
  const failures = new FailureCounter();
  // max_failures 5 over 2 workers: 3 here (the other worker's gate allows its own 3), so 6 at most at once in all
  // rather than 10.
  const gate = new VerificationGate(limits({ maxFailures: 5, perPrincipal: false, shares: 2 }), failures);
  const held = [0, 1, 2].map(() => gate.enter('203.0.113.7', undefined));
  assert.ok(held.every((r) => typeof r === 'function'), 'ceil(5 / 2) = 3 start at once');
  assert.ok(gate.enter('203.0.113.7', undefined) instanceof Promise, 'the fourth waits');
  for (const r of held) (r as Release)();
  // Failures counted by the other worker shrink what is left here: 5 − 4 = 1, and ceil(1 / 2) = 1.
  for (let i = 0; i < 4; i++) failures.recordPeer('203.0.113.7', undefined, { ipCount: i + 1, principalCount: undefined });
  const one = gate.enter('203.0.113.7', undefined);
  assert.equal(typeof one, 'function');
  assert.ok(gate.enter('203.0.113.7', undefined) instanceof Promise, 'one at a time once the share is spent');
  (one as Release)();

  // Its own failures are never stale: past its share (3 here) it checks one at a time, however much the (possibly
  // late) view of the other worker's failures says is left.
  const fresh = new FailureCounter();
  const second = new VerificationGate(limits({ maxFailures: 10, perPrincipal: false, shares: 2 }), fresh);
  for (let i = 0; i < 5; i++) fresh.record('203.0.113.8', undefined, 'basic', 'bad_password');
  const only = second.enter('203.0.113.8', undefined);
  assert.equal(typeof only, 'function', 'its share of 5 is spent: one at a time, with 5 of 10 left');
  assert.ok(second.enter('203.0.113.8', undefined) instanceof Promise);
  (only as Release)();
});

test('under workers, past its share a gate lets settleMs pass before it checks one more guess (the caller looks at the lockout again)', async () => {
  const failures = new FailureCounter();
  const gate = new VerificationGate(limits({ maxFailures: 4, perPrincipal: false, shares: 2 }), failures, { settleMs: 5 });
  const first = gate.enter('203.0.113.6', undefined);
  assert.equal(typeof first, 'function', 'within its share: at once');
  (first as Release)();
  failures.record('203.0.113.6', undefined, 'basic', 'bad_password');
  failures.record('203.0.113.6', undefined, 'basic', 'bad_password');
  const later = gate.enter('203.0.113.6', undefined);
  assert.ok(later instanceof Promise, 'its share (2) is spent: it waits for the other workers\' failures first');
  assert.equal(gate.inFlight, 0, 'nothing started yet');
  const release = await later;
  assert.equal(gate.inFlight, 1);
  release();
});
