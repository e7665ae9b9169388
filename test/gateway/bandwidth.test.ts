/**
 * Bandwidth limits through a real gateway (docs/limits.md "Bandwidth"): a real upstream on loopback, real HTTP
 * clients, the gateway's clock frozen so the refill is a clock step rather than a sleep.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { request } from 'undici';
import { ManualClock } from '../../src/core/clock.js';
import { startRecordingUpstream, startTestGateway } from '../helpers/gateway.js';
import { rawHttp } from '../helpers/raw-http.js';

type Json = Record<string, unknown>;

const TOKEN_A = 'tenant-a-static-token-0123456789';
const TOKEN_B = 'tenant-b-static-token-9876543210';
const tenants = {
  auth: {
    methods: ['static'],
    static: {
      tokens: [
        { token: TOKEN_A, principal: 'alice', tenant: 'acme', scopes: ['system:read'] },
        { token: TOKEN_B, principal: 'bob', tenant: 'beta', scopes: ['system:read'] },
      ],
    },
  },
  authz: { routes: [{ path: '/api/*', scopes: ['system:read'] }] },
};

/**
 * An upstream answering GET /bytes/N with N bytes and anything else with "ok". `seen` lists every request that reached
 * it (at its headers, before any body); `uploads` the bodies it received, byte for byte, with their headers.
 */
