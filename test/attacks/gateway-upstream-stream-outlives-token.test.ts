/**
 * A request outliving its credential (review F5): the stages run once, when a request starts, so an SSE response
 * authorized then kept flowing after its token was revoked or expired, for as long as the upstream sent something
 * within body_timeout. Now the gateway watches the credential of every request it forwards (credential-watch.ts):
 * a revocation ends the streams on it, an expiry ends them when it passes, and a request still waiting for its
 * upstream's answer is refused with the credential's 401. routes[].max_stream_duration bounds streams on credentials
 * nothing can revoke. Real parts: the gateway in-process on loopback, real SSE upstreams, the shared SQLite store a
 * CLI revocation writes to, and a real OpenID provider (oidc-provider) for the expiring JWT.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createApiKey, openTokenService, revokeApiKey, rotateTokenSecret } from '../../src/authn/index.js';
import { CredentialWatch } from '../../src/gateway/credential-watch.js';
import type { Exchange, Principal } from '../../src/core/types.js';
import { openStore } from '../../src/store/index.js';
import { ApprovalStore } from '../../src/approval/index.js';
import { systemClock } from '../../src/core/clock.js';
import { startApprovalGateway } from '../helpers/approval-gateway.js';
import { auditRecords, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { AUDIENCE, signingJwk, startProvider } from '../helpers/oidc.js';
import { until } from '../helpers/until.js';
import { openStream, sseUpstream, statusOf } from '../helpers/watched-stream.js';

/** The gateway's own state store and a token service over it: what `gatehouse token mint|revoke` use. */
function tokenServiceOf(gw: TestGateway) {
  const store = openStore({ kind: 'sqlite', path: join(gw.stateDir, 'state.db') });
  return { store, tokens: openTokenService(gw.config, { stateDir: gw.stateDir, store }) };
}

const cutRecord = (gw: TestGateway, requestId: string | undefined) =>
  auditRecords(gw.stateDir).find((r) => r['event_type'] === 'http.stream_cut' && r['request_id'] === requestId);

