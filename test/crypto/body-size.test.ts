import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { openTokenService } from '../../src/authn/index.js';
import { encryptRequestBody, type MessageKey } from '../../src/crypto/index.js';
import { startRecordingUpstream, startTestGateway, type TestGateway } from '../helpers/gateway.js';

// docs/encryption.md: `request_bodies.max_bytes` is the largest encrypted body. A route that allows large plaintext
// uploads must not let a client make the gateway decrypt (and hold twice) bodies above it.
const keyHex = randomBytes(32).toString('hex');
const key: MessageKey = { id: 'key-2023', algorithm: 'aes-256-gcm', material: Buffer.from(keyHex, 'hex') };
let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
let gw: TestGateway;
let token: string;

before(async () => {
  process.env['GH_TEST_BODY_SIZE_KEY'] = keyHex;
  upstream = await startRecordingUpstream();
  gw = await startTestGateway({
    routes: [{ name: 'uploads', prefix: '/uploads', upstream: upstream.url, auth_required: true, max_body_size: '1mb' }],
    auth: { methods: ['token'] },
    authz: { routes: [{ path: '/uploads/*', scopes: ['system:read'] }] },
    encryption: { enabled: true, key_env: 'GH_TEST_BODY_SIZE_KEY', key_id: 'key-2023', request_bodies: { enabled: true, max_bytes: '4kb' } },
  });
  const svc = openTokenService(gw.config, { stateDir: gw.stateDir });
  token = (await svc.mint({ agent: 'body-size-test', scopes: ['readonly'], ttlMs: 3_600_000 })).token;
});
after(async () => {
  await gw.stop();
  await upstream.close();
  delete process.env['GH_TEST_BODY_SIZE_KEY'];
});

const post = (body: Buffer) =>
  request(`${gw.url}/uploads/file`, { method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'x-gatehouse-encrypted': 'v1' } });

test('an encrypted body above request_bodies.max_bytes is refused with 413 and never decrypted or forwarded', async () => {
  const small = await encryptRequestBody(Buffer.alloc(1024, 0x61), key, { route: 'uploads' });
  const ok = await post(small);
  assert.equal(ok.statusCode, 200, await ok.body.text());
  const before = upstream.requests.length;
  const big = await encryptRequestBody(Buffer.alloc(64 * 1024, 0x62), key, { route: 'uploads' });
  const res = await post(big);
  assert.equal(res.statusCode, 413);
  assert.equal(((await res.body.json()) as { error: { code: string } }).error.code, 'GH_BODY_TOO_LARGE');
  assert.equal(upstream.requests.length, before);
});
