import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { GatehouseError } from '../../src/core/errors.js';
import { createAuthenticator, type Authenticator } from '../../src/authn/index.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps, type TestDeps } from './helpers.js';

const STATIC = 'static-token-0123456789abcdef';

async function setup(t: { after(fn: () => unknown): void }, auth: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<{ authn: Authenticator; deps: TestDeps }> {
  const dir = tempDir(t);
  const deps = testDeps(dir);
  const authn = await createAuthenticator(authConfig(auth, extra, dir), deps);
  t.after(() => authn.close());
  return { authn, deps };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('identify: token method', () => {
  test('a valid token sets the principal with the network identity, jti and scopes', async (t) => {
    const { authn } = await setup(t, { methods: ['token'] });
    const { token, claims } = await authn.tokens!.mint({ agent: 'ops-automation', scopes: 'admin', ttlMs: 3_600_000, tenant: 'acme' });
    const { ex, error } = await identifyResult(authn.identify, exchange(bearer(token)));
    assert.equal(error, undefined);
    assert.equal(ex.principal?.id, 'ops-automation');
    assert.equal(ex.principal?.type, 'agent');
    assert.equal(ex.principal?.method, 'token');
    assert.deepEqual(ex.principal?.scopes, ['admin']);
    assert.equal(ex.principal?.tenant, 'acme');
    assert.equal(ex.principal?.credential_id, claims.jti);
    assert.equal(ex.principal?.network, ex.network);
  });

  test('identify returns synchronously (no Promise) for a token, first sight and cached', async (t) => {
    const { authn } = await setup(t, { methods: ['token'] });
    const { token } = await authn.tokens!.mint({ agent: 'a', scopes: 'readonly', ttlMs: 3_600_000 });
    const ex1 = exchange(bearer(token));
    assert.equal(authn.identify(ex1), undefined);
    assert.equal(ex1.principal?.id, 'a');
    const ex2 = exchange(bearer(token));
    assert.equal(authn.identify(ex2), undefined);
    assert.equal(ex2.principal?.id, 'a');
  });

  test('no credentials: 401 GH_AUTH_REQUIRED with a bare Bearer challenge (RFC 6750 §3.1)', async (t) => {
    const { authn } = await setup(t, { methods: ['token'] });
    const { error } = await identifyResult(authn.identify, exchange());
    const e = error as GatehouseError;
    assert.equal(e.code, 'GH_AUTH_REQUIRED');
    assert.equal(e.status, 401);
    assert.equal(e.headers?.['WWW-Authenticate'], 'Bearer realm="gatehouse"');
  });

  test('an expired token: generic 401 invalid_token to the client, precise reason in detail and meta, counted', async (t) => {
    const { authn, deps } = await setup(t, { methods: ['token'] });
    const { token } = await authn.tokens!.mint({ agent: 'a', scopes: 'readonly', ttlMs: 3_600_000 });
    deps.clock.advance(2 * 3_600_000);
    const { ex, error } = await identifyResult(authn.identify, exchange(bearer(token)));
    const e = error as GatehouseError;
    assert.equal(e.code, 'GH_TOKEN_INVALID');
    assert.equal(e.message, 'The token is invalid.');
    assert.equal(e.headers?.['WWW-Authenticate'], 'Bearer realm="gatehouse", error="invalid_token"');
    assert.equal(e.detail, 'token:GH_TOKEN_EXPIRED:expired');
    assert.deepEqual(ex.meta['auth_failure'], { method: 'token', code: 'GH_TOKEN_EXPIRED', reason: 'expired' });
    assert.ok(!JSON.stringify(e).includes(token) && !String(e.detail).includes(token));
    assert.equal(authn.failureCounts().by_ip['203.0.113.5'], 1);
    assert.equal(authn.failures.forIp('203.0.113.5'), 1);
  });

  test('a recognised but invalid credential is refused, never passed to the next method', async (t) => {
    const { authn } = await setup(t, { methods: ['token', 'static', 'none'], static: { tokens: [{ token: 'gh1.looks-like-a-token-but-static', principal: 'svc' }] } });
    const { error } = await identifyResult(authn.identify, exchange(bearer('gh1.looks-like-a-token-but-static')));
    assert.equal((error as GatehouseError).code, 'GH_TOKEN_INVALID');
  });

  test('order decides: the first method that recognises the credential wins', async (t) => {
    const { authn } = await setup(t, { methods: ['static', 'token'], static: { tokens: [{ token: 'gh1.looks-like-a-token-but-static', principal: 'svc', scopes: ['readonly'] }] } });
    const { ex, error } = await identifyResult(authn.identify, exchange(bearer('gh1.looks-like-a-token-but-static')));
    assert.equal(error, undefined);
    assert.equal(ex.principal?.method, 'static');
  });
});

describe('identify: static, header, none', () => {
  test('static bearer tokens map to their principal and scopes; a wrong one is refused', async (t) => {
    process.env['GH_TEST_STATIC_TOKEN'] = 'from-env-0123456789abcdef';
    t.after(() => delete process.env['GH_TEST_STATIC_TOKEN']);
    const { authn } = await setup(t, {
      methods: ['static'],
      static: { tokens: [{ token: STATIC, principal: 'ci', scopes: ['container:read'], tenant: 'acme' }, { token_env: 'GH_TEST_STATIC_TOKEN', principal: 'envsvc' }] },
    });
    const ok = await identifyResult(authn.identify, exchange(bearer(STATIC)));
    assert.equal(ok.ex.principal?.id, 'ci');
    assert.deepEqual(ok.ex.principal?.scopes, ['container:read']);
    assert.equal(ok.ex.principal?.tenant, 'acme');
    assert.equal((await identifyResult(authn.identify, exchange(bearer('from-env-0123456789abcdef')))).ex.principal?.id, 'envsvc');
    const bad = await identifyResult(authn.identify, exchange(bearer('static-token-0123456789abcdeX')));
    assert.equal((bad.error as GatehouseError).code, 'GH_TOKEN_INVALID');
  });

  test("seed 000's custom headers: X-API-Key and X-Tenant-ID must both match", async (t) => {
    const { authn } = await setup(t, {
      methods: ['header'],
      header: { headers: { 'X-API-Key': 'your-api-key-0123456789', 'X-Tenant-ID': 'your-tenant-id' }, principal: 'tailpost-agent', scopes: ['logs:write'], tenant: 'your-tenant-id' },
    });
    const ok = await identifyResult(authn.identify, exchange({ 'X-API-Key': 'your-api-key-0123456789', 'X-Tenant-ID': 'your-tenant-id' }));
    assert.equal(ok.ex.principal?.id, 'tailpost-agent');
    assert.equal(ok.ex.principal?.method, 'header');
    for (const headers of [{ 'X-API-Key': 'your-api-key-0123456789' } as Record<string, string>, { 'X-API-Key': 'wrong', 'X-Tenant-ID': 'your-tenant-id' }, { 'X-API-Key': 'your-api-key-0123456789', 'X-Tenant-ID': 'other' }]) {
      const r = await identifyResult(authn.identify, exchange(headers));
      assert.equal((r.error as GatehouseError).code, 'GH_CREDENTIALS_INVALID', JSON.stringify(Object.keys(headers)));
    }
  });

  test('trusted proxy identity headers fill the tailscale identity only from trusted_proxies', async (t) => {
    const { authn } = await setup(
      t,
      {
        methods: ['token'],
        header: { trusted_identity: { enabled: true, node_header: 'X-Tailscale-Node', tags_header: 'X-Tailscale-Tags', tailnet: 'example.ts.net' } },
      },
      { server: { trusted_proxies: ['127.0.0.1'] } },
    );
    const { token } = await authn.tokens!.mint({ agent: 'ops-automation', scopes: 'admin', ttlMs: 3_600_000 });
    const headers = { ...bearer(token), 'Tailscale-User-Login': 'alice@example.com', 'Tailscale-User-Name': 'Alice', 'X-Tailscale-Node': 'dev1', 'X-Tailscale-Tags': 'tag:systemmanager-client,bogus' };
    const fromProxy = await identifyResult(authn.identify, exchange(headers, { peer_ip: '127.0.0.1' }));
    assert.deepEqual(fromProxy.ex.principal?.network.tailscale, {
      tailscale_user: 'alice@example.com', tailscale_name: 'Alice', tailscale_node: 'dev1', tailscale_tags: ['tag:systemmanager-client'], tailnet: 'example.ts.net',
    });
    const spoofed = await identifyResult(authn.identify, exchange(headers, { peer_ip: '198.51.100.7' }));
    assert.equal(spoofed.ex.principal?.id, 'ops-automation');
    assert.equal(spoofed.ex.principal?.network.tailscale, undefined);
  });

  test('allowed_tags (seed 001 layer 1): a valid token is refused unless the trusted proxy names an allowed tag; spoofed tags do not count', async (t) => {
    const { authn } = await setup(
      t,
      { methods: ['token'], header: { trusted_identity: { enabled: true, tags_header: 'X-Tailscale-Tags', allowed_tags: ['tag:systemmanager-client'] } } },
      { server: { trusted_proxies: ['127.0.0.1'] } },
    );
    const { token } = await authn.tokens!.mint({ agent: 'ops-automation', scopes: 'admin', ttlMs: 3_600_000 });
    const via = (tags: string | undefined, peer = '127.0.0.1') =>
      identifyResult(authn.identify, exchange({ ...bearer(token), 'Tailscale-User-Login': 'alice@example.com', ...(tags === undefined ? {} : { 'X-Tailscale-Tags': tags }) }, { peer_ip: peer, source_ip: peer }));
    assert.equal((await via('tag:laptop,tag:systemmanager-client')).ex.principal?.id, 'ops-automation');
    for (const [tags, peer, reason] of [
      ['tag:laptop', '127.0.0.1', 'tag_not_allowed'],
      [undefined, '127.0.0.1', 'tag_not_allowed'],
      ['tag:systemmanager-client', '198.51.100.7', 'no_trusted_identity'],
      ['tag:systemmanager-clientX', '127.0.0.1', 'tag_not_allowed'],
    ] as const) {
      const { ex, error } = await via(tags, peer);
      const e = error as GatehouseError;
      assert.equal(e?.code, 'GH_NETWORK_NOT_ALLOWED', `${String(tags)} from ${peer}`);
      assert.equal(e.status, 403);
      assert.equal(ex.principal, undefined);
      assert.equal(ex.meta['network_refused'], reason);
    }
    // Before the credential is read: a malformed one from an untagged node is the same 403, and no failure is counted.
    const garbled = await identifyResult(authn.identify, exchange({ authorization: 'Basic !!!' }, { peer_ip: '198.51.100.7', source_ip: '198.51.100.7' }));
    assert.equal((garbled.error as GatehouseError)?.code, 'GH_NETWORK_NOT_ALLOWED');
    const counts = authn.failureCounts();
    assert.deepEqual([Object.keys(counts.by_ip), Object.keys(counts.by_principal)], [[], []], 'a refused node was counted as an authentication failure');
    // Public routes too: layer 1 is about where the request comes from, not what it carries.
    const anon = await identifyResult(authn.identifyOptional, exchange({}, { peer_ip: '198.51.100.7', source_ip: '198.51.100.7' }));
    assert.equal((anon.error as GatehouseError)?.code, 'GH_NETWORK_NOT_ALLOWED');
  });

  test('allowed_tags without tags_header, or without trusted_proxies, is a configuration error', async (t) => {
    await assert.rejects(setup(t, { methods: ['token'], header: { trusted_identity: { enabled: true, allowed_tags: ['tag:a'] } } }, { server: { trusted_proxies: ['127.0.0.1'] } }), /allowed_tags needs enabled: true and tags_header/);
    await assert.rejects(setup(t, { methods: ['token'], header: { trusted_identity: { enabled: true, tags_header: 'X-Tailscale-Tags', allowed_tags: ['tag:a'] } } }), { code: 'GH_CONFIG_INVALID' });
    await assert.rejects(setup(t, { methods: ['token'], header: { trusted_identity: { enabled: true, tags_header: 'X-T', allowed_tags: ['systemmanager'] } } }, { server: { trusted_proxies: ['127.0.0.1'] } }), /tag:NAME/);
  });

  test('trusted proxy identity alone authenticates only when trusted_identity.authenticate is on', async (t) => {
    const { authn } = await setup(
      t,
      { methods: ['header'], header: { trusted_identity: { enabled: true, authenticate: true, scopes: ['readonly'] } } },
      { server: { trusted_proxies: ['10.0.0.0/8'] } },
    );
    const ok = await identifyResult(authn.identify, exchange({ 'Tailscale-User-Login': 'alice@example.com' }, { peer_ip: '10.1.2.3' }));
    assert.equal(ok.ex.principal?.id, 'alice@example.com');
    assert.deepEqual(ok.ex.principal?.scopes, ['readonly']);
    const spoof = await identifyResult(authn.identify, exchange({ 'Tailscale-User-Login': 'alice@example.com' }, { peer_ip: '192.0.2.1' }));
    assert.equal((spoof.error as GatehouseError).code, 'GH_AUTH_REQUIRED');
  });

  test('an identity header sent twice (a proxy that appends to what the client sent) is not believed', async (t) => {
    const { authn } = await setup(
      t,
      { methods: ['header'], header: { trusted_identity: { enabled: true, authenticate: true, scopes: ['readonly'] } } },
      { server: { trusted_proxies: ['10.0.0.0/8'] } },
    );
    // Node joins the two lines: "mallory@example.com, alice@example.com" would otherwise pass as one user name.
    const twice = await identifyResult(authn.identify, exchange({ 'Tailscale-User-Login': ['mallory@example.com', 'alice@example.com'] }, { peer_ip: '10.1.2.3' }));
    assert.equal((twice.error as GatehouseError).code, 'GH_AUTH_REQUIRED');
    assert.equal(twice.ex.network.tailscale, undefined);
    const nameTwice = await identifyResult(authn.identify, exchange({ 'Tailscale-User-Login': 'alice@example.com', 'Tailscale-User-Name': ['A', 'B'] }, { peer_ip: '10.1.2.3' }));
    assert.equal((nameTwice.error as GatehouseError).code, 'GH_AUTH_REQUIRED');
  });

  test('none admits credential-less requests as anonymous but still refuses unrecognised credentials', async (t) => {
    const { authn } = await setup(t, { methods: ['token', 'none'], none: { scopes: ['readonly'] } });
    const anon = await identifyResult(authn.identify, exchange());
    assert.equal(anon.ex.principal?.type, 'anonymous');
    assert.deepEqual(anon.ex.principal?.scopes, ['readonly']);
    const junk = await identifyResult(authn.identify, exchange(bearer('not-a-token')));
    assert.equal((junk.error as GatehouseError).code, 'GH_TOKEN_INVALID');
  });

  test('identifyOptional (public routes) admits a request without credentials as anonymous, without throwing, and still refuses a bad one', async (t) => {
    const { authn } = await setup(t, { methods: ['token'] });
    const ex = exchange();
    assert.equal(authn.identifyOptional(ex), undefined); // synchronous: no promise, no exception
    assert.equal(ex.principal?.type, 'anonymous');
    assert.deepEqual(ex.principal?.scopes, []);
    const strict = await identifyResult(authn.identify, exchange());
    assert.equal((strict.error as GatehouseError).code, 'GH_AUTH_REQUIRED');
    const junk = await identifyResult(authn.identifyOptional, exchange(bearer('not-a-token')));
    assert.equal((junk.error as GatehouseError).code, 'GH_TOKEN_INVALID');
    assert.equal(junk.ex.principal, undefined);
  });

  test('production refuses none and plaintext passwords at creation', async (t) => {
    const dir = tempDir(t);
    const cfg = authConfig({ methods: ['token', 'none'] }, {}, dir);
    cfg.profile = 'production';
    await assert.rejects(createAuthenticator(cfg, testDeps(dir)), (e: GatehouseError) => e.code === 'GH_CONFIG_PRODUCTION_REFUSED' && /none/.test(e.message));
  });

  test('an unsupported Authorization scheme is refused', async (t) => {
    const { authn } = await setup(t, { methods: ['token'] });
    const r = await identifyResult(authn.identify, exchange({ authorization: 'Digest username="x"' }));
    assert.equal((r.error as GatehouseError).code, 'GH_CREDENTIALS_INVALID');
  });
});

describe('secrets reach the redactor', () => {
  test('minted and verified tokens, static tokens and header values are registered as known secrets', async (t) => {
    const { redactText } = await import('../../src/redact/index.js');
    const { authn } = await setup(t, {
      methods: ['token', 'static', 'header'],
      static: { tokens: [{ token: 'static-registered-0123456789', principal: 's' }] },
      header: { headers: { 'X-Custom-Key': 'header-registered-0123456789' } },
    });
    const { token } = await authn.tokens!.mint({ agent: 'a', scopes: 'readonly', ttlMs: 60_000 });
    for (const secret of [token, 'static-registered-0123456789', 'header-registered-0123456789']) {
      const line = `oops: ${secret} in a log line`;
      assert.ok(!redactText(line).includes(secret), 'secret survived redaction');
    }
  });
});

describe('usage analytics', () => {
  test('last use per token is written to the store in a batch (on flush/close), not per request', async (t) => {
    const dir = tempDir(t);
    const deps = testDeps(dir);
    const authn = await createAuthenticator(authConfig({ methods: ['token'], usage_flush: '1h' }, {}, dir), deps);
    const { token, claims } = await authn.tokens!.mint({ agent: 'a', scopes: 'readonly', ttlMs: 3_600_000 });
    for (let i = 0; i < 5; i++) await identifyResult(authn.identify, exchange(bearer(token)));
    assert.equal(await deps.store.get('authn.usage', claims.jti), undefined, 'nothing written per request');
    await authn.close();
    assert.deepEqual(await deps.store.get('authn.usage', claims.jti), { last_used: deps.clock.now(), count: 5 });
  });
});