describe('a request whose credential ends while the gateway forwards it', () => {
  test('a token revoked by another process (the shared store, as `gatehouse token revoke` writes it) ends its SSE stream cleanly, without max_stream_duration; audited and logged', async () => {
    const up = await sseUpstream();
    const gw = await startTestGateway({
      routes: [{ name: 'feed', prefix: '/feed', upstream: up.url, auth_required: true }],
      auth: { methods: ['token'] },
      authz: { routes: [{ path: '/feed/*', scopes: ['system:read'] }] },
    });
    const { store, tokens } = tokenServiceOf(gw);
    try {
      const { token } = await tokens.mint({ agent: 'streaming-agent', scopes: 'readonly', ttlMs: 3_600_000 });
      const { token: other } = await tokens.mint({ agent: 'bystander', scopes: 'readonly', ttlMs: 3_600_000 });
      const auth = { authorization: `Bearer ${token}` };
      const stream = openStream(`${gw.url}/feed/events`, auth);
      const bystander = openStream(`${gw.url}/feed/events`, { authorization: `Bearer ${other}` });
      await until('the first events on both streams', () => stream.events() > 0 && bystander.events() > 0);
      await tokens.revoke(token);

      assert.equal(await stream.ended, 'end', 'an SSE stream is ended cleanly, so the client reconnects');
      assert.equal(stream.status(), 200);
      await until('the upstream request to be ended too (its pooled connection freed)', () => up.open() === 1);
      // The other token's stream goes on.
      const before = bystander.events();
      await until('the bystander stream to keep flowing', () => bystander.events() > before + 2);
      assert.equal(await statusOf(`${gw.url}/feed/events`, auth), 401, 'the reconnection is refused');

      await gw.close(500); // flushes the audit log (the bystander's stream is cut by the drain deadline)
      const cut = cutRecord(gw, stream.requestId());
      assert.ok(cut, 'the end of the stream was audited');
      assert.equal(cut['subject'], 'streaming-agent');
      assert.equal((cut['metadata'] as Record<string, unknown>)['stream_cut'], 'credential_revoked');
      assert.ok(gw.log.lines.some((l) => l.includes('response stream ended by the gateway') && l.includes(stream.requestId() as string) && l.includes('credential_revoked')));
      assert.ok(gw.log.lines.some((l) => l.includes('requests on a revoked credential ended')));
      for (const line of gw.log.lines) assert.ok(!line.includes(token), 'no log line carries the token');
      assert.equal(cutRecord(gw, bystander.requestId()), undefined, 'the bystander was not cut for the revocation');
    } finally {
      await store.close();
      await gw.stop();
      await up.close();
    }
  });

  test('an API key revoked mid-stream ends the stream; a non-SSE body is cut so the truncation shows', async () => {
    // A download that never finishes: chunked application/octet-stream.
    let open = 0;
    const server = createServer((_req, res) => {
      open++;
      res.on('close', () => open--);
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const t = setInterval(() => res.write(Buffer.alloc(1024, 7)), 20);
      res.on('close', () => clearInterval(t));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const gw = await startTestGateway({
      routes: [{ name: 'files', prefix: '/files', upstream: url, auth_required: true }],
      auth: { methods: ['api_key'] },
      authz: { routes: [{ path: '/files/*', scopes: ['system:read'] }] },
    });
    const store = openStore({ kind: 'sqlite', path: join(gw.stateDir, 'state.db') });
    try {
      const { key, record } = await createApiKey(store, { name: 'backup-job', scopes: ['readonly'], now: Date.now() });
      const stream = openStream(`${gw.url}/files/big.tar`, { authorization: `Bearer ${key}` });
      await until('the download to start', () => stream.body().length > 4096);
      assert.equal(await revokeApiKey(store, record.id, Date.now()), true);
      const how = await stream.ended;
      assert.notEqual(how, 'end', 'a cut download must not look complete');
      await until('the upstream request to be ended too', () => open === 0);
      await gw.close(500);
      const cut = cutRecord(gw, stream.requestId());
      assert.equal((cut?.['metadata'] as Record<string, unknown> | undefined)?.['stream_cut'], 'credential_revoked');
      assert.equal((cut?.['metadata'] as Record<string, unknown> | undefined)?.['credential_id'], record.id);
    } finally {
      await store.close();
      await gw.stop();
      await new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      });
    }
  });

  test('a request still waiting for its upstream\'s answer when its token is revoked is refused with 401 GH_TOKEN_REVOKED, and the upstream call is aborted', async () => {
    const up = await sseUpstream({ holdHeaders: true });
    const gw = await startTestGateway({
      routes: [{ name: 'poll', prefix: '/poll', upstream: up.url, auth_required: true, response_timeout: '30s' }],
      auth: { methods: ['token'] },
      authz: { routes: [{ path: '/poll/*', scopes: ['system:read'] }] },
    });
    const { store, tokens } = tokenServiceOf(gw);
    try {
      const { token } = await tokens.mint({ agent: 'poller', scopes: 'readonly', ttlMs: 3_600_000 });
      const poll = openStream(`${gw.url}/poll/wait`, { authorization: `Bearer ${token}` });
      await until('the request to reach the upstream', () => up.open() === 1);
      await tokens.revoke(token);
      assert.equal(await poll.ended, 'end');
      assert.equal(poll.status(), 401);
      assert.equal((JSON.parse(poll.body()) as { error: { code: string } }).error.code, 'GH_TOKEN_REVOKED');
      await until('the upstream request to be aborted', () => up.open() === 0);
      await gw.close(500);
      // No response record was written before the revocation: the request's one record is the refusal.
      const recs = auditRecords(gw.stateDir).filter((r) => r['request_id'] === poll.requestId());
      assert.equal(recs.length, 1);
      assert.equal(recs[0]?.['event_type'], 'auth.failure');
      assert.equal(recs[0]?.['error_code'], 'GH_TOKEN_REVOKED');
      assert.equal((recs[0]?.['metadata'] as Record<string, unknown>)['stream_cut'], 'credential_revoked');
    } finally {
      await store.close();
      await gw.stop();
      await up.close();
    }
  });

  test('a JWT from a real OpenID provider expiring mid-stream ends the stream once it expires (clock_skew 0), not before', async () => {
    const op = await startProvider({ accessTokenTtl: 3 });
    op.configure([await signingJwk('k1')]);
    const up = await sseUpstream();
    const gw = await startTestGateway({
      routes: [{ name: 'feed', prefix: '/feed', upstream: up.url, auth_required: true }],
      auth: { methods: ['jwt'], jwt: { issuers: [{ issuer: op.issuer, audience: AUDIENCE, tenant_claim: 'tenant', clock_skew: '0s' }] } },
      authz: { routes: [{ path: '/feed/*', scopes: ['system:read'] }] },
    });
    try {
      const jwt = await op.token();
      const exp = (JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString()) as { exp: number }).exp;
      const stream = openStream(`${gw.url}/feed/events`, { authorization: `Bearer ${jwt}` });
      await until('the first events', () => stream.events() > 0 || stream.status() >= 400);
      assert.equal(stream.status(), 200, stream.body());
      assert.equal(await stream.ended, 'end');
      assert.equal(stream.status(), 200);
      assert.ok(stream.events() > 0, 'events flowed while the token was valid');
      assert.ok(stream.endedAt() >= exp * 1000, `ended at ${stream.endedAt()}, before the token expired at ${exp * 1000}`);
      await until('the upstream request to be ended too', () => up.open() === 0);
      await gw.close(500);
      const cut = cutRecord(gw, stream.requestId());
      assert.equal((cut?.['metadata'] as Record<string, unknown> | undefined)?.['stream_cut'], 'credential_expired');
    } finally {
      await gw.stop();
      await up.close();
      await op.close();
    }
  });

  test('a token whose signing key is retired (rotate-secret --overlap 0, after a leak) has its stream ended; a token of the new key streams on', async () => {
    const up = await sseUpstream();
    const gw = await startTestGateway({
      routes: [{ name: 'feed', prefix: '/feed', upstream: up.url, auth_required: true }],
      auth: { methods: ['token'] },
      authz: { routes: [{ path: '/feed/*', scopes: ['system:read'] }] },
    });
    const { store, tokens } = tokenServiceOf(gw);
    try {
      const { token: leaked } = await tokens.mint({ agent: 'streaming-agent', scopes: 'readonly', ttlMs: 3_600_000 });
      const stream = openStream(`${gw.url}/feed/events`, { authorization: `Bearer ${leaked}` });
      await until('the first events', () => stream.events() > 0);
      await rotateTokenSecret(gw.stateDir, { overlapMs: 0 });
      // The gateway reloads the key file within a second and sweeps its watched requests.
      assert.equal(await stream.ended, 'end');
      const { token: fresh } = await openTokenService(gw.config, { stateDir: gw.stateDir, store }).mint({ agent: 'streaming-agent', scopes: 'readonly', ttlMs: 3_600_000 });
      const after = openStream(`${gw.url}/feed/events`, { authorization: `Bearer ${fresh}` });
      await until('a token of the new key to stream', () => after.events() > 2);
      await gw.close(500);
      const cut = cutRecord(gw, stream.requestId());
      assert.equal((cut?.['metadata'] as Record<string, unknown> | undefined)?.['stream_cut'], 'credential_key_retired');
    } finally {
      await store.close();
      await gw.stop();
      await up.close();
    }
  });

  test('max_stream_duration still ends a stream whose credential stays valid', async () => {
    const up = await sseUpstream();
    const gw = await startTestGateway({
      routes: [{ name: 'feed', prefix: '/feed', upstream: up.url, auth_required: true, max_stream_duration: '600ms' }],
      auth: { methods: ['token'] },
      authz: { routes: [{ path: '/feed/*', scopes: ['system:read'] }] },
    });
    const { store, tokens } = tokenServiceOf(gw);
    try {
      const { token } = await tokens.mint({ agent: 'streaming-agent', scopes: 'readonly', ttlMs: 3_600_000 });
      const stream = openStream(`${gw.url}/feed/events`, { authorization: `Bearer ${token}` });
      assert.equal(await stream.ended, 'end');
      assert.ok(stream.events() > 0);
      await until('the upstream request to be ended too', () => up.open() === 0);
      await gw.close(500);
      const cut = cutRecord(gw, stream.requestId());
      assert.equal((cut?.['metadata'] as Record<string, unknown> | undefined)?.['stream_cut'], 'max_stream_duration');
    } finally {
      await store.close();
      await gw.stop();
      await up.close();
    }
  });
});

