import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import type { GatehouseError } from '../../src/core/errors.js';
import { createApiKey, createAuthenticator, hashSecret, importApiKey, revokeApiKey, writeUsersFile, type Authenticator } from '../../src/authn/index.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps, type TestDeps } from './helpers.js';

async function setup(t: { after(fn: () => unknown): void }, auth: Record<string, unknown>): Promise<{ authn: Authenticator; deps: TestDeps; dir: string }> {
  const dir = tempDir(t);
  const deps = testDeps(dir);
  const authn = await createAuthenticator(authConfig(auth, {}, dir), deps);
  t.after(() => authn.close());
  return { authn, deps, dir };
}

const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });

describe('api_key method', () => {
  test('a key authenticates by Bearer or X-API-Key; the second time synchronously from the cache', async (t) => {
    const { authn, deps } = await setup(t, { methods: ['api_key'] });
    const { key, record } = await createApiKey(deps.store, { name: 'svc', scopes: ['logs:write'], tenant: 'acme', now: deps.clock.now() });
    const first = exchange({ authorization: `Bearer ${key}` });
    const p = authn.identify(first);
    assert.ok(p instanceof Promise, 'first sight verifies argon2 asynchronously');
    await p;
    assert.equal(first.principal?.id, 'svc');
    assert.equal(first.principal?.credential_id, record.id);
    assert.equal(first.principal?.tenant, 'acme');
    const second = exchange({ 'X-API-Key': key });
    assert.equal(authn.identify(second), undefined, 'cached verification is synchronous');
    assert.equal(second.principal?.method, 'api_key');
  });

  test('a key bound to a tenant name tokens could not carry is refused at creation and import (GH_USAGE)', async (t) => {
    const { deps } = await setup(t, { methods: ['api_key'] });
    for (const tenant of ['acme corp', 'acme\nx', '', '*', 'a'.repeat(129)]) {
      await assert.rejects(createApiKey(deps.store, { name: 'svc', scopes: ['readonly'], tenant, now: deps.clock.now() }), (e: GatehouseError) => e.code === 'GH_USAGE', JSON.stringify(tenant));
      await assert.rejects(importApiKey(deps.store, { name: 'svc', scopes: ['readonly'], tenant, hash: '$2b$12$' + 'a'.repeat(53), now: deps.clock.now() }), (e: GatehouseError) => e.code === 'GH_USAGE', JSON.stringify(tenant));
    }
  });

  test('a wrong secret, an unknown id and a malformed key are refused with their reasons', async (t) => {
    const { authn, deps } = await setup(t, { methods: ['api_key'] });
    const { key } = await createApiKey(deps.store, { name: 'svc', scopes: ['readonly'], now: deps.clock.now() });
    const wrong = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
    const cases: [string, string][] = [
      [wrong, 'bad_secret'],
      [`gh_AAAAAAAAAAAAAAAA_${'x'.repeat(43)}`, 'unknown_key'],
      ['gh_short_x', 'api_key_malformed'],
    ];
    for (const [k, reason] of cases) {
      const r = await identifyResult(authn.identify, exchange({ authorization: `Bearer ${k}` }));
      assert.equal((r.error as GatehouseError).code, 'GH_CREDENTIALS_INVALID');
      assert.equal((r.ex.meta['auth_failure'] as { reason: string }).reason, reason);
    }
    assert.ok(authn.failureCounts().by_principal[key.slice(3, 19)]! >= 1, 'counted against the key id');
  });

  test('revocation is checked on every cache hit', async (t) => {
    const { authn, deps } = await setup(t, { methods: ['api_key'] });
    const { key, record } = await createApiKey(deps.store, { name: 'svc', scopes: ['readonly'], now: deps.clock.now() });
    await identifyResult(authn.identify, exchange({ 'X-API-Key': key }));
    await revokeApiKey(deps.store, record.id, deps.clock.now());
    // Noticed at the next revocation poll (200 ms): a generous deadline, as a busy machine may delay it.
    const deadline = Date.now() + 10_000;
    let r = await identifyResult(authn.identify, exchange({ 'X-API-Key': key }));
    while (r.error === undefined && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 20));
      r = await identifyResult(authn.identify, exchange({ 'X-API-Key': key }));
    }
    assert.equal((r.ex.meta['auth_failure'] as { code: string }).code, 'GH_TOKEN_REVOKED');
  });

  test("an imported bcrypt $2b$ hash (seed 002's api_key_hash) verifies", async (t) => {
    const { authn, deps } = await setup(t, { methods: ['api_key'] });
    const secret = 'felix_api_key_abc123xyz';
    const rec = await importApiKey(deps.store, { name: 'felix', scopes: ['stream:read'], hash: bcrypt.hashSync(secret, 4).replace(/^\$2a\$/, '$2b$'), now: deps.clock.now() });
    const ok = await identifyResult(authn.identify, exchange({ 'X-API-Key': `gh_${rec.id}_${secret}` }));
    assert.equal(ok.ex.principal?.id, 'felix');
    const bad = await identifyResult(authn.identify, exchange({ 'X-API-Key': `gh_${rec.id}_felix_api_key_abc123xyZ` }));
    assert.equal((bad.error as GatehouseError).code, 'GH_CREDENTIALS_INVALID');
  });

  test('an expired key is refused', async (t) => {
    const { authn, deps } = await setup(t, { methods: ['api_key'] });
    const { key } = await createApiKey(deps.store, { name: 'svc', scopes: ['readonly'], now: deps.clock.now(), expiresAt: deps.clock.now() + 60_000 });
    assert.equal((await identifyResult(authn.identify, exchange({ 'X-API-Key': key }))).error, undefined);
    deps.clock.advance(61_000);
    const r = await identifyResult(authn.identify, exchange({ 'X-API-Key': key }));
    assert.equal((r.ex.meta['auth_failure'] as { code: string }).code, 'GH_TOKEN_EXPIRED');
  });
});

