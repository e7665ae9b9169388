/**
 * The limits capability wired into the gateway (docs/limits.md): rate limits at the throttle stage and per MCP tool,
 * lockout after failed authentications (persisted in the state store), and the new-connection rate at accept. Real
 * gateways on loopback, real upstreams, real HTTP clients.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { openTokenService } from '../../src/authn/index.js';
import { validateConfig } from '../../src/config/index.js';
import { startGateway } from '../../src/gateway/start.js';
import { memoryLogger, startRecordingUpstream, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { rawHttp, rawStatus } from '../helpers/raw-http.js';
import { until } from '../helpers/until.js';
import { deleteLockout, lockoutKey } from '../../src/limits/index.js';
import { openStore } from '../../src/store/index.js';

type Json = Record<string, unknown>;

function auditLines(stateDir: string): Json[] {
  const dir = join(stateDir, 'audit');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean))
    .map((l) => JSON.parse(l) as Json);
}

function auditText(stateDir: string): string {
  const dir = join(stateDir, 'audit');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('');
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function mint(gw: TestGateway, agent: string, scopes: string): Promise<string> {
  return (await openTokenService(gw.config, { stateDir: gw.stateDir }).mint({ agent, scopes, ttlMs: 3_600_000 })).token;
}

async function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const res = await request(url, { method: method as 'GET', headers });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

describe('rate limits at the throttle stage', () => {
  test('per-principal: the 4th request is refused with 429, the rule named, RateLimit headers, nothing forwarded, audited; another principal is unaffected', async () => {
    const upstream = await startRecordingUpstream();
    const gw = await startTestGateway({
      routes: [{ name: 'api', prefix: '/api', upstream: upstream.url, auth_required: true }],
      auth: { methods: ['token'] },
      authz: { routes: [{ path: '/api/*', scopes: ['system:read'] }] },
      limits: { rates: [{ name: 'per-token', per: 'principal', limit: '3/min', burst: 3 }] },
    });
    try {
      const alice = await mint(gw, 'alice-agent', 'readonly');
      const bob = await mint(gw, 'bob-agent', 'readonly');
      for (let i = 0; i < 3; i++) {
        const ok = await get(`${gw.url}/api/a${i}`, { authorization: `Bearer ${alice}` });
        assert.equal(ok.status, 200, ok.body);
        assert.equal(ok.headers['ratelimit'], undefined, 'admitted requests carry no RateLimit header');
      }
      assert.equal(upstream.requests.length, 3);

      const refused = await get(`${gw.url}/api/a3`, { authorization: `Bearer ${alice}` });
      assert.equal(refused.status, 429);
      const body = JSON.parse(refused.body) as { error: Json };
      assert.equal(body.error['code'], 'GH_RATE_LIMITED');
      assert.equal(body.error['rate_limit'], 'per-token');
      const retryAfter = body.error['retry_after'];
      assert.equal(typeof retryAfter, 'number');
      // 3/min is one request every 20 s: the next one is admitted within 20 s.
      assert.ok((retryAfter as number) >= 1 && (retryAfter as number) <= 20, `retry_after ${String(retryAfter)}`);
      assert.equal(body.error['request_id'], refused.headers['x-request-id']);
      assert.equal(refused.headers['retry-after'], String(retryAfter));
      assert.equal(refused.headers['ratelimit-policy'], '"per-token";q=3;w=60');
      assert.equal(refused.headers['ratelimit'], `"per-token";r=0;t=${String(retryAfter)}`);
      // The error names the rule, never the key (which holds the identity).
      assert.doesNotMatch(refused.body, /alice-agent/);
      assert.equal(upstream.requests.length, 3, 'the refused request never reached the upstream');
      assert.ok(!upstream.requests.some((r) => r.url === '/a3'), 'the refused request never reached the upstream');

      // Another principal has its own allowance.
      for (let i = 0; i < 3; i++) assert.equal((await get(`${gw.url}/api/b${i}`, { authorization: `Bearer ${bob}` })).status, 200);
      assert.equal(upstream.requests.length, 6);
      // Refusals are not counted against the allowance, but alice is still over it.
      assert.equal((await get(`${gw.url}/api/a4`, { authorization: `Bearer ${alice}` })).status, 429);
      assert.equal(upstream.requests.length, 6);

      await gw.close(2000); // flushes the audit log
      const rec = auditLines(gw.stateDir).find((r) => r['request_id'] === refused.headers['x-request-id']);
      assert.ok(rec, 'the refusal was audited');
      assert.equal(rec['event_type'], 'limits.reject');
      assert.equal(rec['error_code'], 'GH_RATE_LIMITED');
      assert.equal(rec['status'], 429);
      assert.equal(rec['subject'], 'alice-agent');
      assert.equal((rec['metadata'] as Json | undefined)?.['rate_limit'], 'per-token');
    } finally {
      await gw.stop();
      await upstream.close();
    }
  });

  test('a rule restricted to routes and methods applies there only', async () => {
    const upstream = await startRecordingUpstream();
    const gw = await startTestGateway({
      routes: [
        { name: 'api', prefix: '/api', upstream: upstream.url },
        { name: 'other', prefix: '/other', upstream: upstream.url },
      ],
      limits: { rates: [{ name: 'api-posts', per: 'ip', limit: '1/min', burst: 1, routes: ['api'], methods: ['POST'] }] },
    });
    try {
      assert.equal((await get(`${gw.url}/api/p1`, {}, 'POST')).status, 200);
      const second = await get(`${gw.url}/api/p2`, {}, 'POST');
      assert.equal(second.status, 429, second.body);
      assert.equal((JSON.parse(second.body) as { error: Json }).error['rate_limit'], 'api-posts');
      // Other methods on the route, and the same method on another route, are not limited by it.
      for (let i = 0; i < 4; i++) assert.equal((await get(`${gw.url}/api/g${i}`)).status, 200, `GET /api #${i}`);
      for (let i = 0; i < 4; i++) assert.equal((await get(`${gw.url}/other/o${i}`, {}, 'POST')).status, 200, `POST /other #${i}`);
      // And POST /api is still refused.
      assert.equal((await get(`${gw.url}/api/p3`, {}, 'POST')).status, 429);
      // (The route strips its prefix: /api/p1 reaches the upstream as /p1.)
      assert.deepEqual(
        upstream.requests.filter((r) => r.method === 'POST' && r.url.startsWith('/p')).map((r) => r.url),
        ['/p1'],
      );
    } finally {
      await gw.stop();
      await upstream.close();
    }
  });

  test('a rule naming an unknown route is a configuration error', async () => {
    await assert.rejects(
      startTestGateway({ routes: [{ name: 'api', prefix: '/api', upstream: 'http://127.0.0.1:9' }], limits: { rates: [{ name: 'x', limit: '1/min', routes: ['nope'] }] } }),
      (e: Error & { code?: string }) => e.code === 'GH_CONFIG_INVALID' && /no route is named "nope"/.test(e.message),
    );
  });
});

/** One JSON-RPC message posted to the MCP route; the answer parsed from JSON or from an SSE `data:` line. */
async function rpc(url: string, token: string, message: Json): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Json }> {
  const res = await request(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify(message),
  });
  const text = await res.body.text();
  const ct = String(res.headers['content-type'] ?? '');
  const json = ct.includes('text/event-stream') ? (/^data: (.*)$/m.exec(text)?.[1] ?? 'null') : text;
  return { status: res.statusCode, headers: res.headers, body: JSON.parse(json) as Json };
}

