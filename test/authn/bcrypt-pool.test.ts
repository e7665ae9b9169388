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