describe('basic method', () => {
  test('users file (argon2id and bcrypt hashes) and config users; wrong password and unknown user refused alike', async (t) => {
    const dir = tempDir(t);
    writeUsersFile(join(dir, 'users.json'), [
      { name: 'alice', password_hash: await hashSecret('alice password 1'), scopes: ['readonly'], tenant: 'acme' },
      { name: 'bob', password_hash: bcrypt.hashSync('bob password 12', 4), scopes: ['admin'] },
    ]);
    const deps = testDeps(dir);
    const authn = await createAuthenticator(authConfig({ methods: ['basic'], basic: { users: [{ name: 'dev', password: 'dev-only-password' }] } }, {}, dir), deps);
    t.after(() => authn.close());
    const alice = await identifyResult(authn.identify, exchange(basic('alice', 'alice password 1')));
    assert.equal(alice.ex.principal?.id, 'alice');
    assert.equal(alice.ex.principal?.tenant, 'acme');
    assert.equal((await identifyResult(authn.identify, exchange(basic('bob', 'bob password 12')))).ex.principal?.id, 'bob');
    assert.equal((await identifyResult(authn.identify, exchange(basic('dev', 'dev-only-password')))).ex.principal?.id, 'dev');
    for (const [u, p] of [['alice', 'wrong'], ['mallory', 'alice password 1']] as const) {
      const r = await identifyResult(authn.identify, exchange(basic(u, p)));
      const e = r.error as GatehouseError;
      assert.equal(e.code, 'GH_CREDENTIALS_INVALID');
      assert.equal(e.message, 'The credentials are invalid.');
      assert.equal(e.headers?.['WWW-Authenticate'], 'Basic realm="gatehouse", charset="UTF-8"');
    }
    assert.equal(authn.failures.forPrincipal('alice'), 1);
    assert.equal(authn.failures.forPrincipal('mallory'), 1);
  });

  test('a cached login is synchronous; changing the users file drops the cache', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'users.json');
    writeUsersFile(file, [{ name: 'alice', password_hash: await hashSecret('alice password 1'), scopes: [] }]);
    const deps = testDeps(dir);
    const authn = await createAuthenticator(authConfig({ methods: ['basic'] }, {}, dir), deps);
    t.after(() => authn.close());
    await identifyResult(authn.identify, exchange(basic('alice', 'alice password 1')));
    const ex = exchange(basic('alice', 'alice password 1'));
    assert.equal(authn.identify(ex), undefined);
    writeUsersFile(file, [{ name: 'alice', password_hash: await hashSecret('alice password 2'), scopes: [] }]);
    deps.clock.advance(1500);
    const old = await identifyResult(authn.identify, exchange(basic('alice', 'alice password 1')));
    assert.equal((old.error as GatehouseError).code, 'GH_CREDENTIALS_INVALID');
    assert.equal((await identifyResult(authn.identify, exchange(basic('alice', 'alice password 2')))).ex.principal?.id, 'alice');
  });

  test('malformed Basic credentials are refused, not guessed', async (t) => {
    const { authn } = await setup(t, { methods: ['basic'] });
    for (const authorization of ['Basic', 'Basic !!!', `Basic ${Buffer.from('nocolon').toString('base64')}`]) {
      const r = await identifyResult(authn.identify, exchange({ authorization }));
      assert.equal((r.error as GatehouseError).code, 'GH_CREDENTIALS_INVALID', authorization);
    }
  });
});