describe('a per-tool rate limit on an MCP route', () => {
  test('the over-limit tools/call is answered by its id with JSON-RPC error -32031 (HTTP 200); other tools are not limited', async () => {
    const gw = await startTestGateway({
      demo: { enabled: true },
      routes: [{ name: 'mcp', prefix: '/mcp', upstream: 'demo:mcp', kind: 'mcp', auth_required: true }],
      auth: { methods: ['token'] },
      limits: { rates: [{ name: 'pings', per: 'principal', limit: '2/min', burst: 2, tools: ['ping_host'] }] },
    });
    try {
      const token = await mint(gw, 'mcp-agent', 'admin');
      const mcp = `${gw.url}/mcp`;
      const ping = (id: string | number) => rpc(mcp, token, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'ping_host', arguments: { host: 'db.internal', count: 1 } } });
      for (const id of [1, 2]) {
        const ok = await ping(id);
        assert.equal(ok.status, 200);
        assert.equal(ok.body['id'], id);
        assert.equal(ok.body['error'], undefined, JSON.stringify(ok.body));
        assert.match(JSON.stringify(ok.body['result']), /db\.internal/);
      }
      const refused = await ping('call-three');
      assert.equal(refused.status, 200, 'a per-tool refusal answers the call, not the transport');
      assert.equal(refused.body['jsonrpc'], '2.0');
      assert.equal(refused.body['id'], 'call-three');
      const error = refused.body['error'] as { code: number; message: string; data: Json };
      assert.equal(error.code, -32031);
      assert.equal(error.data['gatehouse_code'], 'GH_RATE_LIMITED');
      assert.equal(error.data['rate_limit'], 'pings');
      assert.equal(typeof error.data['retry_after'], 'number');
      assert.equal(refused.body['result'], undefined);

      // Other tools, and other methods, are not limited by the rule.
      for (let i = 0; i < 4; i++) {
        const status = await rpc(mcp, token, { jsonrpc: '2.0', id: 100 + i, method: 'tools/call', params: { name: 'get_system_status', arguments: {} } });
        assert.equal(status.body['id'], 100 + i);
        assert.equal(status.body['error'], undefined, JSON.stringify(status.body));
      }
      const list = await rpc(mcp, token, { jsonrpc: '2.0', id: 200, method: 'tools/list' });
      assert.equal(list.body['error'], undefined);
      // ping_host is still refused.
      const again = await ping(4);
      assert.equal((again.body['error'] as { code: number } | undefined)?.code, -32031);
      assert.equal(again.body['id'], 4);

      await gw.close(2000);
      const rejects = auditLines(gw.stateDir).filter((r) => r['event_type'] === 'limits.reject');
      assert.equal(rejects.length, 2, JSON.stringify(rejects));
      for (const r of rejects) {
        assert.equal(r['tool'], 'ping_host');
        assert.equal((r['metadata'] as Json)['rate_limit'], 'pings');
      }
    } finally {
      await gw.stop();
    }
  });
});

