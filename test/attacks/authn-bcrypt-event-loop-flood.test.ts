/**
 * Unauthenticated guesses against a user with an imported bcrypt hash froze the gateway: bcryptjs ran each
 * verification (≈ 270 ms at cost 12) on the event loop, and 80 guesses from 8 addresses held /healthz at half a second
 * for 21 s. bcrypt now runs in worker threads (test/authn/bcrypt-pool.test.ts) and the verifications waiting for them
 * are capped process-wide: past the cap a guess is refused at once, 429 GH_RATE_LIMITED with Retry-After, without
 * being verified — and so, like the lockout gate's own overload refusal, not counted as a failed authentication.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { createAuthenticator } from '../../src/authn/index.js';
import { bcryptPool } from '../../src/authn/bcrypt-pool.js';
import type { GatehouseError } from '../../src/core/errors.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from '../authn/helpers.js';

const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

test('a flood of bcrypt guesses beyond the cap is refused with 429 and Retry-After, uncounted', async (t) => {
  const dir = tempDir(t);
  const users = [{ name: 'legacy', password_hash: bcrypt.hashSync('legacy-password', 4), scopes: ['readonly'] }];
  const authn = await createAuthenticator(authConfig({ methods: ['basic'], basic: { users } }, {}, dir), testDeps(dir));
  t.after(() => authn.close());
  const cap = bcryptPool().maxPending;
  const extra = 3;
  const results = await Promise.all(
    Array.from({ length: cap + extra }, (_, i) => identifyResult(authn.identify, exchange(basic('legacy', `guess-${i}`), { source_ip: `198.51.100.${1 + (i % 200)}` }))),
  );
  const codes = results.map((r) => (r.error as GatehouseError).code);
  const busy = results.filter((r) => (r.error as GatehouseError).code === 'GH_RATE_LIMITED');
  assert.equal(busy.length, extra, `only the guesses past the cap (${cap}) are refused unverified: ${codes.join(',')}`);
  assert.equal(codes.filter((c) => c === 'GH_CREDENTIALS_INVALID').length, cap);
  for (const r of busy) {
    const e = r.error as GatehouseError;
    assert.equal(e.status, 429);
    assert.equal(e.headers?.['retry-after'], '1');
  }
  // Failures counted: the verified guesses, not the refused ones.
  assert.equal(authn.failures.forPrincipal('legacy'), cap);
  // Once the queue drains, the right password gets in.
  const ok = await identifyResult(authn.identify, exchange(basic('legacy', 'legacy-password')));
  assert.equal(ok.error, undefined);
  assert.equal(ok.ex.principal?.id, 'legacy');
});
