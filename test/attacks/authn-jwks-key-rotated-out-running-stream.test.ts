/**
 * A JWT whose signing key the IdP rotated out of its JWKS (after a leak) kept its running requests: new requests on
 * it were refused once the gateway refetched the JWKS, but an SSE stream or a long poll it had opened went on until
 * the token expired, since the credential watch re-checked only Gatehouse token keys. Now a JWT principal carries the
 * kid and the RFC 7638 thumbprint of the key that verified it, and the watch's sweep (every 0.5 s) asks the issuer's
 * cached key set whether it still holds that very key: a kid dropped, or a key replaced under its kid, by a successful
 * refresh ends the requests it signed (`credential_key_retired`); a refresh that fails keeps the last known keys.
 * Real parts: the gateway in-process on loopback, SSE and long-poll upstreams, and a real OpenID provider
 * (oidc-provider) whose keys are rotated; the refresh is the gateway's own (an unknown kid, or cache_max_age).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { auditRecords, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { AUDIENCE, signingJwk, startProvider } from '../helpers/oidc.js';
import { until } from '../helpers/until.js';
import { openStream as openWatched, sseUpstream, statusOf as statusOfRequest } from '../helpers/watched-stream.js';

/** A request on a bearer token, followed until something ends it (12 s guard). */
const openStream = (url: string, token: string) => openWatched(url, { authorization: `Bearer ${token}` }, 12_000);
const statusOf = (url: string, token: string) => statusOfRequest(url, { authorization: `Bearer ${token}` });

const kidOf = (jwt: string): unknown => (JSON.parse(Buffer.from(jwt.split('.')[0] as string, 'base64url').toString()) as { kid?: unknown }).kid;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cutOf = (gw: TestGateway, requestId: string | undefined) =>
  auditRecords(gw.stateDir).find((r) => r['request_id'] === requestId && (r['event_type'] === 'http.stream_cut' || r['event_type'] === 'auth.failure'));
const cutReason = (gw: TestGateway, requestId: string | undefined) => (cutOf(gw, requestId)?.['metadata'] as Record<string, unknown> | undefined)?.['stream_cut'];

async function gatewayFor(issuer: Record<string, unknown>, feed: string, poll?: string): Promise<TestGateway> {
  return startTestGateway({
    routes: [
      { name: 'feed', prefix: '/feed', upstream: feed, auth_required: true },
      ...(poll ? [{ name: 'poll', prefix: '/poll', upstream: poll, auth_required: true, response_timeout: '30s' }] : []),
    ],
    auth: { methods: ['jwt'], jwt: { issuers: [{ audience: AUDIENCE, tenant_claim: 'tenant', ...issuer }] } },
    authz: { routes: [{ path: '/feed/*', scopes: ['system:read'] }, { path: '/poll/*', scopes: ['system:read'] }] },
  });
}