describe('lockout after failed authentications', () => {
  const users = [
    { name: 'alice', password: 'alice-correct-password', scopes: ['readonly'] },
    { name: 'bob', password: 'bob-correct-password', scopes: ['readonly'] },
  ];

  test('3 wrong passwords lock the address out: the correct password is then refused with 429 GH_LOCKED_OUT; audited without the password; persists across a restart', async () => {
    const upstream = await startRecordingUpstream();
    const raw = {
      routes: [{ name: 'api', prefix: '/api', upstream: upstream.url, auth_required: true }],
      auth: { methods: ['basic'], basic: { users } },
      authz: { routes: [{ path: '/api/*', scopes: ['system:read'] }] },
      limits: { lockout: { max_failures: 3 } },
    };
    const gw = await startTestGateway(raw);
    try {
      // Requests without any credential are not failed authentications: they lock nobody out.
      for (let i = 0; i < 4; i++) assert.equal((await get(`${gw.url}/api/anon`)).status, 401);
      assert.equal((await get(`${gw.url}/api/ok`, { authorization: basic('alice', 'alice-correct-password') })).status, 200);
      for (let i = 0; i < 3; i++) {
        const bad = await get(`${gw.url}/api/x`, { authorization: basic('alice', `wrong-guess-${i}`) });
        assert.equal(bad.status, 401, `failure ${i}: ${bad.body}`);
      }
      const locked = await get(`${gw.url}/api/y`, { authorization: basic('alice', 'alice-correct-password') });
      assert.equal(locked.status, 429, locked.body);
      assert.equal((JSON.parse(locked.body) as { error: Json }).error['code'], 'GH_LOCKED_OUT');
      const retry = Number(locked.headers['retry-after']);
      // The default duration is 15 minutes.
      assert.ok(retry > 0 && retry <= 900, `retry-after ${String(locked.headers['retry-after'])}`);
      // Every user from this address is refused, and nothing reached the upstream after the first request.
      assert.equal((await get(`${gw.url}/api/z`, { authorization: basic('bob', 'bob-correct-password') })).status, 429);
      assert.equal(upstream.requests.length, 1);

      await gw.close(2000);
      const records = auditLines(gw.stateDir);
      const lockout = records.find((r) => r['event_type'] === 'limits.lockout');
      assert.ok(lockout, 'the lockout was audited');
      assert.equal(lockout['source_ip'], '127.0.0.1');
      assert.equal((lockout['metadata'] as Json)['failures'], 3);
      const reject = records.find((r) => r['request_id'] === locked.headers['x-request-id']);
      assert.equal(reject?.['event_type'], 'limits.reject');
      assert.equal(reject?.['error_code'], 'GH_LOCKED_OUT');
      const text = auditText(gw.stateDir);
      for (const secret of ['alice-correct-password', 'bob-correct-password', 'wrong-guess-0', 'wrong-guess-1', 'wrong-guess-2']) {
        assert.ok(!text.includes(secret), `the audit log holds a password (${secret})`);
        assert.ok(!gw.log.lines.join('\n').includes(secret), `the log holds a password (${secret})`);
      }

      // A new gateway on the same state directory still refuses the address: the lockout is in the store.
      const cfg = validateConfig({ ...raw, state_dir: gw.stateDir, server: { tls: { enabled: false } } }, { env: {} });
      const again = await startGateway(cfg, { listen: '127.0.0.1:0', logger: memoryLogger() });
      try {
        const res = await get(`${again.url}/api/after-restart`, { authorization: basic('alice', 'alice-correct-password') });
        assert.equal(res.status, 429, res.body);
        assert.equal((JSON.parse(res.body) as { error: Json }).error['code'], 'GH_LOCKED_OUT');
        assert.equal(upstream.requests.length, 1);
      } finally {
        await again.close(2000);
      }
    } finally {
      await gw.stop(); // removes the state directory the second gateway used too
      await upstream.close();
    }
  });

  test('an operator\'s unlock gives the client a fresh count: one more wrong password does not lock it out again', async () => {
    const upstream = await startRecordingUpstream();
    const gw = await startTestGateway({
      routes: [{ name: 'api', prefix: '/api', upstream: upstream.url, auth_required: true }],
      auth: { methods: ['basic'], basic: { users } },
      authz: { routes: [{ path: '/api/*', scopes: ['system:read'] }] },
      limits: { lockout: { max_failures: 3, poll: '20ms' } },
    });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await get(`${gw.url}/api/x`, { authorization: basic('alice', `nope-${i}`) })).status, 401);
      assert.equal((await get(`${gw.url}/api/y`, { authorization: basic('alice', 'alice-correct-password') })).status, 429);
      // Lifted from outside (as `gatehouse limits unlock` does): the store's change feed reaches the gateway.
      const store = openStore({ kind: 'sqlite', path: gw.config.store.path as string });
      try {
        assert.equal(await deleteLockout(store, lockoutKey('ip', '127.0.0.1')), true);
      } finally {
        await store.close();
      }
      await until('the lifted lockout to reach the gateway', async () => (await get(`${gw.url}/api/ok`, { authorization: basic('alice', 'alice-correct-password') })).status === 200);
      // Before the fix the three old failures were still counted: this fourth one locked the address again at once.
      assert.equal((await get(`${gw.url}/api/x`, { authorization: basic('alice', 'nope-again') })).status, 401);
      const after = await get(`${gw.url}/api/z`, { authorization: basic('alice', 'alice-correct-password') });
      assert.equal(after.status, 200, after.body);
    } finally {
      await gw.stop();
      await upstream.close();
    }
  });

  test('per: [principal]: the user is locked out, another user from the same address is not', async () => {
    const upstream = await startRecordingUpstream();
    const gw = await startTestGateway({
      routes: [{ name: 'api', prefix: '/api', upstream: upstream.url, auth_required: true }],
      auth: { methods: ['basic'], basic: { users } },
      authz: { routes: [{ path: '/api/*', scopes: ['system:read'] }] },
      limits: { lockout: { max_failures: 3, per: ['principal'] } },
    });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await get(`${gw.url}/api/x`, { authorization: basic('alice', `nope-${i}`) })).status, 401);
      const locked = await get(`${gw.url}/api/y`, { authorization: basic('alice', 'alice-correct-password') });
      assert.equal(locked.status, 429, locked.body);
      assert.equal((JSON.parse(locked.body) as { error: Json }).error['code'], 'GH_LOCKED_OUT');
      assert.ok(Number(locked.headers['retry-after']) > 0);
      const other = await get(`${gw.url}/api/bob`, { authorization: basic('bob', 'bob-correct-password') });
      assert.equal(other.status, 200, other.body);
      assert.deepEqual(upstream.requests.map((r) => r.url), ['/bob']);

      await gw.close(2000);
      const lockout = auditLines(gw.stateDir).find((r) => r['event_type'] === 'limits.lockout');
      assert.ok(lockout);
      assert.equal(lockout['subject'], 'alice');
      assert.equal((lockout['metadata'] as Json)['kind'], 'principal');
    } finally {
      await gw.stop();
      await upstream.close();
    }
  });
});

