/**
 * The bcrypt cap as an oracle (review finding F3). While the bcrypt worker pool was full, a Basic user or API key id
 * with a bcrypt hash got an immediate 429 (refused after its lookup, uncounted), while an unknown one, or one with an
 * argon2 hash, paid an argon2 verification and got a 401: each probe told which names and key ids exist, and none was
 * counted. Keeping the pool full takes a few failing cost-12 guesses a second. Now the slot is reserved before the
 * lookup, so while the pool is full every principal of these methods gets the same 429 after the same (no) work —
 * and a deployment with no bcrypt hash is never refused for it. Asserted by codes and by counting verifications
 * (secretVerifications, burnedVerifications), not by timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { createApiKey, createAuthenticator, hashSecret, importApiKey, revokeApiKey, type Authenticator } from '../../src/authn/index.js';
import { bcryptPool } from '../../src/authn/bcrypt-pool.js';
import { burnedVerifications, secretVerifications, verifySecret } from '../../src/authn/passwords.js';
import type { GatehouseError } from '../../src/core/errors.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps, type TestDeps } from '../authn/helpers.js';

const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
const apiKey = (id: string, secret = 'x'.repeat(43)) => ({ 'x-api-key': `gh_${id}_${secret}` });
const noLockout = { checkIp: () => undefined, checkPrincipal: () => undefined };
const SLOW = bcrypt.hashSync('someone-else', 10);

/**
 * Fills the process's bcrypt pool with other verifications (another client's guesses), as the attacker does. Each
 * holds a worker for milliseconds; the probes that follow reach their refusal within the same turn or a few
 * microtasks later, long before the first of these ends.
 */
function fillPool(): Promise<boolean[]> {
  const pool = bcryptPool();
  return Promise.all(Array.from({ length: pool.maxPending - pool.pending }, () => verifySecret(SLOW, 'wrong')));
}

async function deployment(t: { after(fn: () => unknown): void }, withBcrypt: boolean): Promise<{ authn: Authenticator; deps: TestDeps; keys: Record<string, string> }> {
  const dir = tempDir(t);
  const deps = testDeps(dir);
  const now = deps.clock.now();
  const users: Record<string, unknown>[] = [{ name: 'modern', password_hash: await hashSecret('modern-password'), scopes: ['readonly'] }];
  const keys: Record<string, string> = {};
  keys['argon2'] = (await createApiKey(deps.store, { name: 'argon2-key', scopes: ['readonly'], now })).record.id;
  if (withBcrypt) {
    users.push({ name: 'legacy', password_hash: bcrypt.hashSync('legacy-password', 4), scopes: ['readonly'] });
    keys['bcrypt'] = (await importApiKey(deps.store, { name: 'imported-key', hash: bcrypt.hashSync('imported-secret', 4), scopes: ['readonly'], now })).id;
  } else {
    // Moved off bcrypt: the imported key was re-issued and revoked (kept for the record). Not a bcrypt deployment.
    const old = await importApiKey(deps.store, { name: 'reissued-key', hash: bcrypt.hashSync('old-secret', 4), scopes: ['readonly'], now });
    await revokeApiKey(deps.store, old.id, now);
  }
  const authn = await createAuthenticator(authConfig({ methods: ['basic', 'api_key'], basic: { users } }, {}, dir), { ...deps, lockout: noLockout });
  t.after(() => authn.close());
  return { authn, deps, keys };
}

