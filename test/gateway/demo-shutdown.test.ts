import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { request } from 'node:http';
import { startTestGateway } from '../helpers/gateway.js';

test('close() is bounded even while a client holds a stream open on a demo upstream directly', async () => {
  const gw = await startTestGateway({ routes: [{ name: 'echo', prefix: '/echo', upstream: 'demo:echo' }] });
  let closed = false;
  try {
    // The demo listens on loopback, reachable by any local process: its address is the Host the gateway sends.
    const echoed = (await (await fetch(`${gw.url}/echo/x`)).json()) as { headers: Record<string, string> };
    const demo = echoed.headers['host'] as string;
    const stream = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      request(`http://${demo}/sse?n=1000&interval=10000`, { agent: false }, resolve).on('error', reject).end();
    });
    stream.on('error', () => undefined);
    stream.resume();
    const started = Date.now();
    const closing = gw.close(200).then(() => (closed = true));
    // Bounded means done well before the stream would end (hours): 10 s leaves a slow machine room to close the rest
    // (the audit log's last checkpoint and fsync among it).
    await Promise.race([closing, new Promise((r) => setTimeout(r, 10_000).unref())]);
    assert.ok(closed, `close() still waiting after ${Date.now() - started} ms on the demo server's open stream`);
  } finally {
    if (!closed) gw.server.closeAllConnections();
    // close() was the subject here, not stop(): the state directory is removed by hand.
    rmSync(gw.stateDir, { recursive: true, force: true });
  }
});
