import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { createAuthenticator } from '../../src/authn/index.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from '../authn/helpers.js';

const reason = (r: { ex: { meta: Record<string, unknown> } }) => (r.ex.meta['auth_failure'] as { reason: string } | undefined)?.reason;

test('an oversized token or Authorization header is refused before decoding (bounded parsing)', async (t) => {
  const dir = tempDir(t);
  const deps = testDeps(dir);
  const authn = await createAuthenticator(
    authConfig({ methods: ['token', 'jwt', 'api_key', 'basic'], jwt: { issuers: [{ secret: 'shared-jwt-secret-0123456789abcdef' }] } }, {}, dir),
    deps,
  );
  t.after(() => authn.close());
  const { token } = await authn.tokens!.mint({ agent: 'a', scopes: 'readonly', ttlMs: 60_000 });
  const huge = 'A'.repeat(1_000_000);
  const cases: [string, string][] = [
    [`Bearer gh1.${authn.tokens!.keyring.signing.kid}.${huge}.${token.slice(-43)}`, 'authorization_too_long'],
    [`Bearer eyJ${huge}.e30.sig`, 'authorization_too_long'],
    [`Basic ${huge}`, 'authorization_too_long'],
    [`Bearer gh1.k.${'A'.repeat(4100)}.${token.slice(-43)}`, 'token_too_long'],
    [`Bearer eyJ${'A'.repeat(8200)}.e30.sig`, 'token_too_long'],
    [`Bearer gh_AAAAAAAAAAAAAAAA_${'x'.repeat(400)}`, 'api_key_too_long'],
  ];
  for (const [authorization, expected] of cases) {
    const started = performance.now();
    const r = await identifyResult(authn.identify, exchange({ authorization }));
    assert.ok(performance.now() - started < 1000, 'refused without linear work on the payload');
    assert.equal(reason(r), expected, authorization.slice(0, 20));
  }
  const big = await identifyResult(authn.identify, exchange({ 'X-API-Key': `gh_AAAAAAAAAAAAAAAA_${'y'.repeat(5000)}` }));
  assert.equal(reason(big), 'api_key_too_long');
});

test('a users file or JWKS document beyond its size cap is refused, not parsed', async (t) => {
  const { writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { readUsersFile } = await import('../../src/authn/index.js');
  const dir = tempDir(t);
  const file = join(dir, 'users.json');
  writeFileSync(file, JSON.stringify({ users: [] }) + ' '.repeat(4 * 1024 * 1024 + 1));
  assert.throws(() => readUsersFile(file), /too large/);
});
