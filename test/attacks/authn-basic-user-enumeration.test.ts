/**
 * User enumeration through Basic: an unknown user pays an argon2 verification on a dummy hash (burnVerification) so
 * that it answers as slowly as a known one. A known user sent an over-long password (over 1024 characters, or over
 * bcrypt's 72 bytes) was refused at once without that work, and a plain-text (development) password was compared at
 * once: either answered in well under a millisecond against ≈ 20 ms for an unknown user. Each now pays the same
 * verification. Asserted by counting dummy verifications (burnedVerifications), not by timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { createAuthenticator, hashSecret } from '../../src/authn/index.js';
import { burnedVerifications, verifySecret } from '../../src/authn/passwords.js';
import type { GatehouseError } from '../../src/core/errors.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from '../authn/helpers.js';

const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

test('every refused password costs one verification, known user or not, whatever its length', async (t) => {
  const dir = tempDir(t);
  const users = [
    { name: 'argon-user', password_hash: await hashSecret('argon-user-password'), scopes: ['readonly'] },
    { name: 'bcrypt-user', password_hash: bcrypt.hashSync('bcrypt-user-password', 4), scopes: ['readonly'] },
    { name: 'plain-user', password: 'plain-user-password', scopes: ['readonly'] },
  ];
  const authn = await createAuthenticator(authConfig({ methods: ['basic'], basic: { users } }, {}, dir), testDeps(dir));
  t.after(() => authn.close());
  const long = 'x'.repeat(1100);
  const over72 = 'é'.repeat(40); // 80 bytes: bcrypt would read 72 of them
  const cases: [string, string, string][] = [
    ['nobody', long, 'unknown_user'],
    ['argon-user', long, 'bad_password'],
    ['bcrypt-user', long, 'bad_password'],
    ['bcrypt-user', over72, 'bad_password'],
    ['plain-user', 'wrong', 'bad_password'],
    ['plain-user', long, 'bad_password'],
  ];
  for (const [user, password, reason] of cases) {
    const before = burnedVerifications();
    const r = await identifyResult(authn.identify, exchange(basic(user, password)));
    assert.equal((r.error as GatehouseError).code, 'GH_CREDENTIALS_INVALID', user);
    assert.equal((r.ex.meta['auth_failure'] as { reason: string }).reason, reason, user);
    assert.equal(burnedVerifications() - before, 1, `${user} with a ${password.length}-character password spends one dummy verification`);
  }
  // A plain-text user's right password still works.
  const ok = await identifyResult(authn.identify, exchange(basic('plain-user', 'plain-user-password')));
  assert.equal(ok.error, undefined);
  assert.equal(ok.ex.principal?.id, 'plain-user');
});

test('verifySecret: an empty, over-long or unknown-format input is false after a dummy verification', async () => {
  const hash = await hashSecret('right');
  for (const [h, s] of [[hash, ''], [hash, 'y'.repeat(1025)], ['$unknown$format', 'right']] as const) {
    const before = burnedVerifications();
    assert.equal(await verifySecret(h, s), false);
    assert.equal(burnedVerifications() - before, 1, `${h.slice(0, 10)} / ${s.length}`);
  }
  const before = burnedVerifications();
  assert.equal(await verifySecret(hash, 'right'), true);
  assert.equal(burnedVerifications(), before, 'a real verification burns nothing');
});
