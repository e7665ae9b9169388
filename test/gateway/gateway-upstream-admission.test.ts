/**
 * Admission to a route's upstream (docs/gateway.md § Upstream connections and long streams): the connection slots and
 * their bounded wait, the per-principal in-flight cap, max_stream_duration on a non-SSE body, and their settings.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { validateConfig } from '../../src/config/index.js';
import { InFlightCap, UpstreamSlots } from '../../src/gateway/admission.js';
import { startTestGateway } from '../helpers/gateway.js';
import { until } from '../helpers/until.js';

const routeOf = (route: Record<string, unknown>) => validateConfig({ routes: [{ prefix: '/api', upstream: 'http://127.0.0.1:9', ...route }] }, { env: {} }).routes[0];

/** A whole answer, or how it broke off; the guard only turns a hang into a failure. */
function fetchAnswer(url: string): Promise<{ status: number; body: string; complete: boolean; error?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false }, (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, complete: res.complete }));
      res.on('error', (e) => resolve({ status: res.statusCode ?? 0, body, complete: false, error: e.message }));
    });
    req.on('error', (e) => resolve({ status: 0, body: '', complete: false, error: e.message }));
    req.end();
    setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer to ${url}`));
    }, 20_000).unref();
  });
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
const shut = (server: Server) =>
  new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  });

describe('route settings', () => {
  test('defaults: queue_timeout 10s; no per-principal cap; no stream duration limit', () => {
    const r = routeOf({});
    assert.equal(r?.queue_timeout, 10_000);
    assert.equal(r?.max_in_flight_per_principal, undefined);
    assert.equal(r?.max_stream_duration, undefined);
    const set = routeOf({ queue_timeout: '2s', max_in_flight_per_principal: 8, max_stream_duration: '1h' });
    assert.equal(set?.queue_timeout, 2_000);
    assert.equal(set?.max_in_flight_per_principal, 8);
    assert.equal(set?.max_stream_duration, 3_600_000);
  });

  test('refused at load: a zero or unbounded queue_timeout, a cap of 0, a zero or too long max_stream_duration', () => {
    for (const bad of [{ queue_timeout: 0 }, { queue_timeout: '30d' }, { queue_timeout: 'soon' }, { max_in_flight_per_principal: 0 }, { max_in_flight_per_principal: 1.5 }, { max_stream_duration: '0s' }, { max_stream_duration: '30d' }]) {
      assert.throws(() => routeOf(bad), (e: { code?: string; message: string }) => e.code === 'GH_CONFIG_INVALID' && e.message.includes(Object.keys(bad)[0] as string), JSON.stringify(bad));
    }
  });
});

describe('connection slots', () => {
  test('every way a request ends gives its connection back: error status, response timeout, reset mid-body, client gone mid-body, stream cut', async () => {
    const upstream = createServer((req, res) => {
      if (req.url === '/error') {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('boom');
      } else if (req.url === '/silent') {
        // No headers: response_timeout (504).
      } else if (req.url === '/reset') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
        res.write('partial');
        setTimeout(() => res.socket?.destroy(), 20);
      } else if (req.url === '/endless') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const t = setInterval(() => res.write('x'.repeat(64)), 20);
        res.on('close', () => clearInterval(t));
      } else res.end('fine');
    });
    const url = await listen(upstream);
    // One connection and a short queue: a slot not given back makes the last request a 503.
    const gw = await startTestGateway({ routes: [{ name: 'api', prefix: '/api', upstream: url, connections: 1, queue_timeout: '500ms', response_timeout: '200ms', max_stream_duration: '300ms' }] });
    try {
      assert.equal((await fetchAnswer(`${gw.url}/api/error`)).status, 500);
      assert.equal((await fetchAnswer(`${gw.url}/api/silent`)).status, 504);
      assert.equal((await fetchAnswer(`${gw.url}/api/reset`)).complete, false);
      // Client gone mid-body.
      await new Promise<void>((resolve) => {
        const req = httpRequest(`${gw.url}/api/endless`, { agent: false }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => {});
        req.end();
      });
      await until('the abandoned request to finish', () => gw.inflight === 0);
      // A non-SSE body still flowing at max_stream_duration is cut (the truncation shows), not ended as if complete.
      const cut = await fetchAnswer(`${gw.url}/api/endless`);
      assert.equal(cut.status, 200);
      assert.equal(cut.complete, false, 'a cut download must not look complete');
      for (let i = 0; i < 3; i++) {
        const ok = await fetchAnswer(`${gw.url}/api/fine`);
        assert.equal(ok.status, 200, ok.body);
        assert.equal(ok.body, 'fine');
      }
    } finally {
      await gw.stop();
      await shut(upstream);
    }
  });

  test('UpstreamSlots: a slot given back goes to the oldest waiter, never to a newcomer; a cancelled waiter is skipped', async () => {
    const slots = new UpstreamSlots(1);
    assert.equal(slots.take(), true);
    assert.equal(slots.take(), false);
    const ran: string[] = [];
    const a = slots.wait(() => ran.push('a'), () => ran.push('a expired'), 60_000);
    slots.wait(() => ran.push('b'), () => ran.push('b expired'), 60_000);
    slots.cancel(a);
    slots.release();
    assert.equal(slots.take(), false, 'the slot was handed to the waiter, not freed');
    await Promise.resolve();
    assert.deepEqual(ran, ['b']);
    slots.release();
    assert.equal(slots.take(), true);
  });

  test('UpstreamSlots: a waiter not served within its timeout expires and leaves the queue', async () => {
    const slots = new UpstreamSlots(1);
    slots.take();
    const ran: string[] = [];
    slots.wait(() => ran.push('ran'), () => ran.push('expired'), 1);
    await until('the waiter to expire', () => ran.length > 0);
    slots.release();
    await Promise.resolve();
    assert.deepEqual(ran, ['expired']);
    assert.equal(slots.take(), true, 'the slot came back free');
  });

  test('InFlightCap: counts per key up to the cap; a key leaves the map with its last request', () => {
    const cap = new InFlightCap(2);
    assert.equal(cap.enter('a'), true);
    assert.equal(cap.enter('a'), true);
    assert.equal(cap.enter('a'), false);
    assert.equal(cap.enter('b'), true);
    assert.equal(cap.keys, 2);
    cap.leave('a');
    assert.equal(cap.enter('a'), true);
    cap.leave('a');
    cap.leave('a');
    cap.leave('b');
    cap.leave('b'); // one too many: no negative count, no entry
    assert.equal(cap.keys, 0);
  });
});