test('a request held for approval whose token is revoked meanwhile is refused when approved: the operation never runs (review of the session diff)', async () => {
  const a = await startApprovalGateway({ approval: { mode: 'queue', queue: { hold_timeout: '20s', poll_interval: '50ms' } } });
  const store = openStore({ kind: 'sqlite', path: join(a.gw.stateDir, 'state.db') });
  try {
    const tokens = openTokenService(a.gw.config, { stateDir: a.gw.stateDir, store });
    const { token } = await tokens.mint({ agent: 'ops-bot', scopes: ['admin'], ttlMs: 3_600_000 });
    const held = fetch(`${a.gw.url}/ops/purge`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: 'x' });
    const approvals = new ApprovalStore(store, systemClock, 3_600_000);
    const id = await until('the approval to be pending', async () => (await approvals.list({ status: 'pending' }))[0]?.id);
    await tokens.revoke(token);
    // Seen by the gateway (its watcher polls the store): a new request is refused.
    // (Probed with a GET: a POST /ops/purge would itself wait for an approval.)
    await until('the revocation to reach the gateway', async () => (await fetch(`${a.gw.url}/ops/status`, { headers: { authorization: `Bearer ${token}` } })).status === 401);
    await approvals.decide(id, 'approve', { approver: 'alice' });
    const res = await held;
    assert.equal(res.status, 401, await res.text());
    assert.equal(a.upstream.requests.length, 0, 'the approved operation did not run for a revoked token');
  } finally {
    await store.close();
    await a.close();
  }
});

