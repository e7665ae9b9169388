/**
 * Getting around the lockout after failed authentications (docs/limits.md "Lockout"): a forged X-Forwarded-For from a
 * client the gateway does not trust, a correct password sent while the user is locked, and an attacker cycling
 * through the addresses of one IPv6 /64 behind a trusted proxy. Real gateways on loopback, real HTTP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { startRecordingUpstream, startTestGateway } from '../helpers/gateway.js';

type Json = Record<string, unknown>;

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const USERS = [
  { name: 'alice', password: 'alice-correct-password', scopes: ['readonly'] },
  { name: 'bob', password: 'bob-correct-password', scopes: ['readonly'] },
];

async function get(url: string, headers: Record<string, string>): Promise<{ status: number; code: string | undefined; requestId: string }> {
  const res = await request(url, { headers });
  const text = await res.body.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return { status: res.statusCode, code, requestId: String(res.headers['x-request-id']) };
}

function auditLines(stateDir: string): Json[] {
  const dir = join(stateDir, 'audit');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean))
    .map((l) => JSON.parse(l) as Json);
}

async function gateway(extra: { server?: Json; lockout: Json }) {
  const upstream = await startRecordingUpstream();
  const gw = await startTestGateway({
    ...(extra.server ? { server: extra.server } : {}),
    routes: [{ name: 'api', prefix: '/api', upstream: upstream.url, auth_required: true }],
    auth: { methods: ['basic'], basic: { users: USERS } },
    authz: { routes: [{ path: '/api/*', scopes: ['system:read'] }] },
    limits: { lockout: extra.lockout },
  });
  return {
    gw,
    upstream,
    async close() {
      await gw.stop();
      await upstream.close();
    },
  };
}

test('X-Forwarded-For from an untrusted peer changes neither the address counted nor the address locked', async () => {
  const { gw, upstream, close } = await gateway({ lockout: { max_failures: 3 } });
  try {
    // Each guess claims another client address; the peer is not a trusted proxy, so all count against 127.0.0.1.
    for (let i = 1; i <= 3; i++) {
      const r = await get(`${gw.url}/api/guess`, { authorization: basic('alice', `guess-${i}`), 'x-forwarded-for': `198.51.100.${i}` });
      assert.equal(r.status, 401, `guess ${i}`);
    }
    // Locked out: a fresh forged address and the correct password change nothing.
    const r = await get(`${gw.url}/api/in`, { authorization: basic('alice', 'alice-correct-password'), 'x-forwarded-for': '198.51.100.9' });
    assert.equal(r.status, 429);
    assert.equal(r.code, 'GH_LOCKED_OUT');
    const noHeader = await get(`${gw.url}/api/in`, { authorization: basic('bob', 'bob-correct-password') });
    assert.equal(noHeader.code, 'GH_LOCKED_OUT');
    assert.equal(upstream.requests.length, 0);

    await gw.close(2000);
    const lockouts = auditLines(gw.stateDir).filter((x) => x['event_type'] === 'limits.lockout');
    assert.deepEqual(lockouts.map((x) => x['source_ip']), ['127.0.0.1'], 'the lock is on the peer, not on a forged address');
  } finally {
    await close();
  }
});

test('a locked principal is refused before its password is verified, even from another address and with the right password', async () => {
  // Behind a trusted proxy, so that the requests can come from several client addresses.
  const { gw, upstream, close } = await gateway({ server: { trusted_proxies: ['127.0.0.1'] }, lockout: { max_failures: 3, per: ['principal'] } });
  try {
    for (let i = 1; i <= 3; i++) {
      const r = await get(`${gw.url}/api/guess`, { authorization: basic('alice', `guess-${i}`), 'x-forwarded-for': `198.51.100.${i}` });
      assert.equal(r.status, 401, `guess ${i}`);
    }
    // The right password from an address that never failed: refused as locked, not verified and admitted.
    const right = await get(`${gw.url}/api/in`, { authorization: basic('alice', 'alice-correct-password'), 'x-forwarded-for': '203.0.113.50' });
    assert.equal(right.status, 429);
    assert.equal(right.code, 'GH_LOCKED_OUT');
    // A wrong one is refused the same way (429, not 401): a locked account gives no oracle on its password.
    const wrong = await get(`${gw.url}/api/in`, { authorization: basic('alice', 'guess-4'), 'x-forwarded-for': '203.0.113.51' });
    assert.equal(wrong.status, 429);
    assert.equal(wrong.code, 'GH_LOCKED_OUT');
    // Only the principal is locked: bob, from the same addresses, is served.
    assert.equal((await get(`${gw.url}/api/bob`, { authorization: basic('bob', 'bob-correct-password'), 'x-forwarded-for': '198.51.100.1' })).status, 200);
    assert.deepEqual(upstream.requests.map((r) => r.url), ['/bob']);

    await gw.close(2000);
    const records = auditLines(gw.stateDir);
    const refusal = records.find((x) => x['request_id'] === right.requestId);
    assert.ok(refusal);
    assert.equal(refusal['event_type'], 'limits.reject');
    assert.equal(refusal['subject'], undefined, 'the locked request was never authenticated');
    // The refused attempts were not counted as failures of their own: one lockout, for alice.
    const lockouts = records.filter((x) => x['event_type'] === 'limits.lockout');
    assert.deepEqual(lockouts.map((x) => [x['subject'], (x['metadata'] as Json)['failures']]), [['alice', 3]]);
  } finally {
    await close();
  }
});

test('IPv6 addresses cycled within one /64 behind a trusted proxy count as one client and are locked out together', async () => {
  const { gw, upstream, close } = await gateway({ server: { trusted_proxies: ['127.0.0.1'] }, lockout: { max_failures: 3 } });
  try {
    for (const n of [1, 2, 3]) {
      const r = await get(`${gw.url}/api/guess`, { authorization: basic('alice', `guess-${n}`), 'x-forwarded-for': `2001:db8:1:2::${n}` });
      assert.equal(r.status, 401, `guess from ::${n}`);
    }
    // Any address of the prefix is locked, with the correct password too.
    for (const addr of ['2001:db8:1:2::4', '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0db8:0001:0002::77']) {
      const r = await get(`${gw.url}/api/in`, { authorization: basic('alice', 'alice-correct-password'), 'x-forwarded-for': addr });
      assert.equal(r.status, 429, addr);
      assert.equal(r.code, 'GH_LOCKED_OUT', addr);
    }
    // The next /64, and the proxy's own requests, are other clients.
    assert.equal((await get(`${gw.url}/api/next`, { authorization: basic('alice', 'alice-correct-password'), 'x-forwarded-for': '2001:db8:1:3::1' })).status, 200);
    assert.equal((await get(`${gw.url}/api/proxy`, { authorization: basic('bob', 'bob-correct-password') })).status, 200);
    assert.deepEqual(upstream.requests.map((r) => r.url), ['/next', '/proxy']);

    await gw.close(2000);
    const lockouts = auditLines(gw.stateDir).filter((x) => x['event_type'] === 'limits.lockout');
    assert.equal(lockouts.length, 1, JSON.stringify(lockouts));
    assert.equal(lockouts[0]?.['source_ip'], '2001:db8:1:2::/64');
  } finally {
    await close();
  }
});
