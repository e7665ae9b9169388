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
import { upstreamIdentityHeaders, verifyIdentityHeaders } from '../../src/authn/index.js';
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

async function withGateway(route: (upstreamUrl: string) => Record<string, unknown>, fn: (call: (headers?: Record<string, string>) => Promise<number>, seen: () => Record<string, string | string[] | undefined>) => Promise<void>) {
  await withSecretsGateway({ prefix: 'gh-identity-', files: { identity_key: KEY }, routes: (url) => [route(url)] }, async ({ url, token, upstream }) => {
    const call = async (headers: Record<string, string> = {}) => {
      const res = await request(`${url}/svc/x`, { method: 'POST', body: 'x', headers: { authorization: `Bearer ${token}`, ...headers } });
      await res.body.text();
      return res.statusCode;
    };
    await fn(call, () => upstream.requests.at(-1)?.headers ?? {});
  });
}

describe('identity headers', () => {
  test('signed: the upstream verifies subject, tenant, scopes and method; a client\'s forged X-Gatehouse-Subject never arrives', async () => {
    await withGateway((url) => ({ name: 'svc', prefix: '/svc', upstream: url, identity_headers: { sign: 'file:identity_key' } }), async (call, seen) => {
      assert.equal(await call({ 'x-gatehouse-subject': 'admin', 'X-Gatehouse-Scopes': 'admin' }), 200);
      const h = seen();
      // Signed for this route (its name is the default audience): verified as such, refused without it.
      const id = verifyIdentityHeaders(h, Buffer.from(KEY), { method: 'POST', audience: 'svc' });
      assert.throws(() => verifyIdentityHeaders(h, Buffer.from(KEY), { method: 'POST' }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' });
      assert.throws(() => verifyIdentityHeaders(h, Buffer.from(KEY), { method: 'POST', audience: 'other-route' }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' });
      assert.equal(id.subject, 'ci-agent');
      assert.equal(id.tenant, 'acme');
      assert.deepEqual(id.scopes, ['readonly']);
      assert.equal(id.auth_method, 'token');
      assert.equal(h['x-gatehouse-subject'], 'ci-agent', 'one value, the gateway\'s');
      // The signature is bound to the method and the request id: replayed on another, it fails.
      assert.throws(() => verifyIdentityHeaders(h, Buffer.from(KEY), { method: 'DELETE', audience: 'svc' }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' });
      assert.throws(() => verifyIdentityHeaders({ ...h, 'x-request-id': 'another-request' }, Buffer.from(KEY), { method: 'POST', audience: 'svc' }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' });
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
    for (const [k, v] of upstreamIdentityHeaders(principal, { id: 'req-1', method: 'GET' }, { prefix: 'X-Gatehouse-', key: Buffer.from(KEY), nowMs: NOW })) h[k] = v;
    return h;
  };

  test('round trip: any character in an id survives percent-encoding; every field altered fails', () => {
    const id = verifyIdentityHeaders(signed(), Buffer.from(KEY), { method: 'get', nowMs: NOW });
    assert.equal(id.subject, 'user:ann ü/x');
    assert.deepEqual(id.scopes, ['container:read', 'network:diag']);
    for (const field of ['subject', 'principal-type', 'auth-method', 'tenant', 'scopes']) {
      const h = { ...signed(), [`x-gatehouse-${field}`]: 'forged' };
      assert.throws(() => verifyIdentityHeaders(h, Buffer.from(KEY), { method: 'GET', nowMs: NOW }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' }, field);
    }
    const noTenant = signed();
    delete noTenant['x-gatehouse-tenant'];
    assert.throws(() => verifyIdentityHeaders(noTenant, Buffer.from(KEY), { method: 'GET', nowMs: NOW }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' }, 'a tenant dropped');
  });

  test('another key, an old or future timestamp, a duplicated header or a malformed signature are refused', () => {
    const h = signed();
    const refuse = (headers: Record<string, string | string[]>, opts: { nowMs?: number } = {}, key = KEY) =>
      assert.throws(() => verifyIdentityHeaders(headers, Buffer.from(key), { method: 'GET', nowMs: opts.nowMs ?? NOW }), { code: 'GH_IDENTITY_SIGNATURE_INVALID' });
    refuse(h, {}, `${KEY}x`);
    refuse(h, { nowMs: NOW + 301_000 });
    refuse(h, { nowMs: NOW - 301_000 });
    refuse({ ...h, 'x-gatehouse-subject': [h['x-gatehouse-subject'] as string, 'admin'] });
    refuse({ ...h, 'x-gatehouse-identity-signature': 't=1,v1=short' });
    const { ['x-gatehouse-identity-signature']: _sig, ...unsigned } = h;
    refuse(unsigned);
    assert.equal(verifyIdentityHeaders(h, Buffer.from(KEY), { method: 'GET', nowMs: NOW + 299_000 }).subject, 'user:ann ü/x');
  });
});