describe('a JWT whose signing key the IdP rotated out of its JWKS, while the gateway forwards its requests', () => {
  test('the kid dropped by the refresh an unknown kid triggers ends the SSE stream and the long poll of the tokens it signed; a kept key\'s stream goes on', async () => {
    const op = await startProvider();
    const leakedKey = await signingJwk('k-leaked');
    const keptKey = await signingJwk('k-kept');
    op.configure([leakedKey, keptKey]); // oidc-provider signs with the first key of the algorithm
    const leaked = await op.token();
    op.configure([keptKey, leakedKey]);
    const kept = await op.token();
    assert.deepEqual([kidOf(leaked), kidOf(kept)], ['k-leaked', 'k-kept']);
    const feed = await sseUpstream();
    const pollUp = await sseUpstream({ holdHeaders: true });
    const gw = await gatewayFor({ issuer: op.issuer }, feed.url, pollUp.url);
    try {
      const stream = openStream(`${gw.url}/feed/events`, leaked);
      const poll = openStream(`${gw.url}/poll/wait`, leaked);
      const bystander = openStream(`${gw.url}/feed/events`, kept);
      await until(() => `the first events (${stream.status()} ${stream.body()})`, () => stream.events() > 0 && bystander.events() > 0 && pollUp.open() === 1);
      const fetches = op.jwksFetches();

      // The leak: the IdP signs with a new key and drops the leaked one from its JWKS, keeping the other.
      op.configure([await signingJwk('k-new'), keptKey]);
      const fresh = await op.token();
      assert.equal(kidOf(fresh), 'k-new');
      await sleep(1200); // the watch sweeps twice: the gateway has not refreshed, so it still holds the key
      assert.equal(stream.isEnded(), false, 'nothing ends before the gateway learns of the rotation');
      assert.equal(await statusOf(`${gw.url}/feed/events`, fresh), 200, 'the unknown kid makes the gateway refetch the JWKS');
      assert.equal(op.jwksFetches(), fetches + 1);

      assert.equal(await stream.ended, 'end', 'the SSE stream is ended cleanly (the client reconnects and is refused)');
      assert.equal(await poll.ended, 'end');
      assert.equal(poll.status(), 401, poll.body());
      assert.equal((JSON.parse(poll.body()) as { error: { code: string } }).error.code, 'GH_TOKEN_INVALID');
      await until('the upstream requests of the leaked token to be aborted (the bystander\'s alone left)', () => feed.open() === 1 && pollUp.open() === 0);
      assert.equal(await statusOf(`${gw.url}/feed/events`, leaked), 401, 'the reconnection is refused');
      const before = bystander.events();
      await until('the kept key\'s stream to keep flowing', () => bystander.events() > before + 10);
      assert.equal(bystander.isEnded(), false);

      await gw.close(500);
      assert.equal(cutReason(gw, stream.requestId()), 'credential_key_retired');
      assert.equal(cutOf(gw, stream.requestId())?.['event_type'], 'http.stream_cut');
      assert.equal(cutReason(gw, poll.requestId()), 'credential_key_retired');
      assert.equal(cutOf(gw, poll.requestId())?.['event_type'], 'auth.failure');
      assert.notEqual(cutReason(gw, bystander.requestId()), 'credential_key_retired', 'the kept key\'s stream was not cut for the rotation');
      for (const line of gw.log.lines) assert.ok(!line.includes(leaked) && !line.includes(kept), 'no log line carries a token');
    } finally {
      await gw.stop();
      await feed.close();
      await pollUp.close();
      await op.close();
    }
  });

  test('a key the IdP replaced under the same kid ends the streams of the tokens the old key signed; tokens of the new key under that kid stream on', async () => {
    const op = await startProvider();
    op.configure([await signingJwk('k1')]);
    const old = await op.token();
    const feed = await sseUpstream();
    const gw = await gatewayFor({ issuer: op.issuer }, feed.url);
    try {
      const stream = openStream(`${gw.url}/feed/events`, old);
      await until(() => `the first events (${stream.status()} ${stream.body()})`, () => stream.events() > 0);
      const replacement = await signingJwk('k1');
      op.configure([await signingJwk('k2'), replacement]);
      assert.equal(await statusOf(`${gw.url}/feed/events`, await op.token()), 200, 'a k2 token: the unknown kid makes the gateway refetch');
      assert.equal(await stream.ended, 'end');
      op.configure([replacement]);
      const sameKid = await op.token();
      assert.equal(kidOf(sameKid), 'k1');
      const after = openStream(`${gw.url}/feed/events`, sameKid);
      await until(() => `the replacement key's token to stream (${after.status()})`, () => after.events() > 10);
      assert.equal(after.isEnded(), false);
      await gw.close(500);
      assert.equal(cutReason(gw, stream.requestId()), 'credential_key_retired');
    } finally {
      await gw.stop();
      await feed.close();
      await op.close();
    }
  });

  test('a JWKS refresh that fails (the IdP down) keeps the last known keys, so streams go on; the next successful refresh without the kid ends them', async () => {
    const op = await startProvider();
    const leakedKey = await signingJwk('k-leaked');
    op.configure([leakedKey]);
    const leaked = await op.token();
    // The IdP's JWKS behind a front that can be taken down: 503 while down, the provider's own document otherwise.
    let down = false;
    let failed = 0;
    const front = createServer((req, res) => {
      if (down) {
        failed++;
        res.writeHead(503).end();
        return;
      }
      fetch(`${op.issuer}/jwks`).then(async (r) => res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text()), () => res.writeHead(502).end());
      req.resume();
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    const jwksUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}/jwks`;
    const feed = await sseUpstream();
    const gw = await gatewayFor({ issuer: op.issuer, jwks_url: jwksUrl, refetch_cooldown: '1s' }, feed.url);
    try {
      const stream = openStream(`${gw.url}/feed/events`, leaked);
      await until(() => `the first events (${stream.status()} ${stream.body()})`, () => stream.events() > 0);
      op.configure([await signingJwk('k-new')]);
      const fresh = await op.token();
      down = true;
      assert.equal(await statusOf(`${gw.url}/feed/events`, fresh), 401, 'the refetch failed: the new kid is unknown');
      assert.equal(failed, 1);
      const before = stream.events();
      await sleep(1500); // three sweeps
      assert.equal(stream.isEnded(), false, 'a failed refresh must not end running streams');
      assert.ok(stream.events() > before + 10, 'the stream kept flowing');
      assert.equal(await statusOf(`${gw.url}/feed/events`, leaked), 200, 'and new requests on the last known key are still admitted');

      down = false; // the refetch_cooldown (1s) since the failure has passed
      assert.equal(await statusOf(`${gw.url}/feed/events`, fresh), 200, 'the successful refetch finds the new kid');
      assert.equal(await stream.ended, 'end', 'and drops the leaked one: its stream ends');
      await gw.close(500);
      assert.equal(cutReason(gw, stream.requestId()), 'credential_key_retired');
    } finally {
      await gw.stop();
      await feed.close();
      await new Promise<void>((r) => {
        front.closeAllConnections();
        front.close(() => r());
      });
      await op.close();
    }
  });

  test('with no other traffic, the routine refresh (cache_max_age) that running JWT requests keep due learns of the rotation and ends the stream', async () => {
    const op = await startProvider();
    const leakedKey = await signingJwk('k-leaked');
    const keptKey = await signingJwk('k-kept');
    op.configure([leakedKey, keptKey]);
    const leaked = await op.token();
    op.configure([keptKey, leakedKey]);
    const kept = await op.token();
    const feed = await sseUpstream();
    const gw = await gatewayFor({ issuer: op.issuer, cache_max_age: '1s' }, feed.url);
    try {
      const stream = openStream(`${gw.url}/feed/events`, leaked);
      const bystander = openStream(`${gw.url}/feed/events`, kept);
      await until(() => `the first events (${stream.status()} ${stream.body()})`, () => stream.events() > 0 && bystander.events() > 0);
      op.configure([keptKey]); // no new token, no new request: only the streams run
      assert.equal(await stream.ended, 'end');
      const before = bystander.events();
      await until('the kept key\'s stream to keep flowing', () => bystander.events() > before + 10);
      assert.equal(bystander.isEnded(), false);
      await gw.close(500);
      assert.equal(cutReason(gw, stream.requestId()), 'credential_key_retired');
    } finally {
      await gw.stop();
      await feed.close();
      await op.close();
    }
  });
});
