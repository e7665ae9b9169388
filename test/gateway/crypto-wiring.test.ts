import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { encryptRequestBody, type MessageKey } from '../../src/crypto/index.js';
import { openTokenService } from '../../src/authn/index.js';
import { startRecordingUpstream, startTestGateway, type TestGateway } from '../helpers/gateway.js';

describe('encryption through the gateway', () => {
  const keyHex = randomBytes(32).toString('hex');
  const key: MessageKey = { id: 'key-2023', algorithm: 'aes-256-gcm', material: Buffer.from(keyHex, 'hex') };
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let gw: TestGateway;
  let mint: (scopes: string[]) => Promise<string>;

  before(async () => {
    process.env['GH_TEST_BODY_KEY'] = keyHex;
    upstream = await startRecordingUpstream();
    gw = await startTestGateway({
      routes: [
        { name: 'api', prefix: '/api', upstream: upstream.url, auth_required: true },
        { name: 'broker', prefix: '/broker', upstream: upstream.url, auth_required: true, end_to_end: true },
      ],
      auth: { methods: ['token'] },
      authz: { routes: [{ path: '/api/*', scopes: ['system:read'] }, { path: '/broker/*', scopes: ['system:read'] }] },
      encryption: { enabled: true, key_env: 'GH_TEST_BODY_KEY', key_id: 'key-2023', request_bodies: { enabled: true }, transit: { enabled: true } },
    });
    mint = async (scopes) => {
      const svc = openTokenService(gw.config, { stateDir: gw.stateDir });
      return (await svc.mint({ agent: 'crypto-test', scopes, ttlMs: 3_600_000 })).token;
    };
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
    delete process.env['GH_TEST_BODY_KEY'];
  });

  test('a client-encrypted body is decrypted before policy and forwarded as plaintext, marker removed', async () => {
    const token = await mint(['readonly']);
    const body = await encryptRequestBody(Buffer.from('{"order":42}'), key, { route: 'api' });
    const res = await request(`${gw.url}/api/orders`, { method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'x-gatehouse-encrypted': 'v1', 'content-type': 'application/json' } });
    assert.equal(res.statusCode, 200, await res.body.text());
    const seen = upstream.requests.at(-1);
    assert.equal(seen?.body, '{"order":42}');
    assert.equal(seen?.headers['x-gatehouse-encrypted'], undefined);
  });

  test('tampered ciphertext is refused with its own code and never reaches the upstream', async () => {
    const token = await mint(['readonly']);
    const body = await encryptRequestBody(Buffer.from('{"order":42}'), key, { route: 'api' });
    body[body.length - 1] ^= 1;
    const before = upstream.requests.length;
    const res = await request(`${gw.url}/api/orders`, { method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'x-gatehouse-encrypted': 'v1' } });
    assert.equal(res.statusCode, 400);
    assert.equal(((await res.body.json()) as { error: { code: string } }).error.code, 'GH_CRYPTO_DECRYPT_FAILED');
    assert.equal(upstream.requests.length, before);
  });

  test('a body encrypted for another route does not open here', async () => {
    const token = await mint(['readonly']);
    const body = await encryptRequestBody(Buffer.from('x'), key, { route: 'other' });
    const res = await request(`${gw.url}/api/orders`, { method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'x-gatehouse-encrypted': 'v1' } });
    assert.equal(res.statusCode, 400);
    await res.body.dump();
  });

  test('end-to-end routes forward the ciphertext untouched (the broker path cannot open it)', async () => {
    const token = await mint(['readonly']);
    const body = await encryptRequestBody(Buffer.from('secret payload'), key, { route: 'broker' });
    const res = await request(`${gw.url}/broker/publish`, { method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'x-gatehouse-encrypted': 'v1' } });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    const seen = upstream.requests.at(-1);
    assert.equal(seen?.headers['x-gatehouse-encrypted'], 'v1');
    assert.ok(!seen?.body.includes('secret payload'));
  });

  test('transit API: encrypt and decrypt round trip with transit scopes; refused without them', async () => {
    const token = await mint(['transit:encrypt', 'transit:decrypt']);
    const plaintext = Buffer.from('card 4111').toString('base64');
    const enc = await request(`${gw.url}/_gatehouse/v1/encrypt/default`, { method: 'POST', body: JSON.stringify({ plaintext }), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    assert.equal(enc.statusCode, 200);
    const { ciphertext } = ((await enc.body.json()) as { data: { ciphertext: string } }).data; // Vault-style { data: … }
    assert.ok(ciphertext && !ciphertext.includes(plaintext));
    const dec = await request(`${gw.url}/_gatehouse/v1/decrypt/default`, { method: 'POST', body: JSON.stringify({ ciphertext }), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    assert.equal(dec.statusCode, 200);
    assert.equal(((await dec.body.json()) as { data: { plaintext: string } }).data.plaintext, plaintext);
    const reader = await mint(['readonly']);
    const denied = await request(`${gw.url}/_gatehouse/v1/encrypt/default`, { method: 'POST', body: JSON.stringify({ plaintext }), headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' } });
    assert.equal(denied.statusCode, 403);
    await denied.body.dump();
  });
});
