/**
 * A client that hangs up before its request is forwarded must not leave an upstream request behind: otherwise the
 * upstream acts for nobody, and a streamed response written to the dead client pauses forever (undici's body
 * timeout does not run while paused), pinning a pooled upstream connection and the in-flight count for good.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/index.js';
import type { Exchange } from '../../src/core/types.js';
import { listenGateway } from '../../src/gateway/server.js';
import type { Capabilities } from '../../src/gateway/pipeline.js';
import { memoryLogger, startTestGateway } from '../helpers/gateway.js';
import { until } from '../helpers/until.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An upstream that streams without end (an SSE feed) and counts the requests it saw and the ones still open. */
async function endlessUpstream(): Promise<{ url: string; server: Server; seen: string[]; open: () => number }> {
  const seen: string[] = [];
  let open = 0;
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    open++;
    res.on('close', () => open--);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const pump = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, seen, open: () => open };
}

/** Sends a request without reading the answer; returns the hang-up. */
function send(port: number, target: string): () => void {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  return () => socket.destroy();
}

/** Sends a request and hangs up after `ms`, without reading the answer. */
function hangUpAfter(port: number, target: string, ms: number): void {
  setTimeout(send(port, target), ms);
}

describe('a client that hangs up before the forward', () => {
  test('during a stage that waits (approval, first credential check): nothing is forwarded, nothing stays open', async () => {
    const up = await endlessUpstream();
    const stateDir = mkdtempSync(join(tmpdir(), 'gh-gone-'));
    const cfg = validateConfig({ state_dir: stateDir, server: { tls: { enabled: false } }, routes: [{ name: 'feed', prefix: '/feed', upstream: up.url, auth_required: false, body_timeout: '300ms' }] }, { env: {} });
    const caps: Capabilities = {
      stages: {},
      // A stage that has to wait, as an approval or a first password verification does.
      publicStages: { identify: (_ex: Exchange) => sleep(200) },
      audit: { waitForDurable: false, emit: async () => {}, record: () => {}, healthy: () => true, close: async () => {} },
      auditEvent: () => ({ action: 'request' }) as never,
      logger: memoryLogger(),
      redactText: (t) => t,
      close: async () => {},
    };
    const gw = await listenGateway({ config: cfg, capabilities: caps, upstreamUrls: new Map([['feed', up.url]]), tls: undefined }, '127.0.0.1:0');
    try {
      hangUpAfter(gw.port, '/feed/events', 50);
      // A second for a forward that should not happen (the stage ends at 200 ms); then the request must finish,
      // however slowly the machine gets there.
      await sleep(1000);
      await until(() => `the request to finish (in flight ${gw.inflight}, upstream responses open ${up.open()})`, () => gw.inflight === 0 && up.open() === 0);
      assert.deepEqual(up.seen, [], 'the upstream was asked on behalf of a client that had left');
      assert.equal(up.open(), 0, 'an upstream response is still open');
      assert.equal(gw.inflight, 0, 'the request never finished');
    } finally {
      await gw.close(200);
      up.server.closeAllConnections();
      up.server.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test('while queued for a busy upstream connection: the queued request is dropped, not sent', async () => {
    const up = await endlessUpstream();
    const gw = await startTestGateway({ routes: [{ name: 'feed', prefix: '/feed', upstream: up.url, connections: 1 }] });
    try {
      // The first client holds the route's only connection (it is streaming from the upstream), the second gives up
      // while queued behind it, and 250 ms later the first leaves too, freeing the connection.
      const leaveFirst = send(gw.port, '/feed/first');
      await until('the first request to reach the upstream', () => up.seen.length > 0);
      hangUpAfter(gw.port, '/feed/second', 100);
      await sleep(350);
      leaveFirst();
      await sleep(650);
      await until(() => `the request to finish (in flight ${gw.inflight}, upstream responses open ${up.open()})`, () => gw.inflight === 0 && up.open() === 0);
      assert.deepEqual(up.seen, ['/first']);
      assert.equal(up.open(), 0, 'an upstream response is still open');
      assert.equal(gw.inflight, 0);
    } finally {
      await gw.stop();
      up.server.closeAllConnections();
      up.server.close();
    }
  });

  test('a client that stays connected but never reads: the stalled response is cut after body_timeout, freeing the upstream connection', async () => {
    const up = await endlessUpstream();
    const gw = await startTestGateway({ routes: [{ name: 'feed', prefix: '/feed', upstream: up.url, connections: 1, body_timeout: '500ms' }] });
    const leave: Array<() => void> = [];
    try {
      // The slow-read attack: ask for a stream, then read nothing. undici's body timeout sleeps while the response is
      // paused for the client, so without a limit of its own the route's only upstream connection is held for good.
      leave.push(send(gw.port, '/feed/stalled'));
      await until('the stalled request to reach the upstream', () => up.seen.length > 0);
      await until(() => `the gateway to give up on the client that reads nothing (upstream responses open ${up.open()})`, () => up.open() === 0);
      // The connection is free again: the next client is served.
      leave.push(send(gw.port, '/feed/next'));
      await until(() => `the next request to reach the upstream (seen ${JSON.stringify(up.seen)})`, () => up.seen.includes('/next'));
    } finally {
      for (const l of leave) l();
      await gw.stop();
      up.server.closeAllConnections();
      up.server.close();
    }
  });
});