test('while the bcrypt pool is full, unknown, argon2 and bcrypt users and keys get the same 429, after no verification', async (t) => {
  const { authn, keys } = await deployment(t, true);
  const probes: [string, Record<string, string>][] = [
    ['basic, unknown user', basic('nobody', 'guess')],
    ['basic, argon2 user', basic('modern', 'guess')],
    ['basic, bcrypt user', basic('legacy', 'guess')],
    ['api key, unknown id', apiKey('AAAAAAAAAAAAAAAA')],
    ['api key, argon2 hash', apiKey(keys['argon2']!)],
    ['api key, bcrypt hash', apiKey(keys['bcrypt']!)],
  ];
  const filled = fillPool();
  const verifiedBefore = secretVerifications();
  const burnedBefore = burnedVerifications();
  // Each from its own address: the per-client share (authn-bcrypt-pool-one-client.test.ts) is not what refuses here.
  const results = await Promise.all(probes.map(([, h], i) => identifyResult(authn.identify, exchange(h, { source_ip: `198.51.100.${10 + i}` }))));
  const answers = results.map((r) => (r.error as GatehouseError | undefined)?.code ?? 'ok');
  assert.deepEqual(answers, probes.map(() => 'GH_RATE_LIMITED'), `one answer for all: ${probes.map(([l], i) => `${l} → ${answers[i]}`).join('; ')}`);
  const first = results[0]!.error as GatehouseError;
  for (const [i, r] of results.entries()) {
    const e = r.error as GatehouseError;
    const label = probes[i]![0];
    assert.equal(e.status, 429, label);
    assert.equal(e.message, first.message, `${label}: the same message`);
    assert.deepEqual(e.headers, { 'retry-after': '1' }, `${label}: the same headers`);
    assert.equal((r.ex.meta['auth_failure'] as { reason: string }).reason, 'bcrypt_busy', label);
  }
  // The same cost: none of them was looked up far enough to verify a hash, real or dummy.
  assert.equal(secretVerifications() - verifiedBefore, 0, 'no hash verified');
  assert.equal(burnedVerifications() - burnedBefore, 0, 'no dummy hash verified');
  // Nothing was guessed: counted for no address and no principal.
  const counted = authn.failureCounts();
  assert.deepEqual([Object.keys(counted.by_ip), Object.keys(counted.by_principal)], [[], []]);
  await filled;

  // Drained: each is answered as before — wrong secrets a counted 401, the right bcrypt password and key get in.
  for (const [label, h] of probes) {
    const r = await identifyResult(authn.identify, exchange(h));
    assert.equal((r.error as GatehouseError).code, 'GH_CREDENTIALS_INVALID', label);
  }
  assert.equal(authn.failures.forIp('203.0.113.5'), probes.length);
  assert.equal((await identifyResult(authn.identify, exchange(basic('legacy', 'legacy-password')))).ex.principal?.id, 'legacy');
  assert.equal((await identifyResult(authn.identify, exchange(apiKey(keys['bcrypt']!, 'imported-secret')))).ex.principal?.id, 'imported-key');
  assert.equal(bcryptPool().pending, 0, 'every slot given back');
});

test('a deployment without bcrypt hashes is never refused for a full bcrypt pool, nor for one client’s share of it', async (t) => {
  const { authn, deps, keys } = await deployment(t, false);
  const now = deps.clock.now();
  // Six argon2 keys never seen before, presented at once from one address (one more than a client's bcrypt share).
  const more = await Promise.all(Array.from({ length: 6 }, (_, i) => createApiKey(deps.store, { name: `agent-${i}`, scopes: ['readonly'], now })));
  const filled = fillPool();
  assert.equal(bcryptPool().pending, bcryptPool().maxPending, 'the pool is full (nothing of this deployment’s in it)');
  const verifiedBefore = secretVerifications();
  const results = await Promise.all([
    identifyResult(authn.identify, exchange(basic('nobody', 'guess'))),
    identifyResult(authn.identify, exchange(basic('modern', 'guess'))),
    identifyResult(authn.identify, exchange(basic('modern', 'modern-password'))),
    identifyResult(authn.identify, exchange(apiKey('AAAAAAAAAAAAAAAA'))),
    identifyResult(authn.identify, exchange(apiKey(keys['argon2']!))),
    ...more.map((k) => identifyResult(authn.identify, exchange({ 'x-api-key': k.key }))),
  ]);
  const answers = results.map((r) => (r.error as GatehouseError | undefined)?.code ?? r.ex.principal?.id);
  assert.deepEqual(answers, [
    'GH_CREDENTIALS_INVALID', 'GH_CREDENTIALS_INVALID', 'modern', 'GH_CREDENTIALS_INVALID', 'GH_CREDENTIALS_INVALID',
    ...more.map((k) => k.record.name),
  ]);
  assert.equal(secretVerifications() - verifiedBefore, 9, 'every known user and key verified against its own hash');
  await filled;
});

test('a bcrypt API key imported while the gateway runs turns the check on when first met', async (t) => {
  const { authn, deps } = await deployment(t, false);
  // `gatehouse apikey import` from another process, after the start's scan of the store.
  const imported = await importApiKey(deps.store, { name: 'late-key', hash: bcrypt.hashSync('late-secret', 4), scopes: ['readonly'], now: deps.clock.now() });
  const first = await identifyResult(authn.identify, exchange(apiKey(imported.id)));
  assert.equal((first.error as GatehouseError).code, 'GH_CREDENTIALS_INVALID', 'verified (the pool had room)');
  const filled = fillPool();
  const results = await Promise.all([
    identifyResult(authn.identify, exchange(apiKey('AAAAAAAAAAAAAAAA'), { source_ip: '198.51.100.20' })),
    identifyResult(authn.identify, exchange(apiKey(imported.id), { source_ip: '198.51.100.21' })),
    identifyResult(authn.identify, exchange(basic('nobody', 'guess'), { source_ip: '198.51.100.22' })),
  ]);
  assert.deepEqual(results.map((r) => (r.error as GatehouseError).code), ['GH_RATE_LIMITED', 'GH_RATE_LIMITED', 'GH_RATE_LIMITED']);
  await filled;
});
