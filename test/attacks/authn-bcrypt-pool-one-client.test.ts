/**
 * One client filling the bcrypt pool alone (review finding F3). The pool's cap is process-wide, so one address
 * sending a few dozen bcrypt guesses at once held every slot, and every other client's bcrypt login got 429. Now a
 * client (core/net clientKey: an IPv4 address, an IPv6 /64) holds at most BCRYPT_PER_CLIENT (4) slots; past that its
 * verifications are refused with the pool's 429, before any lookup. Not counted as failures — neither for the user or
 * key it claims (that would let anyone lock a victim out by sending at once), nor for the client: nothing was
 * verified, its verified guesses count (and lock it out) as before, and a NAT's burst of correct logins is no guess.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { createAuthenticator, hashSecret, importApiKey } from '../../src/authn/index.js';
import { bcryptPool } from '../../src/authn/bcrypt-pool.js';
import { burnedVerifications, secretVerifications } from '../../src/authn/passwords.js';
import type { GatehouseError } from '../../src/core/errors.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from '../authn/helpers.js';

const PER_CLIENT = 4;
const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
const noLockout = { checkIp: () => undefined, checkPrincipal: () => undefined };
/** The public code, and for a 429 the reason recorded for the audit record (bcrypt_busy, bcrypt_client_busy). */
const outcome = (r: { ex: { meta: Record<string, unknown> }; error?: unknown }): string => {
  const e = r.error as GatehouseError | undefined;
  if (e === undefined) return 'ok';
  return e.code === 'GH_RATE_LIMITED' ? `${e.code}:${(r.ex.meta['auth_failure'] as { reason: string }).reason}` : e.code;
};

async function setup(t: { after(fn: () => unknown): void }) {
  const dir = tempDir(t);
  const deps = testDeps(dir);
  const users = [
    { name: 'legacy', password_hash: bcrypt.hashSync('legacy-password', 4), scopes: ['readonly'] },
    { name: 'modern', password_hash: await hashSecret('modern-password'), scopes: ['readonly'] },
  ];
  const key = await importApiKey(deps.store, { name: 'imported-key', hash: bcrypt.hashSync('imported-secret', 4), scopes: ['readonly'], now: deps.clock.now() });
  const authn = await createAuthenticator(authConfig({ methods: ['basic', 'api_key'], basic: { users } }, {}, dir), { ...deps, lockout: noLockout });
  t.after(() => authn.close());
  return { authn, keyId: key.id };
}

test('one address holds at most 4 bcrypt slots: the rest of its guesses get 429, counted for neither it nor the user; others still verify', async (t) => {
  const { authn, keyId } = await setup(t);
  assert.equal(bcryptPool().maxPerClient, PER_CLIENT);
  const attacker = '198.51.100.7';
  const verifiedBefore = secretVerifications();
  const burnedBefore = burnedVerifications();
  const results = await Promise.all([
    ...Array.from({ length: 6 }, (_, i) => identifyResult(authn.identify, exchange(basic('legacy', `guess-${i}`), { source_ip: attacker }))),
    // Past its share, whatever it claims is refused alike (an unknown user, an API key): no lookup tells them apart.
    identifyResult(authn.identify, exchange(basic('nobody', 'guess'), { source_ip: attacker })),
    identifyResult(authn.identify, exchange({ 'x-api-key': `gh_${keyId}_${'x'.repeat(20)}` }, { source_ip: attacker })),
    // Another client, at the same time: its own share.
    identifyResult(authn.identify, exchange(basic('legacy', 'legacy-password'), { source_ip: '198.51.100.8' })),
  ]);
  assert.deepEqual(results.map(outcome), [
    ...Array.from({ length: PER_CLIENT }, () => 'GH_CREDENTIALS_INVALID'),
    ...Array.from({ length: 6 - PER_CLIENT + 2 }, () => 'GH_RATE_LIMITED:bcrypt_client_busy'),
    'ok',
  ]);
  for (const r of results.filter((x) => outcome(x).startsWith('GH_RATE_LIMITED'))) {
    assert.equal((r.error as GatehouseError).status, 429);
    assert.equal((r.error as GatehouseError).headers?.['retry-after'], '1');
  }
  assert.equal(secretVerifications() - verifiedBefore, PER_CLIENT + 1, 'only the admitted guesses (and the other client) were verified');
  assert.equal(burnedVerifications() - burnedBefore, 0, 'the refused unknown user paid no dummy verification either');
  // Counted: the verified failures only — for the address and for the user it claimed.
  assert.equal(authn.failures.forIp(attacker), PER_CLIENT);
  assert.equal(authn.failures.forPrincipal('legacy'), PER_CLIENT);
  assert.equal(authn.failures.forPrincipal('nobody'), 0);
  assert.equal(authn.failures.forPrincipal(keyId), 0);
  // Its slots are given back as its verifications end.
  assert.equal(bcryptPool().heldBy(attacker), 0);
  assert.equal(outcome(await identifyResult(authn.identify, exchange(basic('legacy', 'legacy-password'), { source_ip: attacker }))), 'ok');
});

