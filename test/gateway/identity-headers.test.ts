/**
 * Identity headers (routes[].identity_headers, docs/gateway.md § Identity headers): the upstream learns who the
 * gateway authenticated, signed so it can verify the claim with verifyIdentityHeaders; a client cannot forge them.
 * A real gateway, a real upstream on loopback that verifies what it receives.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { identitySignatureHeader, upstreamIdentityHeaders, verifyIdentityHeaders } from '../../src/authn/index.js';
import { validateConfig, type GatehouseConfig } from '../../src/config/index.js';
import type { Principal } from '../../src/core/types.js';
import { startGateway } from '../../src/gateway/start.js';
import { memoryLogger } from '../helpers/gateway.js';
import { withSecretsGateway } from '../helpers/secrets-gateway.js';

const KEY = 'identity-signing-key-0123456789abcdef';

function config(dir: string, route: Record<string, unknown>): GatehouseConfig {
  return validateConfig({
    state_dir: join(dir, 'state'),
    server: { tls: { enabled: false } },
    routes: [route],
    auth: { methods: ['token'] },
    authz: { routes: [{ path: '/*', scopes: ['system:read'] }] },
    secrets: { file_dir: dir },
  }, { env: {} });
}

async function withGateway(
  route: (upstreamUrl: string) => Record<string, unknown>,
  fn: (call: (headers?: Record<string, string>, path?: string) => Promise<number>, seen: () => Record<string, string | string[] | undefined>, target: () => string) => Promise<void>,
) {
  await withSecretsGateway({ prefix: 'gh-identity-', files: { identity_key: KEY }, routes: (url) => [route(url)] }, async ({ url, token, upstream }) => {
    const call = async (headers: Record<string, string> = {}, path = '/svc/x') => {
      const res = await request(`${url}${path}`, { method: 'POST', body: 'x', headers: { authorization: `Bearer ${token}`, ...headers } });
      await res.body.text();
      return res.statusCode;
    };
    await fn(call, () => upstream.requests.at(-1)?.headers ?? {}, () => upstream.requests.at(-1)?.url ?? '');
  });
}

describe('identity headers', () => {
  test('signed: the upstream verifies subject, tenant, scopes and method; a client\'s forged X-Gatehouse-Subject never arrives', async () => {
    await withGateway((url) => ({ name: 'svc', prefix: '/svc', upstream: url, identity_headers: { sign: 'file:identity_key' } }), async (call, seen, target) => {
      assert.equal(await call({ 'x-gatehouse-subject': 'admin', 'X-Gatehouse-Scopes': 'admin' }), 200);
      const h = seen();
      assert.equal(target(), '/x', 'strip_prefix (the default) removed /svc');
      // Signed for this route (its name is the default audience): verified as such, refused without it.
      const id = verifyIdentityHeaders(h, Buffer.from(KEY), { method: 'POST', target: '/x', audience: 'svc' });
      assert.throws(() => verifyIdentityHeaders(h, Buffer.from(KEY), { method: 'POST', target: '/x' }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' });
      assert.throws(() => verifyIdentityHeaders(h, Buffer.from(KEY), { method: 'POST', target: '/x', audience: 'other-route' }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' });
      assert.equal(id.subject, 'ci-agent');
      assert.equal(id.tenant, 'acme');
      assert.deepEqual(id.scopes, ['readonly']);
      assert.equal(id.auth_method, 'token');
      assert.equal(h['x-gatehouse-subject'], 'ci-agent', 'one value, the gateway\'s');
      // The signature is bound to the method, the request id and the target: replayed on another, it fails.
      assert.throws(() => verifyIdentityHeaders(h, Buffer.from(KEY), { method: 'DELETE', target: '/x', audience: 'svc' }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' });
      assert.throws(() => verifyIdentityHeaders({ ...h, 'x-request-id': 'another-request' }, Buffer.from(KEY), { method: 'POST', target: '/x', audience: 'svc' }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' });
      assert.throws(() => verifyIdentityHeaders(h, Buffer.from(KEY), { method: 'POST', target: '/admin/delete-all', audience: 'svc' }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' });
    });
  });

  test('signed over the target the upstream receives: the prefix stripped, the upstream\'s base path and the query included', async () => {
    await withGateway((url) => ({ name: 'svc', prefix: '/svc', upstream: `${url}/base`, identity_headers: { sign: 'file:identity_key' } }), async (call, seen, target) => {
      assert.equal(await call({}, '/svc/items/7?fields=a%20b&x=1'), 200);
      const h = seen();
      // What an upstream passes is its own req.url: the gateway signed exactly that.
      assert.equal(target(), '/base/items/7?fields=a%20b&x=1');
      assert.equal(verifyIdentityHeaders(h, Buffer.from(KEY), { method: 'POST', target: target(), audience: 'svc' }).subject, 'ci-agent');
      for (const other of ['/svc/items/7?fields=a%20b&x=1', '/base/items/7', '/base/items/7?fields=a%20b&x=2', '/base/items/8?fields=a%20b&x=1']) {
        assert.throws(() => verifyIdentityHeaders(h, Buffer.from(KEY), { method: 'POST', target: other, audience: 'svc' }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' }, other);
      }
    });
  });

  test('a custom prefix: the client\'s own X-Auth-Subject is dropped, the gateway\'s sent; unsigned without `sign`', async () => {
    await withGateway((url) => ({ name: 'svc', prefix: '/svc', upstream: url, identity_headers: { prefix: 'X-Auth-' } }), async (call, seen) => {
      assert.equal(await call({ 'x-auth-subject': 'admin', 'x-auth-tenant': 'other-tenant' }), 200);
      const h = seen();
      assert.equal(h['x-auth-subject'], 'ci-agent');
      assert.equal(h['x-auth-tenant'], 'acme');
      assert.equal(h['x-auth-identity-signature'], undefined);
    });
  });

  test('a signing key shorter than 32 bytes stops the start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-identity-'));
    try {
      writeFileSync(join(dir, 'short'), 'too-short-key');
      const cfg = config(dir, { name: 'svc', prefix: '/svc', upstream: 'http://127.0.0.1:9', identity_headers: { sign: 'file:short' } });
      await assert.rejects(startGateway(cfg, { listen: '127.0.0.1:0', logger: memoryLogger() }), { code: 'GH_SECRET_INVALID' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('verifyIdentityHeaders', () => {
  const principal: Principal = { id: 'user:ann ü/x', type: 'user', method: 'jwt', scopes: ['container:read', 'network:diag'], tenant: 'acme', network: { peer_ip: '127.0.0.1', tls: false }, attributes: {} } as unknown as Principal;
  const NOW = Date.UTC(2026, 5, 1);
  const signed = (): Record<string, string> => {
    const h: Record<string, string> = { 'x-request-id': 'req-1' };
    for (const [k, v] of upstreamIdentityHeaders(principal, { prefix: 'X-Gatehouse-' })) h[k] = v;
    const [name, value] = identitySignatureHeader(principal, { id: 'req-1', method: 'get', target: '/r?q=1' }, { prefix: 'X-Gatehouse-', key: Buffer.from(KEY), nowMs: NOW });
    h[name] = value;
    return h;
  };

  test('round trip: any character in an id survives percent-encoding; every field altered fails', () => {
    const id = verifyIdentityHeaders(signed(), Buffer.from(KEY), { method: 'get', target: '/r?q=1', nowMs: NOW });
    assert.equal(id.subject, 'user:ann ü/x');
    assert.deepEqual(id.scopes, ['container:read', 'network:diag']);
    for (const field of ['subject', 'principal-type', 'auth-method', 'tenant', 'scopes']) {
      const h = { ...signed(), [`x-gatehouse-${field}`]: 'forged' };
      assert.throws(() => verifyIdentityHeaders(h, Buffer.from(KEY), { method: 'GET', target: '/r?q=1', nowMs: NOW }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' }, field);
    }
    const noTenant = signed();
    delete noTenant['x-gatehouse-tenant'];
    assert.throws(() => verifyIdentityHeaders(noTenant, Buffer.from(KEY), { method: 'GET', target: '/r?q=1', nowMs: NOW }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' }, 'a tenant dropped');
  });

  test('another key, an old or future timestamp, a duplicated header or a malformed signature are refused', () => {
    const h = signed();
    const refuse = (headers: Record<string, string | string[]>, opts: { nowMs?: number } = {}, key = KEY) =>
      assert.throws(() => verifyIdentityHeaders(headers, Buffer.from(key), { method: 'GET', target: '/r?q=1', nowMs: opts.nowMs ?? NOW }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' });
    refuse(h, {}, `${KEY}x`);
    refuse(h, { nowMs: NOW + 301_000 });
    refuse(h, { nowMs: NOW - 301_000 });
    refuse({ ...h, 'x-gatehouse-subject': [h['x-gatehouse-subject'] as string, 'admin'] });
    refuse({ ...h, 'x-gatehouse-identity-signature': 't=1,v2=short' });
    // A v1 signature (it bound no target) is refused by name, whatever its MAC.
    const v1 = (h['x-gatehouse-identity-signature'] as string).replace(',v2=', ',v1=');
    assert.throws(() => verifyIdentityHeaders({ ...h, 'x-gatehouse-identity-signature': v1 }, Buffer.from(KEY), { method: 'GET', target: '/r?q=1', nowMs: NOW }), (e: Error & { code?: string; detail?: string }) => e.code === 'GH_IDENTITY_SIGNATURE_INVALID' && /v1/.test(e.detail ?? ''));
    const { ['x-gatehouse-identity-signature']: _sig, ...unsigned } = h;
    refuse(unsigned);
    assert.equal(verifyIdentityHeaders(h, Buffer.from(KEY), { method: 'GET', target: '/r?q=1', nowMs: NOW + 299_000 }).subject, 'user:ann ü/x');
  });

  test('the target is required on both sides: a verifier that forgets it gets a TypeError, not a pass', () => {
    const h = signed();
    assert.throws(() => verifyIdentityHeaders(h, Buffer.from(KEY), { method: 'GET', nowMs: NOW } as unknown as Parameters<typeof verifyIdentityHeaders>[2]), TypeError);
    assert.throws(() => identitySignatureHeader(principal, { id: 'r', method: 'GET', target: '' }, { prefix: 'X-Gatehouse-', key: Buffer.from(KEY), nowMs: NOW }), TypeError);
  });
});
