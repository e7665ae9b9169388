/**
 * A stream outliving its credential (review F5): the stages run once, when a request starts, so an SSE response
 * authorized then kept flowing after its token was revoked or expired, for as long as the upstream sent something
 * within body_timeout. routes[].max_stream_duration ends such a body; the client reconnects, and the reconnection
 * meets the revocation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { openTokenService } from '../../src/authn/index.js';
import { openStore } from '../../src/store/index.js';
import { auditRecords, startTestGateway } from '../helpers/gateway.js';
import { until } from '../helpers/until.js';

/** An SSE upstream sending an event every 50 ms, forever; counts the responses still open. */
async function sseUpstream(): Promise<{ url: string; server: Server; open: () => number; close(): Promise<void> }> {
  let open = 0;
  const server = createServer((_req, res) => {
    open++;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    let i = 0;
    const t = setInterval(() => res.write(`data: event ${i++}\n\n`), 50);
    res.on('close', () => {
      open--;
      clearInterval(t);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    open: () => open,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

test('a stream whose token is revoked mid-flight ends at max_stream_duration, cleanly; the reconnection is refused; audited', async () => {
  const up = await sseUpstream();
  const gw = await startTestGateway({
    routes: [{ name: 'feed', prefix: '/feed', upstream: up.url, auth_required: true, max_stream_duration: '600ms' }],
    auth: { methods: ['token'] },
    authz: { routes: [{ path: '/feed/*', scopes: ['system:read'] }] },
  });
  // The gateway's own state store: a revocation there reaches its watcher, as one made by the CLI does.
  const store = openStore({ kind: 'sqlite', path: join(gw.stateDir, 'state.db') });
  try {
    const tokens = openTokenService(gw.config, { stateDir: gw.stateDir, store });
    const { token } = await tokens.mint({ agent: 'streaming-agent', scopes: 'readonly', ttlMs: 3_600_000 });
    const auth = { authorization: `Bearer ${token}` };

    let events = 0;
    let requestId: string | undefined;
    // How the stream ends: 'end' (a complete chunked response, what an SSE client reconnects on) or an error.
    // The guard only turns the bug (a stream that never ends) into a failure instead of a stalled file.
    const ended = new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${gw.url}/feed/events`, { agent: false, headers: auth }, (res) => {
        requestId = res.headers['x-request-id'] as string;
        assert.equal(res.statusCode, 200);
        res.setEncoding('utf8');
        res.on('data', (d: string) => (events += d.split('data: ').length - 1));
        res.on('end', () => resolve(res.complete ? 'end' : 'truncated'));
        res.on('error', (e) => resolve(`error ${e.message}`));
      });
      req.on('error', (e) => resolve(`error ${e.message}`));
      req.end();
      setTimeout(() => {
        req.destroy();
        reject(new Error('the stream still flows after its token was revoked: max_stream_duration did not end it'));
      }, 20_000).unref();
    });
    await until('the first events', () => events > 0);
    await tokens.revoke(token);

    assert.equal(await ended, 'end', 'an SSE stream is ended cleanly, so the client reconnects');
    await until('the upstream request to be ended too (its pooled connection freed)', () => up.open() === 0);

    // The client reconnects with the same token: the stages run again and refuse it (once the revocation is seen,
    // within the watcher's poll).
    const status = (): Promise<number> =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${gw.url}/feed/events`, { agent: false, headers: auth }, (res) => {
          res.destroy();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    await until('the reconnection to be refused', async () => (await status()) === 401);

    await gw.close(2000); // flushes the audit log
    const cut = auditRecords(gw.stateDir).find((r) => r['event_type'] === 'http.stream_cut');
    assert.ok(cut, 'the end of the stream was audited');
    assert.equal(cut['request_id'], requestId);
    assert.equal(cut['subject'], 'streaming-agent');
    assert.equal((cut['metadata'] as Record<string, unknown>)['stream_cut'], 'max_stream_duration');
    assert.ok(gw.log.lines.some((l) => l.includes('response stream ended by the gateway') && l.includes(requestId as string)), 'the end was logged');
  } finally {
    await store.close();
    await gw.stop();
    await up.close();
  }
});
