/**
 * A rate limit that names no route applies to "every route" (docs/limits.md) and bounds a principal's requests; the
 * admin API (approvals, transit encrypt/decrypt) goes through identify — lockout included — but skipped the throttle
 * stage, so a principal over its limit kept calling it without end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startRecordingUpstream, startTestGateway } from '../helpers/gateway.js';

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

test('a principal over its rate limit is refused on the admin API as on any route', async () => {
  const upstream = await startRecordingUpstream();
  const gw = await startTestGateway({
    routes: [{ name: 'api', prefix: '/api', upstream: upstream.url, auth_required: true }],
    auth: { methods: ['basic'], basic: { users: [{ name: 'alice', password: 'alice-correct-password', scopes: ['readonly'] }] } },
    authz: { routes: [{ path: '/api/*', scopes: ['system:read'] }] },
    limits: { rates: [{ name: 'per-principal', per: 'principal', limit: '1/min', burst: 1 }] },
  });
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await request(`${gw.url}/_gatehouse/approvals`, { headers: { authorization: basic('alice', 'alice-correct-password') } });
      await res.body.text();
      statuses.push(res.statusCode);
    }
    assert.notEqual(statuses[0], 429);
    assert.deepEqual(statuses.slice(1), [429, 429], `admin API statuses: ${statuses.join(',')}`);
  } finally {
    await gw.stop();
    await upstream.close();
  }
});
