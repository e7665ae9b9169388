/**
 * Data residency on the transit API. initech's data must stay in us-east-1; this gateway runs in eu-central-1, so a
 * token bound to initech is refused. A token bound to no tenant names the tenant in the body (transit.ts tenantOf):
 * residency was judged on the principal's tenant alone (none), so the same initech data was encrypted here anyway.
 * Now it is judged on the tenant the call acts for.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { openTokenService } from '../../src/authn/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RESIDENCY } from '../authz/residency-fixtures.js';

let gw: TestGateway;
let call: (tokenTenant: string | undefined, bodyTenant: string | undefined) => Promise<{ status: number; code: string | undefined }>;

before(async () => {
  process.env['GH_TRANSIT_RESIDENCY_KEY'] = randomBytes(32).toString('hex');
  gw = await startTestGateway({
    auth: { methods: ['token'] },
    authz: { tenants: ['acme', 'globex', 'initech', 'umbrella'], routes: [{ path: '/*', scopes: ['system:read'] }] },
    residency: RESIDENCY,
    encryption: { enabled: true, key_env: 'GH_TRANSIT_RESIDENCY_KEY', key_id: 'k', transit: { enabled: true } },
    routes: [],
  });
  const svc = openTokenService(gw.config, { stateDir: gw.config.state_dir });
  call = async (tokenTenant, bodyTenant) => {
    const { token } = await svc.mint({ agent: 'crypto', scopes: 'transit:encrypt transit:decrypt', ...(tokenTenant ? { tenant: tokenTenant } : {}), ttlMs: 3_600_000 });
    const res = await request(`${gw.url}/_gatehouse/v1/encrypt/default`, {
      method: 'POST',
      body: JSON.stringify({ plaintext: 'QUFBQQ==', ...(bodyTenant ? { tenant: bodyTenant } : {}) }),
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    });
    const body = (await res.body.json()) as { error?: { code?: string } };
    return { status: res.statusCode, code: body.error?.code };
  };
});
after(async () => {
  await gw.stop();
  delete process.env['GH_TRANSIT_RESIDENCY_KEY'];
});

test('a token bound to a tenant whose regions exclude this gateway is refused', async () => {
  assert.deepEqual(await call('initech', undefined), { status: 403, code: 'GH_FORBIDDEN' });
});

test('a token bound to no tenant cannot name that tenant in the body to get its data processed here', async () => {
  assert.deepEqual(await call(undefined, 'initech'), { status: 403, code: 'GH_FORBIDDEN' });
});

test('tenants allowed here still encrypt, named by the token or by the body', async () => {
  assert.equal((await call('acme', undefined)).status, 200);
  assert.equal((await call(undefined, 'acme')).status, 200);
});
