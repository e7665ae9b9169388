import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GatehouseError } from '../../src/core/errors.js';
import { createApiKey, createAuthenticator } from '../../src/authn/index.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from '../authn/helpers.js';

test('credentials for two methods in one request are refused as ambiguous (400), whichever is valid', async (t) => {
  const dir = tempDir(t);
  const deps = testDeps(dir);
  const authn = await createAuthenticator(
    authConfig({
      methods: ['token', 'api_key', 'header', 'basic'],
      header: { headers: { 'X-Tenant-Key': 'tenant-header-secret-0123456789' }, principal: 'tenant-client' },
    }, {}, dir),
    deps,
  );
  t.after(() => authn.close());
  const { token } = await authn.tokens!.mint({ agent: 'low-privilege', scopes: 'readonly', ttlMs: 60_000 });
  const { key } = await createApiKey(deps.store, { name: 'admin-svc', scopes: ['admin'], now: deps.clock.now() });
  const combos: Record<string, string | string[]>[] = [
    { authorization: `Bearer ${token}`, 'X-API-Key': key },
    { authorization: `Bearer ${token}`, 'X-Tenant-Key': 'tenant-header-secret-0123456789' },
    { 'X-API-Key': key, 'X-Tenant-Key': 'tenant-header-secret-0123456789' },
    { authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}`, 'X-API-Key': key },
    // Two Authorization headers: Node keeps the first; Gatehouse refuses both.
    { authorization: [`Bearer ${token}`, `Bearer ${key}`] },
  ];
  for (const headers of combos) {
    const r = await identifyResult(authn.identify, exchange(headers));
    const e = r.error as GatehouseError;
    assert.equal(e?.code, 'GH_AUTH_AMBIGUOUS', JSON.stringify(Object.keys(headers)));
    assert.equal(e.status, 400);
    assert.equal(e.headers?.['WWW-Authenticate'], 'Bearer realm="gatehouse", error="invalid_request"');
    assert.equal(r.ex.principal, undefined);
  }
  // Each alone is fine.
  assert.equal((await identifyResult(authn.identify, exchange({ authorization: `Bearer ${token}` }))).error, undefined);
  assert.equal((await identifyResult(authn.identify, exchange({ 'X-API-Key': key }))).error, undefined);
});

test('two API keys, one in Authorization and one in X-API-Key, are two credentials: refused, not "Authorization wins"', async (t) => {
  const dir = tempDir(t);
  const deps = testDeps(dir);
  for (const methods of [['api_key'], ['token', 'api_key']]) {
    const authn = await createAuthenticator(authConfig({ methods }, {}, dir), deps);
    t.after(() => authn.close());
    const admin = await createApiKey(deps.store, { name: 'admin-svc', scopes: ['admin'], now: deps.clock.now() });
    const low = await createApiKey(deps.store, { name: 'low-svc', scopes: ['readonly'], now: deps.clock.now() });
    for (const headers of [
      { authorization: `Bearer ${admin.key}`, 'X-API-Key': low.key },
      { authorization: `Bearer ${low.key}`, 'X-API-Key': admin.key },
      { authorization: `Bearer ${low.key}`, 'X-API-Key': low.key },
    ]) {
      const r = await identifyResult(authn.identify, exchange(headers));
      assert.equal((r.error as GatehouseError | undefined)?.code, 'GH_AUTH_AMBIGUOUS', methods.join(','));
      assert.equal(r.ex.principal, undefined);
    }
    assert.equal((await identifyResult(authn.identify, exchange({ authorization: `Bearer ${low.key}` }))).ex.principal?.id, 'low-svc');
    assert.equal((await identifyResult(authn.identify, exchange({ 'X-API-Key': admin.key }))).ex.principal?.id, 'admin-svc');
  }
});
