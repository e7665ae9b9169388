import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GatehouseError } from '../../src/core/errors.js';
import { createAuthenticator } from '../../src/authn/index.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from '../authn/helpers.js';

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

test('rejects alg none (and its case variants) for secret and JWKS issuers alike', async (t) => {
  const dir = tempDir(t);
  const deps = testDeps(dir);
  deps.clock.set(Date.now());
  const authn = await createAuthenticator(
    authConfig({ methods: ['jwt'], jwt: { issuers: [{ secret: 'shared-jwt-secret-0123456789abcdef' }, { issuer: 'https://idp.example', audience: 'gh', jwks_url: 'http://127.0.0.1:9/jwks', fetch_timeout: '200ms' }] } }, {}, dir),
    deps,
  );
  t.after(() => authn.close());
  const now = Math.floor(Date.now() / 1000);
  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    for (const iss of [undefined, 'https://idp.example']) {
      const token = `${b64({ alg, typ: 'JWT' })}.${b64({ sub: 'admin', scope: 'admin', iss, aud: 'gh', exp: now + 600 })}.`;
      const r = await identifyResult(authn.identify, exchange({ authorization: `Bearer ${token}` }));
      const e = r.error as GatehouseError;
      assert.equal(e.code, 'GH_TOKEN_INVALID', `${alg} ${iss}`);
      assert.equal((r.ex.meta['auth_failure'] as { reason: string }).reason, 'alg_not_allowed');
      assert.equal(r.ex.principal, undefined);
    }
  }
});
