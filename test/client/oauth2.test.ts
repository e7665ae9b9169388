/**
 * ClientCredentials against a token endpoint on loopback that misbehaves on purpose (the real provider's happy path
 * is in client.test.ts): a failed grant is not asked again by every caller at once, and an absurd expires_in does not
 * pin a token for good. A frozen clock moves time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ManualClock } from '../../src/core/clock.js';
import { ClientCredentials } from '../../src/client/index.js';

async function endpoint(t: { after(fn: () => unknown): void }, answer: () => { status: number; body: unknown }): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits += 1;
    req.resume();
    const a = answer();
    res.writeHead(a.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(a.body));
  });
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`, hits: () => hits };
}

test('a failed grant is answered from memory for a second: callers do not each send a token request', async (t) => {
  let down = true;
  const ep = await endpoint(t, () => (down ? { status: 503, body: { error: 'temporarily_unavailable' } } : { status: 200, body: { access_token: 'tok-after-recovery-01', token_type: 'Bearer', expires_in: 300 } }));
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const cc = new ClientCredentials({ tokenUrl: ep.url, clientId: 'gh', clientSecret: 'fake-client-secret-01', clock });
  await assert.rejects(cc.token(), { code: 'GH_OAUTH_TOKEN_FAILED' });
  await Promise.all([1, 2, 3].map(() => assert.rejects(cc.token(), { code: 'GH_OAUTH_TOKEN_FAILED' })));
  assert.equal(ep.hits(), 1, 'one request for four callers within the backoff');
  down = false;
  clock.advance(1001);
  assert.equal(await cc.token(), 'tok-after-recovery-01');
  assert.equal(ep.hits(), 2);
});

test('expires_in of a year is capped at a day', async (t) => {
  let n = 0;
  const ep = await endpoint(t, () => ({ status: 200, body: { access_token: `tok-${++n}-long-lived`, token_type: 'Bearer', expires_in: 31_536_000 } }));
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const cc = new ClientCredentials({ tokenUrl: ep.url, clientId: 'gh', clientSecret: 'fake-client-secret-02', clock });
  assert.equal(await cc.token(), 'tok-1-long-lived');
  clock.advance(86_400_000);
  assert.equal(await cc.token(), 'tok-2-long-lived', 'a new token after a day, whatever the endpoint said');
});
