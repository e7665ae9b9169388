/**
 * When the gateway itself aborts an upstream exchange for a reason of its own — here an error answer too large to
 * redact — the client hears that reason (GH_UPSTREAM_PROTOCOL), not "the upstream is unavailable": abort() reports
 * through onError before the caller can, and used to turn every such reason into GH_UPSTREAM_UNAVAILABLE.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { startTestGateway } from '../helpers/gateway.js';

test('an upstream error body past the filter limit is a 502 GH_UPSTREAM_PROTOCOL', async () => {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const upstream = createServer((_req, res) => {
    res.writeHead(500, { 'content-type': 'text/plain' });
    let sent = 0;
    const more = (): void => {
      while (sent < 9 * 1024 * 1024) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', more);
      }
      res.end();
    };
    more();
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const gw = await startTestGateway({ routes: [{ name: 'api', prefix: '/api', upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` }] });
  try {
    const res = await request(`${gw.url}/api/x`);
    const body = (await res.body.json()) as { error: { code: string } };
    assert.equal(res.statusCode, 502);
    assert.equal(body.error.code, 'GH_UPSTREAM_PROTOCOL');
  } finally {
    await gw.stop();
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
  }
});
