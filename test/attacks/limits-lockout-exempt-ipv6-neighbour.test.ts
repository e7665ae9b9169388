/**
 * An exempt IPv6 host locked out by its neighbours: lockouts are keyed by the /64, and checkIp never consulted
 * limits.lockout.exempt, so five bad tokens from 2001:db8::66 locked out the exempt monitor at 2001:db8::10 too.
 * Now an exempt address is never refused by a lockout, and its own failures are not charged to its /64 (a
 * misconfigured monitor does not lock its neighbours out); its neighbours' failures still lock them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAuthenticator } from '../../src/authn/index.js';
import type { GatehouseError } from '../../src/core/errors.js';
import { Lockouts } from '../../src/limits/index.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from '../authn/helpers.js';

const BAD_TOKEN = { authorization: `Bearer gh1.kAAAAAAAA.e30.${'A'.repeat(43)}` };
const EXEMPT = '2001:db8::10';
const NEIGHBOUR = '2001:db8::66';

async function setup(t: { after(fn: () => unknown): void }) {
  const dir = tempDir(t);
  const deps = testDeps(dir);
  const cfg = authConfig({ methods: ['token'] }, { limits: { lockout: { max_failures: 5, exempt: [EXEMPT] } } }, dir);
  const lockouts = new Lockouts(cfg.limits.lockout, deps);
  await lockouts.start();
  t.after(() => lockouts.close());
  const authn = await createAuthenticator(cfg, { ...deps, lockout: lockouts });
  t.after(() => authn.close());
  authn.failures.onFailure((e) => lockouts.onFailure(e));
  const attempt = async (ip: string) => ((await identifyResult(authn.identify, exchange(BAD_TOKEN, { source_ip: ip, peer_ip: ip }))).error as GatehouseError).code;
  return { authn, lockouts, attempt };
}

test('a neighbour in the /64 locks the prefix out, but not the exempt host in it', async (t) => {
  const { lockouts, attempt } = await setup(t);
  for (let i = 0; i < 5; i++) assert.equal(await attempt(NEIGHBOUR), 'GH_TOKEN_INVALID');
  assert.equal(await attempt(NEIGHBOUR), 'GH_LOCKED_OUT', 'the neighbour is locked out');
  assert.equal(await attempt('2001:db8::67'), 'GH_LOCKED_OUT', 'and so is the rest of its /64');
  assert.equal(await attempt(EXEMPT), 'GH_TOKEN_INVALID', 'the exempt host is still heard (its bad token refused, not locked)');
  assert.doesNotThrow(() => lockouts.checkIp(EXEMPT));
  assert.doesNotThrow(() => lockouts.checkIp(`::ffff:192.0.2.1`));
  assert.throws(() => lockouts.checkIp(NEIGHBOUR), (e: GatehouseError) => e.code === 'GH_LOCKED_OUT');
});

test("an exempt host's failures are not charged to its /64", async (t) => {
  const { authn, attempt } = await setup(t);
  for (let i = 0; i < 8; i++) assert.equal(await attempt(EXEMPT), 'GH_TOKEN_INVALID');
  assert.equal(authn.failures.forIp(NEIGHBOUR), 0, 'the /64 has no failures from the exempt host');
  // The neighbour has its whole allowance: locked at its own fifth failure, not at its first.
  for (let i = 0; i < 5; i++) assert.equal(await attempt(NEIGHBOUR), 'GH_TOKEN_INVALID', `neighbour failure ${i + 1}`);
  assert.equal(await attempt(NEIGHBOUR), 'GH_LOCKED_OUT');
  assert.equal(await attempt(EXEMPT), 'GH_TOKEN_INVALID');
});
