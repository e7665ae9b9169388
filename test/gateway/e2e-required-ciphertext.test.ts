/**
 * routes[].encryption.required (seed 002 "the broker routes ciphertext"): on a route that requires encryption, a body
 * that is not a well-formed Gatehouse message under the marker is refused and never reaches the upstream.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { createStreamKey, encryptRequestBody, parseMessageHeader, publishEncrypted, type MessageKey } from '../../src/crypto/index.js';
import { openTokenService } from '../../src/authn/index.js';
import { validateConfig } from '../../src/config/index.js';
import { GatehouseError } from '../../src/core/errors.js';
import { startGateway } from '../../src/gateway/start.js';
import { memoryLogger, startTestGateway, type TestGateway } from '../helpers/gateway.js';

/** A loopback upstream keeping each body as bytes (ciphertext is not UTF-8). */
async function startRawUpstream(): Promise<{ url: string; requests: { url: string; headers: IncomingHttpHeaders; body: Buffer }[]; close(): Promise<void> }> {
  const requests: { url: string; headers: IncomingHttpHeaders; body: Buffer }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

const ADDRESS = { tenant: 'acme-corp', namespace: 'production', stream: 'orders' };

describe('routes[].encryption.required through the gateway', () => {
  const bodyKeyHex = randomBytes(32).toString('hex');
  const bodyKey: MessageKey = { id: 'key-2023', algorithm: 'aes-256-gcm', material: Buffer.from(bodyKeyHex, 'hex') };
  const streamKey = createStreamKey('stream-key-v1');
  let upstream: Awaited<ReturnType<typeof startRawUpstream>>;
  let gw: TestGateway;
  let token: string;

  before(async () => {
    process.env['GH_TEST_E2E_BODY_KEY'] = bodyKeyHex;
    upstream = await startRawUpstream();
    gw = await startTestGateway({
      routes: [
        { name: 'orders', prefix: '/orders', upstream: upstream.url, auth_required: true, end_to_end: true, encryption: { required: true, key_ids: ['stream-key-v1'] } },
        { name: 'any-key', prefix: '/any-key', upstream: upstream.url, auth_required: true, end_to_end: true, encryption: { required: true } },
        { name: 'loose', prefix: '/loose', upstream: upstream.url, auth_required: true, end_to_end: true },
        { name: 'api', prefix: '/api', upstream: upstream.url, auth_required: true, encryption: { required: true, key_ids: ['key-2023'] } },
      ],
      auth: { methods: ['token'] },
      authz: { routes: ['/orders/*', '/any-key/*', '/loose/*', '/api/*'].map((path) => ({ path, scopes: ['system:read'] })) },
      encryption: { enabled: true, key_env: 'GH_TEST_E2E_BODY_KEY', key_id: 'key-2023', request_bodies: { enabled: true } },
    });
    const svc = openTokenService(gw.config, { stateDir: gw.stateDir });
    token = (await svc.mint({ agent: 'e2e-required-test', scopes: ['readonly'], ttlMs: 3_600_000 })).token;
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
    delete process.env['GH_TEST_E2E_BODY_KEY'];
  });

  /** Sends `body` and returns the status, the error code (if any) and how many requests reached the upstream meanwhile. */
  async function send(path: string, body: Buffer | string | Readable | undefined, headers: Record<string, string> = {}, method = 'POST'): Promise<{ status: number; code: string | undefined; forwarded: number }> {
    const before = upstream.requests.length;
    const res = await request(`${gw.url}${path}`, { method: method as 'POST', body: body ?? null, headers: { authorization: `Bearer ${token}`, ...headers } });
    const text = await res.body.text();
    const code = res.statusCode >= 400 ? ((JSON.parse(text) as { error: { code: string } }).error.code) : undefined;
    return { status: res.statusCode, code, forwarded: upstream.requests.length - before };
  }
  const marked = { 'x-gatehouse-encrypted': 'v1', 'content-type': 'application/octet-stream' };

  test('a well-formed message under an allowed key id reaches the upstream byte for byte, marker kept', async () => {
    const msg = publishEncrypted(streamKey, ADDRESS, Buffer.from('{"order":42,"card":"4111"}'));
    const r = await send('/orders/publish', msg, marked);
    assert.deepEqual(r, { status: 200, code: undefined, forwarded: 1 });
    const seen = upstream.requests.at(-1);
    assert.ok(seen?.body.equals(msg), 'the upstream received exactly the ciphertext');
    assert.equal(seen?.headers['x-gatehouse-encrypted'], 'v1');
  });

  test('plaintext is refused with GH_CRYPTO_REQUIRED and never forwarded (fixed length and chunked)', async () => {
    assert.deepEqual(await send('/orders/publish', '{"order":42,"card":"4111"}', { 'content-type': 'application/json' }), { status: 400, code: 'GH_CRYPTO_REQUIRED', forwarded: 0 });
    const chunked = Readable.from([Buffer.from('{"order":'), Buffer.from('43}')]);
    assert.deepEqual(await send('/orders/publish', chunked, { 'content-type': 'application/json' }), { status: 400, code: 'GH_CRYPTO_REQUIRED', forwarded: 0 });
    // A well-formed message without the marker is refused too: the marker is what the subscriber's side relies on.
    const msg = publishEncrypted(streamKey, ADDRESS, Buffer.from('x'));
    assert.deepEqual(await send('/orders/publish', msg), { status: 400, code: 'GH_CRYPTO_REQUIRED', forwarded: 0 });
    // On any method that carries a body.
    assert.deepEqual(await send('/orders/publish', 'cleartext', {}, 'PUT'), { status: 400, code: 'GH_CRYPTO_REQUIRED', forwarded: 0 });
  });

  test('plaintext under the marker, an unknown marker value, and truncated envelopes are GH_CRYPTO_MALFORMED, never forwarded', async () => {
    assert.deepEqual(await send('/orders/publish', '{"order":42}', marked), { status: 400, code: 'GH_CRYPTO_MALFORMED', forwarded: 0 });
    const msg = publishEncrypted(streamKey, ADDRESS, Buffer.from('{"order":42}'));
    assert.deepEqual(await send('/orders/publish', msg, { ...marked, 'x-gatehouse-encrypted': 'v2' }), { status: 400, code: 'GH_CRYPTO_MALFORMED', forwarded: 0 });
    const headerLength = parseMessageHeader(msg).length;
    for (const cut of [3, 6, headerLength - 1, headerLength + 15]) {
      assert.deepEqual(await send('/orders/publish', msg.subarray(0, cut), marked), { status: 400, code: 'GH_CRYPTO_MALFORMED', forwarded: 0 }, `cut at ${cut}`);
    }
    const wrongVersion = Buffer.from(msg);
    wrongVersion[3] = 2;
    assert.deepEqual(await send('/orders/publish', wrongVersion, marked), { status: 400, code: 'GH_CRYPTO_MALFORMED', forwarded: 0 });
    const badAlgorithm = Buffer.from(msg);
    badAlgorithm[4] = 0x7f;
    assert.deepEqual(await send('/orders/publish', badAlgorithm, marked), { status: 400, code: 'GH_CRYPTO_MALFORMED', forwarded: 0 });
  });

  test('a key id outside key_ids is GH_CRYPTO_KEY_UNKNOWN and not echoed; a route without key_ids takes any key', async () => {
    const other = publishEncrypted(createStreamKey('stream-key-v0'), ADDRESS, Buffer.from('{"order":42}'));
    const res = await request(`${gw.url}/orders/publish`, { method: 'POST', body: other, headers: { authorization: `Bearer ${token}`, ...marked } });
    const text = await res.body.text();
    assert.equal(res.statusCode, 400);
    assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'GH_CRYPTO_KEY_UNKNOWN');
    assert.ok(!text.includes('stream-key-v0'), 'the attacker-chosen key id is not reflected');
    assert.equal(upstream.requests.filter((r) => r.body.equals(other)).length, 0);
    assert.deepEqual(await send('/any-key/publish', other, marked), { status: 200, code: undefined, forwarded: 1 });
    assert.ok(upstream.requests.at(-1)?.body.equals(other));
  });

  test('requests without a body pass; a route without the requirement still forwards plaintext', async () => {
    assert.deepEqual(await send('/orders/messages', undefined, {}, 'GET'), { status: 200, code: undefined, forwarded: 1 });
    assert.deepEqual(await send('/orders/publish', Buffer.alloc(0), { 'content-length': '0' }), { status: 200, code: undefined, forwarded: 1 });
    assert.deepEqual(await send('/loose/publish', 'cleartext', { 'content-type': 'text/plain' }), { status: 200, code: undefined, forwarded: 1 });
    assert.equal(upstream.requests.at(-1)?.body.toString(), 'cleartext');
  });

  test('on a route the gateway decrypts, plaintext is refused and a message is decrypted and forwarded as plaintext', async () => {
    assert.deepEqual(await send('/api/orders', '{"order":42}', { 'content-type': 'application/json' }), { status: 400, code: 'GH_CRYPTO_REQUIRED', forwarded: 0 });
    const good = await encryptRequestBody(Buffer.from('{"order":42}'), bodyKey, { route: 'api' });
    assert.deepEqual(await send('/api/orders', good, marked), { status: 200, code: undefined, forwarded: 1 });
    assert.equal(upstream.requests.at(-1)?.body.toString(), '{"order":42}');
    assert.equal(upstream.requests.at(-1)?.headers['x-gatehouse-encrypted'], undefined);
    // Same key material under another id: refused from the header, before any decryption is attempted.
    const foreign = await encryptRequestBody(Buffer.from('{"order":42}'), { ...bodyKey, id: 'key-2022' }, { route: 'api' });
    assert.deepEqual(await send('/api/orders', foreign, marked), { status: 400, code: 'GH_CRYPTO_KEY_UNKNOWN', forwarded: 0 });
  });

  test('the refusal is logged with its code, never with the refused body', async () => {
    const r = await send('/orders/publish', 'card=4111111111111111', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(r.code, 'GH_CRYPTO_REQUIRED');
    assert.ok(gw.log.lines.some((l) => l.includes('"GH_CRYPTO_REQUIRED"')), 'the refusal is logged');
    assert.ok(!gw.log.lines.join('\n').includes('4111111111111111'), 'no body in the logs');
  });
});

describe('routes[].encryption config', () => {
  const base = { state_dir: '/tmp/gh-e2e-required-no-state' };
  const invalid = (route: Record<string, unknown>, re: RegExp) =>
    assert.throws(
      () => validateConfig({ ...base, routes: [{ name: 'r', prefix: '/r', upstream: 'http://127.0.0.1:9', ...route }] }, { env: { GATEHOUSE_ENV: 'development' } }),
      (e: unknown) => e instanceof GatehouseError && e.code === 'GH_CONFIG_INVALID' && re.test(e.message),
    );

  test('key_ids without required: true is refused (it would check nothing)', () => {
    invalid({ end_to_end: true, encryption: { key_ids: ['stream-key-v1'] } }, /routes\.0\.encryption\.key_ids|routes\[0\]\.encryption\.key_ids/);
  });
  test('required on a public route is refused (public routes skip the checking stages)', () => {
    invalid({ end_to_end: true, auth_required: false, encryption: { required: true } }, /encryption\.required/);
  });
  test('an invalid key id and unknown keys are refused', () => {
    invalid({ end_to_end: true, encryption: { required: true, key_ids: ['bad key id'] } }, /key_ids/);
    invalid({ end_to_end: true, encryption: { required: true, key_id: 'stream-key-v1' } }, /key_id/);
  });

  test('required on a route the gateway must decrypt, without request_bodies, stops the start', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'gh-gw-'));
    try {
      const cfg = validateConfig(
        { state_dir: stateDir, server: { tls: { enabled: false } }, auth: { methods: ['token'] }, routes: [{ name: 'api', prefix: '/api', upstream: 'http://127.0.0.1:9', encryption: { required: true } }] },
        { env: {} },
      );
      await assert.rejects(
        startGateway(cfg, { listen: '127.0.0.1:0', logger: memoryLogger() }),
        (e: unknown) => e instanceof GatehouseError && e.code === 'GH_CONFIG_INVALID' && /routes\[0\]\.encryption\.required/.test(e.message),
      );
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
