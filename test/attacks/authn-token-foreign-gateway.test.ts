import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAuthenticator, encodeToken, ensureTokenSecrets, TokenService, configTokenKeyring } from '../../src/authn/index.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from '../authn/helpers.js';

const reason = (r: { ex: { meta: Record<string, unknown> } }) => (r.ex.meta['auth_failure'] as { reason: string } | undefined)?.reason;

test("a token minted by another gateway's secret is refused (unknown kid, or the same kid with another secret)", async (t) => {
  const ours = tempDir(t);
  const theirs = tempDir(t);
  const deps = testDeps(ours);
  const authn = await createAuthenticator(authConfig({ methods: ['token'] }, {}, ours), deps);
  t.after(() => authn.close());
  const other = new TokenService({ keyring: ensureTokenSecrets(theirs), clock: deps.clock });
  const foreign = (await other.mint({ agent: 'ops-automation', scopes: 'admin', ttlMs: 3_600_000 })).token;
  assert.equal(reason(await identifyResult(authn.identify, exchange({ authorization: `Bearer ${foreign}` }))), 'unknown_kid');

  // The attacker guesses our kid (it is public, in every token) but not our secret.
  const ourKid = authn.tokens!.keyring.signing.kid;
  const forged = encodeToken(
    { sub: 'ops-automation', scopes: ['admin'], iat: Math.floor(deps.clock.now() / 1000), exp: Math.floor(deps.clock.now() / 1000) + 3600, jti: 'forged-jti-0001' },
    { kid: ourKid, secret: ensureTokenSecrets(theirs).signing.secret, created_at: 0 },
  );
  assert.equal(reason(await identifyResult(authn.identify, exchange({ authorization: `Bearer ${forged}` }))), 'bad_signature');
});

test('gateways configured with different shared secrets do not accept each other\'s tokens', async () => {
  const a = new TokenService({ keyring: configTokenKeyring('gateway-a-secret-0123456789abcdef') });
  const b = new TokenService({ keyring: configTokenKeyring('gateway-b-secret-0123456789abcdef') });
  const { token } = await a.mint({ agent: 'x', scopes: 'readonly', ttlMs: 60_000 });
  assert.throws(() => b.verify(token), (e: { code: string }) => e.code === 'GH_TOKEN_INVALID');
});
