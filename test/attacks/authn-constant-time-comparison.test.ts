import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { createAuthenticator, encodeToken, ensureTokenSecrets } from '../../src/authn/index.js';
import { constantTimeEqual } from '../../src/core/compare.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from '../authn/helpers.js';

/** Counts calls of crypto.timingSafeEqual made through the ESM named import the code uses. */
function spyTimingSafeEqual(t: { after(fn: () => void): void }): { calls: () => number; lengths: number[] } {
  const original = crypto.timingSafeEqual;
  let calls = 0;
  const lengths: number[] = [];
  crypto.timingSafeEqual = ((a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
    calls++;
    lengths.push(a.byteLength);
    return original(a, b);
  }) as typeof crypto.timingSafeEqual;
  syncBuiltinESMExports();
  t.after(() => {
    crypto.timingSafeEqual = original;
    syncBuiltinESMExports();
  });
  return { calls: () => calls, lengths };
}

test('secret comparisons run in constant time: equal-length wrong MACs, static tokens and custom headers go through timingSafeEqual', async (t) => {
  const dir = tempDir(t);
  const deps = testDeps(dir);
  const authn = await createAuthenticator(
    authConfig({
      methods: ['token', 'static', 'header'],
      static: { tokens: [{ token: 'static-token-0123456789abcdef', principal: 's1' }, { token: 'another-static-token-0123456789', principal: 's2' }] },
      header: { headers: { 'X-API-Key': 'header-secret-0123456789abcdef', 'X-Tenant-ID': 'acme' } },
    }, {}, dir),
    deps,
  );
  t.after(() => authn.close());
  const spy = spyTimingSafeEqual(t);

  // A Gatehouse token with a wrong MAC of the right length (same kid, other secret): compared by timingSafeEqual.
  const now = Math.floor(deps.clock.now() / 1000);
  const kid = ensureTokenSecrets(dir).signing.kid;
  const forged = encodeToken({ sub: 'x', scopes: ['admin'], iat: now, exp: now + 60, jti: 'forged-000001' }, { kid, secret: Buffer.alloc(32, 7), created_at: 0 });
  let before = spy.calls();
  const r1 = await identifyResult(authn.identify, exchange({ authorization: `Bearer ${forged}` }));
  assert.equal((r1.ex.meta['auth_failure'] as { reason: string }).reason, 'bad_signature');
  assert.equal(spy.calls() - before, 1, 'the MAC comparison used timingSafeEqual');
  assert.equal(spy.lengths.at(-1), 43, 'over the full MAC (its 43-character canonical base64url text)');

  // Static tokens: every configured digest is compared, no early exit, even when the first one matches.
  before = spy.calls();
  await identifyResult(authn.identify, exchange({ authorization: 'Bearer static-token-0123456789abcdef' }));
  assert.equal(spy.calls() - before, 2);
  before = spy.calls();
  await identifyResult(authn.identify, exchange({ authorization: 'Bearer static-token-0123456789abcdeX' }));
  assert.equal(spy.calls() - before, 2);

  // Custom headers: both configured headers compared, even when the first is wrong.
  before = spy.calls();
  const r3 = await identifyResult(authn.identify, exchange({ 'X-API-Key': 'header-secret-0123456789abcdeX', 'X-Tenant-ID': 'acme' }));
  assert.equal((r3.ex.meta['auth_failure'] as { reason: string }).reason, 'header_mismatch');
  assert.equal(spy.calls() - before, 2);

  // core/compare (plaintext dev passwords) hashes both sides to a fixed length first.
  before = spy.calls();
  assert.equal(constantTimeEqual('a', 'a much longer string'), false);
  assert.equal(spy.calls() - before, 1);
  assert.equal(spy.lengths.at(-1), 32);
});