test('an IPv6 client’s share is its /64; a lookup that finds no bcrypt hash keeps its slot through its argon2 work, so the slots tell nothing about the name', async (t) => {
  const { authn } = await setup(t);
  const results = await Promise.all([
    ...Array.from({ length: PER_CLIENT }, (_, i) => identifyResult(authn.identify, exchange(basic('legacy', `guess-${i}`), { source_ip: `2001:db8:1:2::${i + 1}` }))),
    // The same /64, another address: the same client.
    identifyResult(authn.identify, exchange(basic('legacy', 'guess-x'), { source_ip: '2001:db8:1:2:ffff::9' })),
    // Another /64: another client.
    identifyResult(authn.identify, exchange(basic('legacy', 'guess-y'), { source_ip: '2001:db8:1:3::1' })),
  ]);
  assert.deepEqual(results.map(outcome), [...Array.from({ length: PER_CLIENT }, () => 'GH_CREDENTIALS_INVALID'), 'GH_RATE_LIMITED:bcrypt_client_busy', 'GH_CREDENTIALS_INVALID']);

  // The reviewer's probe: a client's share filled by guesses for one name, then one request for a surely unknown name.
  // Given back before argon2 ran, an argon2 or unknown name left the share free (401) where a bcrypt name held it (429).
  for (const [name, source] of [['legacy', '198.51.100.7'], ['modern', '198.51.100.8'], ['nobody-at-all', '198.51.100.9']] as const) {
    const probe = await Promise.all([
      ...Array.from({ length: PER_CLIENT }, (_, i) => identifyResult(authn.identify, exchange(basic(name, `guess-${i}`), { source_ip: source }))),
      identifyResult(authn.identify, exchange(basic('surely-unknown-name', 'x'), { source_ip: source })),
    ]);
    assert.deepEqual(probe.map(outcome), [...Array.from({ length: PER_CLIENT }, () => 'GH_CREDENTIALS_INVALID'), 'GH_RATE_LIMITED:bcrypt_client_busy'], name);
  }
  assert.equal(bcryptPool().pending, 0);
});

test('unknown and argon2 names give the process-wide slot back at their lookup: four clients guessing names at random cannot refuse a fifth', async (t) => {
  const { authn } = await setup(t);
  const flood = Array.from({ length: 4 * PER_CLIENT }, (_, i) => identifyResult(authn.identify, exchange(basic(`nobody-${i}`, 'x'), { source_ip: `203.0.113.${1 + (i % 4)}` })));
  const victim = identifyResult(authn.identify, exchange(basic('modern', 'wrong-password'), { source_ip: '192.0.2.50' }));
  const [floodResults, victimResult] = await Promise.all([Promise.all(flood), victim]);
  assert.deepEqual(floodResults.map(outcome), floodResults.map(() => 'GH_CREDENTIALS_INVALID'), 'each client within its share');
  assert.equal(outcome(victimResult), 'GH_CREDENTIALS_INVALID', 'verified, not refused with 429: the flood held no process-wide slot');
  assert.equal(bcryptPool().pending, 0);
});