async function byteUpstream() {
  const seen: string[] = [];
  const uploads: Array<{ body: Buffer; headers: IncomingHttpHeaders }> = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      if (req.method !== 'GET') uploads.push({ body: Buffer.concat(parts), headers: req.headers });
      const m = /^\/bytes\/(\d+)$/.exec(req.url ?? '');
      const body = m ? Buffer.alloc(Number(m[1]), 0x61) : Buffer.from('ok');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    uploads,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

async function call(url: string, opts: { token?: string; method?: string; body?: Buffer | Readable } = {}) {
  const res = await request(url, {
    method: (opts.method ?? 'GET') as 'GET',
    headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
    ...(opts.body ? { body: opts.body } : {}),
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

function auditLines(stateDir: string): Json[] {
  const dir = join(stateDir, 'audit');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean))
    .map((l) => JSON.parse(l) as Json);
}

describe('bandwidth limits through the gateway', () => {
  test('tenant A over its quota gets 429 with Retry-After while tenant B on the same route is served; A is admitted again after the refill', async () => {
    const upstream = await byteUpstream();
    const clock = new ManualClock(Date.now());
    const gw = await startTestGateway(
      {
        ...tenants,
        routes: [{ name: 'api', prefix: '/api', upstream: upstream.url, auth_required: true }],
        metrics: { enabled: true, listen: '127.0.0.1:0' },
        limits: { bandwidth: [{ name: 'tenant-download', rate: '100B/s', burst: '1KB' }] },
      },
      { clock },
    );
    try {
      // 1500 bytes against a 1000-byte allowance: admitted (not in debt) and sent whole: a flowing response is not cut.
      const first = await call(`${gw.url}/api/bytes/1500`, { token: TOKEN_A });
      assert.equal(first.status, 200);
      assert.equal(first.body.length, 1500);

      const refused = await call(`${gw.url}/api/bytes/10`, { token: TOKEN_A });
      assert.equal(refused.status, 429);
      const err = (JSON.parse(refused.body.toString()) as { error: Json }).error;
      assert.equal(err['code'], 'GH_RATE_LIMITED');
      assert.equal(err['bandwidth_limit'], 'tenant-download');
      // A debt of 500 bytes at 100 B/s: 5 s.
      assert.equal(err['retry_after'], 5);
      assert.equal(refused.headers['retry-after'], '5');
      assert.equal(refused.headers['ratelimit-policy'], '"tenant-download";q=100;qu="content-bytes";w=1');
      assert.equal(refused.headers['ratelimit'], '"tenant-download";r=0;t=5');
      assert.doesNotMatch(refused.body.toString(), /acme|alice|tenant-a-static/, 'the refusal names the rule, not the tenant or its credential');
      assert.deepEqual(upstream.seen, ['GET /bytes/1500'], 'the refused request never reached the upstream');

      // Tenant B, same route, same moment: its own allowance.
      const other = await call(`${gw.url}/api/bytes/900`, { token: TOKEN_B });
      assert.equal(other.status, 200);
      assert.equal(other.body.length, 900);

      clock.advance(4999);
      assert.equal((await call(`${gw.url}/api/bytes/10`, { token: TOKEN_A })).status, 429, 'still 1 ms short');
      clock.advance(1);
      const again = await call(`${gw.url}/api/bytes/10`, { token: TOKEN_A });
      assert.equal(again.status, 200, 'paid off: admitted again');
      assert.equal(again.body.toString(), 'a'.repeat(10));

      // The refusal shows in the refusal counters by code (no tenant label).
      const refusedBy = gw.metrics?.snapshot().refused ?? [];
      assert.ok(refusedBy.some(([route, code, n]) => route === 'api' && code === 'GH_RATE_LIMITED' && n === 2), JSON.stringify(refusedBy));

      const id = refused.headers['x-request-id'];
      await gw.close(2000);
      const rec = auditLines(gw.stateDir).find((r) => r['request_id'] === id);
      assert.ok(rec, 'the refusal was audited');
      assert.equal(rec['event_type'], 'limits.reject');
      assert.equal(rec['error_code'], 'GH_RATE_LIMITED');
      assert.equal((rec['metadata'] as Json)['bandwidth_limit'], 'tenant-download');
      const text = readdirSync(join(gw.stateDir, 'audit')).map((f) => readFileSync(join(gw.stateDir, 'audit', f), 'utf8')).join('');
      assert.ok(!text.includes(TOKEN_A) && !text.includes(TOKEN_B), 'no credential in the audit trail');
      assert.ok(!gw.log.lines.join('\n').includes(TOKEN_A), 'no credential in the log');
    } finally {
      await gw.stop();
      await upstream.close();
    }
  });

  test('an upload whose Content-Length exceeds the burst is refused at once: the upstream sees nothing', async () => {
    const upstream = await byteUpstream();
    const gw = await startTestGateway({
      routes: [{ name: 'up', prefix: '/up', upstream: upstream.url }],
      limits: { bandwidth: [{ name: 'uploads', per: 'ip', rate: '1KB/s', burst: 1000, direction: 'in' }] },
    });
    try {
      const res = await call(`${gw.url}/up/file`, { method: 'PUT', body: randomBytes(1001) });
      assert.equal(res.status, 413);
      const err = (JSON.parse(res.body.toString()) as { error: Json }).error;
      assert.equal(err['code'], 'GH_BODY_TOO_LARGE');
      assert.equal(err['bandwidth_limit'], 'uploads');
      assert.equal(err['burst_bytes'], 1000);
      assert.deepEqual(upstream.seen, []);
      // At the burst it is admitted, and the allowance was untouched by the refusal.
      assert.equal((await call(`${gw.url}/up/file`, { method: 'PUT', body: randomBytes(1000) })).status, 200);
      assert.equal(upstream.uploads[0]?.body.length, 1000);
    } finally {
      await gw.stop();
      await upstream.close();
    }
  });

  test('direction: in counts request bodies (streamed, chunked too) and never response bytes', async () => {
    const upstream = await byteUpstream();
    const gw = await startTestGateway({
      routes: [{ name: 'up', prefix: '/up', upstream: upstream.url }],
      limits: { bandwidth: [{ name: 'uploads', per: 'ip', rate: '1B/h', burst: 1000, direction: 'in' }] },
    });
    try {
      // Responses far past the burst: not counted.
      for (let i = 0; i < 3; i++) assert.equal((await call(`${gw.url}/up/bytes/5000`)).status, 200);
      assert.equal((await call(`${gw.url}/up/in`, { method: 'POST', body: randomBytes(600) })).status, 200);
      // A chunked body (no Content-Length), counted as it streams: 600 + 600 > 1000, in debt afterwards.
      async function* chunks() {
        yield randomBytes(300);
        yield randomBytes(300);
      }
      const streamed = await call(`${gw.url}/up/in`, { method: 'POST', body: Readable.from(chunks()) });
      assert.equal(streamed.status, 200);
      // (undici may re-frame a short stream with a Content-Length upstream: the gateway still read it as chunked.)
      assert.equal(upstream.uploads.at(-1)?.body.length, 600);
      const refused = await call(`${gw.url}/up/bytes/1`);
      assert.equal(refused.status, 429);
      assert.equal((JSON.parse(refused.body.toString()) as { error: Json }).error['bandwidth_limit'], 'uploads');
    } finally {
      await gw.stop();
      await upstream.close();
    }
  });

  test('without bandwidth rules (and with one that only counts) responses and uploads pass byte for byte', async () => {
    const payload = randomBytes(256 * 1024);
    const digest = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
    const upstream = await startRecordingUpstream((req, res) => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-upstream': 'yes' });
        res.write(payload.subarray(0, 100_000));
        res.end(payload.subarray(100_000));
      } else {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': 'yes' });
        res.end(digest(Buffer.from(upstreamBodies.shift() ?? [])));
      }
    });
    const upstreamBodies: Buffer[] = [];
    upstream.server.prependListener('request', (req) => {
      if (req.method === 'GET') return;
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => upstreamBodies.push(Buffer.concat(parts)));
    });
    const plain = await startTestGateway({ routes: [{ name: 'r', prefix: '/r', upstream: upstream.url }] });
    const counted = await startTestGateway({
      routes: [{ name: 'r', prefix: '/r', upstream: upstream.url }],
      limits: { bandwidth: [{ name: 'big', per: 'ip', rate: '1GiB/s' }] },
    });
    try {
      const raw = async (port: number) => {
        const text = await rawHttp(port, 'GET /r/blob HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n', 5000);
        // Everything but the per-request values (date, request id) must match.
        return text.replace(/^date: .*$/im, 'date: -').replace(/^x-request-id: .*$/im, 'x-request-id: -');
      };
      const [a, b] = [await raw(plain.port), await raw(counted.port)];
      assert.equal(a, b, 'a counted exchange is answered exactly as an uncounted one');
      const body = Buffer.from(a.slice(a.indexOf('\r\n\r\n') + 4), 'latin1');
      assert.ok(body.length > payload.length, 'chunked framing around the payload');
      for (const gw of [plain, counted]) {
        const got = await call(`${gw.url}/r/blob`);
        assert.equal(digest(got.body), digest(payload));
        const up = await call(`${gw.url}/r/up`, { method: 'POST', body: payload });
        assert.equal(up.body.toString(), digest(payload), 'the upload reached the upstream intact');
      }
    } finally {
      await plain.stop();
      await counted.stop();
      await upstream.close();
    }
  });
});
