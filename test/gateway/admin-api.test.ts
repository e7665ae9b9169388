/** The admin API through the gateway: its query string reaches the handler (filters are applied, bad ones refused). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { openTokenService } from '../../src/authn/index.js';
import { startTestGateway } from '../helpers/gateway.js';

test('GET /_gatehouse/approvals?status=… is filtered by the handler: an unknown status is a 400, not the whole list', async () => {
  const gw = await startTestGateway({ routes: [], auth: { methods: ['token'] } });
  try {
    const { token } = await openTokenService(gw.config, { stateDir: gw.stateDir }).mint({ agent: 'root', scopes: ['admin'], ttlMs: 3_600_000 });
    const headers = { authorization: `Bearer ${token}` };
    const bad = await request(`${gw.url}/_gatehouse/approvals?status=bogus`, { headers });
    const body = (await bad.body.json()) as { error?: { code: string } };
    assert.equal(bad.statusCode, 400, JSON.stringify(body));
    assert.equal(body.error?.code, 'GH_BAD_REQUEST');
    const ok = await request(`${gw.url}/_gatehouse/approvals?status=pending&limit=5`, { headers });
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(((await ok.body.json()) as { approvals: unknown[] }).approvals, []);
  } finally {
    await gw.stop();
  }
});