describe('new connections per client (connection_rate_limit)', () => {
  const get1 = (port: number) => rawHttp(port, 'GET /up/x HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n', 3000);

  test('at 2/min with burst_tolerance 1x, a 3rd new connection is closed without a response', async () => {
    const upstream = await startRecordingUpstream();
    const gw = await startTestGateway({
      routes: [{ name: 'up', prefix: '/up', upstream: upstream.url }],
      limits: { connection_rate_limit: '2/min', burst_tolerance: '1x' },
    });
    try {
      const port = Number(new URL(gw.url).port);
      assert.equal(rawStatus(await get1(port)), 200);
      assert.equal(rawStatus(await get1(port)), 200);
      const third = await get1(port);
      assert.equal(third, '', 'the third connection got an answer');
      assert.equal(upstream.requests.length, 2);
    } finally {
      await gw.stop();
      await upstream.close();
    }
  });

  test('a trusted proxy address is exempt', async () => {
    const upstream = await startRecordingUpstream();
    const gw = await startTestGateway({
      server: { trusted_proxies: ['127.0.0.1'] },
      routes: [{ name: 'up', prefix: '/up', upstream: upstream.url }],
      limits: { connection_rate_limit: '2/min', burst_tolerance: '1x' },
    });
    try {
      const port = Number(new URL(gw.url).port);
      for (let i = 0; i < 5; i++) assert.equal(rawStatus(await get1(port)), 200, `connection ${i + 1}`);
      assert.equal(upstream.requests.length, 5);
    } finally {
      await gw.stop();
      await upstream.close();
    }
  });
});