describe('CredentialWatch', () => {
  const principal = (p: Partial<Principal>): Exchange =>
    ({ principal: { id: 'a', type: 'agent', method: 'token', scopes: [], network: { source_ip: '127.0.0.1', peer_ip: '127.0.0.1', tls: false }, attributes: {}, ...p } }) as unknown as Exchange;

  test('watches only revocable or expiring credentials; a revocation ends exactly the requests on that credential, once', () => {
    const w = new CredentialWatch({ now: () => 0 });
    const ended: string[] = [];
    assert.equal(w.watch({ principal: undefined } as unknown as Exchange, () => ended.push('anon')), undefined);
    assert.equal(w.watch(principal({ method: 'mtls', credential_id: 'fp' }), () => ended.push('mtls')), undefined);
    assert.equal(w.watch(principal({ method: 'basic', credential_id: 'user:x' }), () => ended.push('basic')), undefined);
    const stopA = w.watch(principal({ credential_id: 'j1' }), (r) => ended.push(`a:${r}`));
    w.watch(principal({ method: 'jwt', credential_id: 'j1' }), (r) => ended.push(`b:${r}`));
    w.watch(principal({ method: 'api_key', credential_id: 'j1' }), (r) => ended.push(`key:${r}`));
    w.watch(principal({ credential_id: 'j2' }), (r) => ended.push(`c:${r}`));
    assert.equal(w.size, 4);
    stopA?.();
    assert.equal(w.revoked('token', 'j1'), 1, 'the request no longer watched is not ended');
    assert.deepEqual(ended, ['b:credential_revoked']);
    assert.equal(w.revoked('token', 'j1'), 0, 'ended once');
    assert.equal(w.revoked('api_key', 'j1'), 1, 'an API key id is not a token id');
    assert.equal(w.revoked('token', '__proto__'), 0);
    assert.equal(w.size, 1);
    w.close();
  });

  test('a credential already revoked or expired when the watch starts is ended at once (a stage waited meanwhile)', () => {
    const w = new CredentialWatch({ now: () => 5000, isRevoked: (kind, id) => kind === 'token' && id === 'gone' });
    const ended: string[] = [];
    assert.equal(w.watch(principal({ credential_id: 'gone' }), (r) => ended.push(r)), undefined);
    assert.equal(w.watch(principal({ credential_id: 'fine', valid_until: 4000 }), (r) => ended.push(r)), undefined);
    assert.equal(w.watch(principal({ method: 'api_key', credential_id: 'gone' }), (r) => ended.push(`key:${r}`))?.constructor, Function, 'an API key id is not a token id');
    assert.deepEqual(ended, ['credential_revoked', 'credential_expired']);
    w.close();
  });

  test('a credential whose signing key no longer verifies is ended at the watch and by the sweep', () => {
    let valid = true;
    const w = new CredentialWatch({ now: () => 0, sweepMs: 60_000, keyStillValid: () => valid });
    const ended: string[] = [];
    w.watch(principal({ credential_id: 'a', valid_until: 10_000 }), (r) => ended.push(r));
    valid = false;
    assert.equal(w.sweep(), 1);
    assert.equal(w.watch(principal({ credential_id: 'b', valid_until: 10_000 }), (r) => ended.push(r)), undefined);
    assert.deepEqual(ended, ['credential_key_retired', 'credential_key_retired']);
    w.close();
  });

  test('an expiry ends a request once the clock passes valid_until; the sweep timer runs only while something expires', () => {
    let now = 1000;
    const w = new CredentialWatch({ now: () => now, sweepMs: 60_000 });
    const ended: string[] = [];
    w.watch(principal({ credential_id: 'j', valid_until: 2000 }), (r) => ended.push(r));
    w.watch(principal({ method: 'basic', valid_until: 5000 }), (r) => ended.push(`basic:${r}`));
    now = 2000;
    assert.equal(w.sweep(), 0, 'not before it expires');
    now = 2001;
    assert.equal(w.sweep(), 1);
    assert.deepEqual(ended, ['credential_expired']);
    assert.equal(w.revoked('token', 'j'), 0, 'an ended request is forgotten');
    now = 6000;
    assert.equal(w.sweep(), 1, 'an expiring credential is watched even when nothing can revoke it');
    assert.equal(w.size, 0);
    w.close();
  });
});
