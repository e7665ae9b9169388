/**
 * API key id enumeration through revoked and expired keys: an unknown id pays a dummy argon2 verification and a live
 * id its own, but a revoked or expired id was refused at once, about 200× faster, so a probe told which ids exist
 * (and that they are dead). Each now pays a verification of its own hash before it is refused. Asserted by counting
 * verifications (secretVerifications, burnedVerifications), not by timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createApiKey, createAuthenticator, revokeApiKey } from '../../src/authn/index.js';
import { burnedVerifications, secretVerifications } from '../../src/authn/passwords.js';
import type { GatehouseError } from '../../src/core/errors.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from '../authn/helpers.js';

test('revoked and expired API key ids pay the same verification as live and unknown ones', async (t) => {
  const dir = tempDir(t);
  const deps = testDeps(dir);
  const authn = await createAuthenticator(authConfig({ methods: ['api_key'] }, { limits: { lockout: { enabled: false } } }, dir), deps);
  t.after(() => authn.close());
  const now = deps.clock.now();
  const live = await createApiKey(deps.store, { name: 'live', scopes: ['readonly'], now });
  const revoked = await createApiKey(deps.store, { name: 'gone', scopes: ['readonly'], now });
  await revokeApiKey(deps.store, revoked.record.id, now);
  const expired = await createApiKey(deps.store, { name: 'old', scopes: ['readonly'], expiresAt: now + 1000, now });
  deps.clock.advance(5000);
  const guess = (id: string) => `gh_${id}_${'x'.repeat(43)}`;
  const cases: [string, string, string][] = [
    ['unknown id', guess('AAAAAAAAAAAAAAAA'), 'unknown_key'],
    ['live id, bad secret', guess(live.record.id), 'bad_secret'],
    ['revoked id, bad secret', guess(revoked.record.id), 'revoked'],
    ['expired id, bad secret', guess(expired.record.id), 'expired'],
    // With its right secret too: still refused, after the same work.
    ['revoked id, right secret', revoked.key, 'revoked'],
    ['expired id, right secret', expired.key, 'expired'],
  ];
  for (const [label, key, reason] of cases) {
    const before = secretVerifications() + burnedVerifications();
    const r = await identifyResult(authn.identify, exchange({ 'x-api-key': key }));
    assert.equal((r.error as GatehouseError).code, 'GH_CREDENTIALS_INVALID', label);
    assert.equal((r.ex.meta['auth_failure'] as { reason: string }).reason, reason, label);
    assert.equal(secretVerifications() + burnedVerifications() - before, 1, `${label}: one hash verification before the refusal`);
  }
});
