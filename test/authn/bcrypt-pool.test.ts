/**
 * bcrypt (bcryptjs, pure JavaScript) verifies in worker threads, never on the event loop, and the verifications
 * waiting for them are capped. Asserted structurally, not by timing: which thread answered, and that the main thread
 * keeps turning (a setImmediate ticker) while verifications run. On the main thread, bcryptjs yields only between
 * 100 ms slices, so the ticker turned a handful of times; off it, thousands.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { threadId } from 'node:worker_threads';
import bcrypt from 'bcryptjs';
import { BcryptAdmission } from '../../src/authn/bcrypt-admission.js';
import { BcryptPool, bcryptPool } from '../../src/authn/bcrypt-pool.js';
import { verifySecret } from '../../src/authn/passwords.js';
import type { GatehouseError } from '../../src/core/errors.js';

/** Counts turns of the event loop until `work` settles. */
async function turnsDuring<T>(work: Promise<T>): Promise<{ value: T; turns: number }> {
  let turns = 0;
  let done = false;
  const tick = (): void => {
    if (done) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  try {
    return { value: await work, turns };
  } finally {
    done = true;
  }
}

test('bcrypt verifications run in a worker thread while the event loop keeps turning', async () => {
  const hash = bcrypt.hashSync('right-password', 10);
  const checks = Promise.all([
    verifySecret(hash, 'right-password'),
    ...Array.from({ length: 5 }, (_, i) => verifySecret(hash, `wrong-${i}`)),
  ]);
  const { value, turns } = await turnsDuring(checks);
  assert.deepEqual(value, [true, false, false, false, false, false], 'right and wrong passwords are told apart');
  const threads = [...bcryptPool().threadIds];
  assert.ok(threads.length >= 1, 'a worker thread answered');
  assert.ok(!threads.includes(threadId), 'never the main thread');
  assert.ok(turns >= 100, `the event loop kept turning while six cost-10 checks ran (${turns} turns)`);
});

test('past the cap, a bcrypt verification is refused at once with GH_RATE_LIMITED and Retry-After', async (t) => {
  const pool = new BcryptPool({ threads: 1, maxPending: 2 });
  t.after(() => pool.close());
  const hash = bcrypt.hashSync('right-password', 4);
  const first = pool.compare('right-password', hash);
  const second = pool.compare('wrong', hash);
  assert.equal(pool.pending, 2);
  assert.throws(
    () => pool.compare('third', hash),
    (e: GatehouseError) => e.code === 'GH_RATE_LIMITED' && e.status === 429 && e.headers?.['retry-after'] === '1' && e.detail === 'bcrypt_busy',
  );
  assert.deepEqual(await Promise.all([first, second]), [true, false]);
  assert.equal(pool.pending, 0);
  // Room again once they end.
  assert.equal(await pool.compare('right-password', hash), true);
});

test('a verification whose worker dies fails (the caller answers no) and the pool starts another', async (t) => {
  const pool = new BcryptPool({ threads: 1, maxPending: 4 });
  t.after(() => pool.close());
  const hash = bcrypt.hashSync('right-password', 4);
  const pending = pool.compare('right-password', hash);
  await pool.close();
  await assert.rejects(pending);
  assert.equal(pool.pending, 0);
  assert.equal(await pool.compare('right-password', hash), true);
});

test('a reserved slot counts against the cap and the client’s share until it is used or given back', async (t) => {
  const pool = new BcryptPool({ threads: 1, maxPending: 3, maxPerClient: 2 });
  t.after(() => pool.close());
  const hash = bcrypt.hashSync('right-password', 4);
  const a1 = pool.reserve('198.51.100.1');
  const a2 = pool.reserve('198.51.100.1');
  assert.equal(pool.heldBy('198.51.100.1'), 2);
  assert.throws(() => pool.reserve('198.51.100.1'), (e: GatehouseError) => e.code === 'GH_RATE_LIMITED' && e.status === 429 && e.detail === 'bcrypt_client_busy' && e.headers?.['retry-after'] === '1');
  const b1 = pool.reserve('198.51.100.2');
  assert.equal(pool.pending, 3);
  // Full: refused for every client (and for callers that name none), with the pool's own detail.
  assert.throws(() => pool.reserve('198.51.100.3'), (e: GatehouseError) => e.code === 'GH_RATE_LIMITED' && e.detail === 'bcrypt_busy');
  assert.throws(() => pool.compare('x', hash), (e: GatehouseError) => e.detail === 'bcrypt_busy');
  a1.release();
  a1.release(); // a second release gives nothing back twice
  assert.equal(pool.pending, 2);
  assert.equal(pool.heldBy('198.51.100.1'), 1);
  const checked = a2.compare('right-password', hash);
  assert.throws(() => a2.compare('again', hash), TypeError, 'a ticket verifies once');
  a2.release(); // after compare: nothing (the verification holds the slot until it ends)
  assert.equal(pool.pending, 2);
  assert.equal(await checked, true);
  assert.equal(pool.heldBy('198.51.100.1'), 0);
  b1.release();
  assert.equal(pool.pending, 0);
});

test('bcrypt admission reserves only while the deployment holds a bcrypt hash', async (t) => {
  const pool = new BcryptPool({ threads: 1, maxPending: 1 });
  t.after(() => pool.close());
  const admission = new BcryptAdmission(() => pool);
  const filler = pool.reserve();
  assert.equal(admission.admit('198.51.100.1'), undefined, 'no bcrypt hash: nothing reserved, nothing refused, even with the pool full');
  admission.holds('basic', true);
  assert.throws(() => admission.admit('198.51.100.1'), (e: GatehouseError) => e.code === 'GH_RATE_LIMITED');
  admission.holds('basic', false); // the users file reloaded without its last bcrypt user
  assert.equal(admission.admit('198.51.100.1'), undefined);
  filler.release();
  // An API key met with a bcrypt hash: reserved at once, and every later verification reserves before its lookup.
  const late = admission.late('api_key', '198.51.100.1');
  assert.equal(admission.active, true);
  assert.throws(() => admission.admit('2001:db8::1'), (e: GatehouseError) => e.detail === 'bcrypt_busy');
  late.release();
  const ticket = admission.admit('2001:db8::1');
  assert.equal(pool.heldBy('2001:db8:0:0::/64'), 1, 'counted under the client key: an IPv6 address by its /64');
  ticket?.release();
});
