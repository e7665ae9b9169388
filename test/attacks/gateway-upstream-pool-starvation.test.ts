/**
 * Pool starvation (review F2): one caller holds every pooled upstream connection of a route with long streams (SSE,
 * a long poll), and everyone else's requests queued in undici's pool forever — response_timeout starts only once a
 * request has a connection. Now a request waits for a connection at most routes[].queue_timeout (503, nothing
 * forwarded, audited), and routes[].max_in_flight_per_principal keeps one caller from taking them all (429).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openTokenService } from '../../src/authn/index.js';
import { auditRecords, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { until } from '../helpers/until.js';

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/** An upstream: `/sse…` streams heartbeats without end; anything else answers at once. Records what reached it. */
async function streamingUpstream(): Promise<{ url: string; server: Server; seen: string[]; open: () => number; close(): Promise<void> }> {
  const seen: string[] = [];
  let open = 0;
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url?.startsWith('/sse')) {
      open++;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      res.write(': open\n\n');
      const t = setInterval(() => res.write('data: tick\n\n'), 100);
      res.on('close', () => {
        open--;
        clearInterval(t);
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('quick answer');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    seen,
    open: () => open,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Opens a stream through the gateway and resolves once its headers are in; the caller destroys it. */
function openStream(url: string, headers: Record<string, string> = {}): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, headers }, (res) => {
      res.on('data', () => {});
      res.on('error', () => {});
      resolve(res);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A whole answer. `guardMs` only turns a hang (the bug) into a failure with a message instead of a stalled test
 * file; it measures nothing.
 */
function fetchAnswer(url: string, headers: Record<string, string> = {}, guardMs = 20_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        clearTimeout(guard);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
    });
    const guard = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer to ${url}: the request is still queued for an upstream connection`));
    }, guardMs);
    req.on('error', (e) => {
      clearTimeout(guard);
      reject(e);
    });
    req.end();
  });
}

const code = (a: Answer): unknown => (JSON.parse(a.body) as { error: { code: string } }).error.code;

async function mint(gw: TestGateway, agent: string): Promise<string> {
  return (await openTokenService(gw.config, { stateDir: gw.stateDir }).mint({ agent, scopes: 'readonly', ttlMs: 3_600_000 })).token;
}

describe('pool starvation: one caller holding every upstream connection of a route', () => {
  test('a request queued behind busy connections gets 503 with Retry-After after queue_timeout, nothing forwarded, audited', async () => {
    const up = await streamingUpstream();
    const gw = await startTestGateway({ routes: [{ name: 'api', prefix: '/api', upstream: up.url, connections: 2, queue_timeout: '300ms' }] });
    const streams: IncomingMessage[] = [];
    try {
      for (let i = 0; i < 2; i++) streams.push(await openStream(`${gw.url}/api/sse`));
      await until('both streams to hold an upstream connection', () => up.open() === 2);

      const refused = await fetchAnswer(`${gw.url}/api/quick`);
      assert.equal(refused.status, 503, refused.body);
      assert.equal(code(refused), 'GH_UPSTREAM_BUSY');
      assert.equal(refused.headers['retry-after'], '1');
      assert.ok(refused.headers['x-request-id'], 'the refusal carries a request id');
      assert.doesNotMatch(refused.body, /127\.0\.0\.1|queue_timeout/, 'a 5xx body says nothing of the internals');
      assert.ok(!up.seen.includes('/quick'), 'the refused request reached the upstream');

      // The connections come back when the streams end: the next request is forwarded.
      for (const s of streams) s.destroy();
      await until('the streams to end at the upstream', () => up.open() === 0);
      const ok = await fetchAnswer(`${gw.url}/api/quick`);
      assert.equal(ok.status, 200, ok.body);
      assert.equal(ok.body, 'quick answer');

      await gw.close(2000); // flushes the audit log
      const rec = auditRecords(gw.stateDir).find((r) => r['request_id'] === refused.headers['x-request-id']);
      assert.ok(rec, 'the refusal was audited');
      assert.equal(rec['error_code'], 'GH_UPSTREAM_BUSY');
      assert.equal(rec['status'], 503);
      assert.match(String(rec['error']), /queue_timeout/, 'the record says which limit refused it');
    } finally {
      for (const s of streams) s.destroy();
      await gw.stop();
      await up.close();
    }
  });

  test('a queued request whose client leaves gives its place up: nothing forwarded, no connection lost', async () => {
    const up = await streamingUpstream();
    const gw = await startTestGateway({ routes: [{ name: 'api', prefix: '/api', upstream: up.url, connections: 1, queue_timeout: '5s' }] });
    try {
      const stream = await openStream(`${gw.url}/api/sse`);
      await until('the stream to hold the connection', () => up.open() === 1);
      const queued = httpRequest(`${gw.url}/api/left`, { agent: false });
      queued.on('error', () => {});
      queued.end();
      await until(() => `the queued request to be in flight (${gw.inflight})`, () => gw.inflight === 2);
      queued.destroy();
      await until('the queued request to finish', () => gw.inflight === 1);
      stream.destroy();
      await until('the stream to end', () => up.open() === 0);
      // The one connection is free again, and the request of the client that left was never sent.
      const ok = await fetchAnswer(`${gw.url}/api/quick`);
      assert.equal(ok.status, 200, ok.body);
      assert.ok(!up.seen.includes('/left'), 'a request whose client had left was forwarded');
    } finally {
      await gw.stop();
      await up.close();
    }
  });

  test('max_in_flight_per_principal: the holder is refused 429 past its cap, another principal still gets through', async () => {
    const up = await streamingUpstream();
    const gw = await startTestGateway({
      routes: [{ name: 'api', prefix: '/api', upstream: up.url, auth_required: true, connections: 3, queue_timeout: '300ms', max_in_flight_per_principal: 2 }],
      auth: { methods: ['token'] },
      authz: { routes: [{ path: '/api/*', scopes: ['system:read'] }] },
    });
    const streams: IncomingMessage[] = [];
    try {
      const attacker = { authorization: `Bearer ${await mint(gw, 'attacker-agent')}` };
      const victim = { authorization: `Bearer ${await mint(gw, 'victim-agent')}` };
      for (let i = 0; i < 2; i++) streams.push(await openStream(`${gw.url}/api/sse`, attacker));
      await until('the attacker to hold two connections', () => up.open() === 2);

      // The third stream would take the last connection: refused, never forwarded.
      const third = await fetchAnswer(`${gw.url}/api/sse-third`, attacker);
      assert.equal(third.status, 429, third.body);
      assert.equal(code(third), 'GH_RATE_LIMITED');
      assert.equal(third.headers['retry-after'], '1');
      assert.ok(!up.seen.includes('/sse-third'), 'the refused stream reached the upstream');
      assert.doesNotMatch(third.body, /attacker-agent/, 'the refusal names no identity');

      const ok = await fetchAnswer(`${gw.url}/api/quick`, victim);
      assert.equal(ok.status, 200, ok.body);

      // Its count goes down as its streams end.
      streams.pop()?.destroy();
      await until('the stream to end', () => up.open() === 1);
      streams.push(await openStream(`${gw.url}/api/sse`, attacker));
      assert.equal(streams.at(-1)?.statusCode, 200);

      for (const s of streams) s.destroy();
      await gw.close(2000);
      const rec = auditRecords(gw.stateDir).find((r) => r['request_id'] === third.headers['x-request-id']);
      assert.ok(rec, 'the refusal was audited');
      assert.equal(rec['event_type'], 'limits.reject');
      assert.equal(rec['error_code'], 'GH_RATE_LIMITED');
      assert.equal(rec['subject'], 'attacker-agent');
    } finally {
      for (const s of streams) s.destroy();
      await gw.stop();
      await up.close();
    }
  });

  test('max_in_flight_per_principal on a public route counts anonymous callers per client address', async () => {
    const up = await streamingUpstream();
    const gw = await startTestGateway({
      server: { trusted_proxies: ['127.0.0.1'] },
      routes: [{ name: 'pub', prefix: '/pub', upstream: up.url, connections: 4, max_in_flight_per_principal: 1 }],
    });
    const streams: IncomingMessage[] = [];
    try {
      const a = { 'x-forwarded-for': '203.0.113.7' };
      const b = { 'x-forwarded-for': '198.51.100.9' };
      streams.push(await openStream(`${gw.url}/pub/sse`, a));
      await until('the stream to start', () => up.open() === 1);
      const refused = await fetchAnswer(`${gw.url}/pub/quick`, a);
      assert.equal(refused.status, 429, refused.body);
      assert.equal(code(refused), 'GH_RATE_LIMITED');
      const other = await fetchAnswer(`${gw.url}/pub/quick`, b);
      assert.equal(other.status, 200, other.body);
    } finally {
      for (const s of streams) s.destroy();
      await gw.stop();
      await up.close();
    }
  });
});
