/** HTTP policy fixtures shared by the HTTP/RBAC tests and the tenant-escape attacks. */
import { createPolicyEngine } from '../../src/authz/index.js';
import { GatehouseError } from '../../src/core/errors.js';
import type { Principal } from '../../src/core/types.js';
import { FIXTURES, makeConfig, makeDeps, makeExchange } from './helpers.js';

export const HTTP_ROUTES = [
  { name: 'streams', path: '/t/:tenant/ns/:namespace/streams/:stream', resource: 'stream:{stream}', actions: { POST: 'publish', GET: 'subscribe' } },
  { name: 'caches', path: '/t/:tenant/ns/:namespace/caches/:cache', resource: 'cache:{cache}', actions: { GET: 'cache_read', PUT: 'cache_write' } },
  { name: 'ns-admin', path: '/t/:tenant/ns/:namespace/admin/*', action: 'admin' },
  { name: 'status', path: '/status', methods: ['GET'], scopes: ['system:read'] },
  { name: 'health', path: '/health', any_authenticated: true },
];

export async function httpEngine(authz: Record<string, unknown> = {}, approval: Record<string, unknown> = {}) {
  const cfg = makeConfig({
    authz: { acl_files: [`${FIXTURES}seed002-acl.yaml`, `${FIXTURES}multi-tenant.yaml`], routes: HTTP_ROUTES as never, ...authz },
    approval: approval as never,
  });
  return createPolicyEngine(cfg, makeDeps());
}

export async function call(e: Awaited<ReturnType<typeof httpEngine>>, method: string, path: string, p: Principal | undefined) {
  const ex = makeExchange({ kind: 'http', method, path, principal: p });
  try {
    await e.classify(ex);
    await e.authorize(ex);
    await e.approve(ex);
    return { ex, err: undefined };
  } catch (err) {
    if (!(err instanceof GatehouseError)) throw err;
    return { ex, err };
  }
}

