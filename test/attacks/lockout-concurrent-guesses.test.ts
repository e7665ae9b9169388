/**
 * Lockout against guesses sent all at once. A failure is counted when its verification ends (argon2 for Basic), so
 * before the gate (src/authn/gate.ts) 60 concurrent guesses were all checked against the real password and the last,
 * correct one got in past max_failures: 3. Now at most max_failures guesses are ever verified per window, whatever
 * their concurrency. Real gateway, real argon2 hash, real upstream on loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { hashSecret } from '../../src/authn/index.js';
import { startRecordingUpstream, startTestGateway } from '../helpers/gateway.js';

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

async function guessAll(url: string, user: string, guesses: string[], connections: number): Promise<number[]> {
  const agent = new Agent({ connections });
  try {
    return await Promise.all(
      guesses.map(async (g) => {
        const r = await request(`${url}/api/x`, { headers: { authorization: basic(user, g) }, dispatcher: agent });
        await r.body.text();
        return r.statusCode;
      }),
    );
  } finally {
    await agent.close();
  }
}

for (const per of [['ip'], ['principal'], ['ip', 'principal']] as const) {
  test(`60 concurrent guesses, the last one right, never get past max_failures: 3 (lockout per ${per.join(' and ')})`, async () => {
    const upstream = await startRecordingUpstream();
    const gw = await startTestGateway({
      routes: [{ name: 'api', prefix: '/api', upstream: upstream.url, auth_required: true }],
      auth: { methods: ['basic'], basic: { users: [{ name: 'alice', password_hash: await hashSecret('alice-correct-password'), scopes: ['readonly'] }] } },
      authz: { routes: [{ path: '/api/*', scopes: ['system:read'] }] },
      limits: { lockout: { max_failures: 3, per: [...per] } },
    });
    try {
      const guesses = Array.from({ length: 60 }, (_, i) => (i === 59 ? 'alice-correct-password' : `guess-${i}`));
      const statuses = await guessAll(gw.url, 'alice', guesses, 64);
      const checked = statuses.filter((s) => s === 401).length;
      assert.ok(checked <= 3, `${checked} guesses were verified (401) against max_failures 3: ${JSON.stringify(statuses)}`);
      assert.equal(checked, 3, 'the first three guesses are verified and fail');
      assert.notEqual(statuses.at(-1), 200, 'the correct guess, sent after the allowance was spent, is not let in');
      assert.ok(statuses.every((s) => s === 401 || s === 429), JSON.stringify(statuses));
      assert.equal(upstream.requests.length, 0, 'nothing reached the upstream');
      const after = await request(`${gw.url}/api/y`, { headers: { authorization: basic('alice', 'alice-correct-password') } });
      await after.body.text();
      assert.equal(after.statusCode, 429, 'locked out afterwards, the right password included');
    } finally {
      await gw.stop();
      await upstream.close();
    }
  });
}

test('a legitimate burst of correct logins waits for the gate instead of failing', async () => {
  const upstream = await startRecordingUpstream();
  const gw = await startTestGateway({
    routes: [{ name: 'api', prefix: '/api', upstream: upstream.url, auth_required: true }],
    auth: { methods: ['basic'], basic: { users: [{ name: 'bob', password_hash: await hashSecret('bob-correct-password'), scopes: ['readonly'] }] } },
    authz: { routes: [{ path: '/api/*', scopes: ['system:read'] }] },
    limits: { lockout: { max_failures: 2, per: ['ip', 'principal'] } },
  });
  try {
    const statuses = await guessAll(gw.url, 'bob', Array.from({ length: 20 }, () => 'bob-correct-password'), 32);
    assert.deepEqual(statuses, Array.from({ length: 20 }, () => 200));
    assert.equal(upstream.requests.length, 20);
  } finally {
    await gw.stop();
    await upstream.close();
  }
});

test('100 users logging in at once from one address (a NAT) all get in: the gate queues them, it does not refuse', async () => {
  const upstream = await startRecordingUpstream();
  const hash = await hashSecret('shared-correct-password');
  const users = Array.from({ length: 100 }, (_, i) => ({ name: `user-${i}`, password_hash: hash, scopes: ['readonly'] }));
  const gw = await startTestGateway({
    routes: [{ name: 'api', prefix: '/api', upstream: upstream.url, auth_required: true }],
    auth: { methods: ['basic'], basic: { users } },
    authz: { routes: [{ path: '/api/*', scopes: ['system:read'] }] },
  });
  const agent = new Agent({ connections: 100 });
  try {
    const statuses = await Promise.all(
      users.map(async (u) => {
        const r = await request(`${gw.url}/api/x`, { headers: { authorization: basic(u.name, 'shared-correct-password') }, dispatcher: agent });
        await r.body.text();
        return r.statusCode;
      }),
    );
    assert.deepEqual(statuses, users.map(() => 200));
  } finally {
    await agent.close();
    await gw.stop();
    await upstream.close();
  }
});

