/** Doctor check routes.end_to_end_encryption: end-to-end routes that still accept plaintext (seed 002). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkOf } from '../doctor/helpers.js';

const e2e = (extra: Record<string, unknown> = {}) => ({ name: 'orders', prefix: '/orders', upstream: 'https://broker.internal', end_to_end: true, ...extra });

test('production: an end_to_end route without encryption.required warns, naming the route and the setting', async () => {
  const c = await checkOf('routes.end_to_end_encryption', { routes: [e2e()] });
  assert.equal(c.status, 'warn');
  assert.match(c.detail, /routes\[0\] \(orders\) is end_to_end but accepts plaintext bodies \(routes\[0\]\.encryption\.required is not set\)/);
  assert.match(c.source, /seed 002/);
});

test('production: end_to_end routes requiring ciphertext pass; no end_to_end route skips', async () => {
  const c = await checkOf('routes.end_to_end_encryption', { routes: [e2e({ encryption: { required: true, key_ids: ['stream-key-v1'] } })] });
  assert.equal(c.status, 'pass', c.detail);
  assert.equal(c.detail, 'every end_to_end route requires ciphertext');
  assert.equal((await checkOf('routes.end_to_end_encryption', { routes: [{ prefix: '/api', upstream: 'https://api.internal' }] })).status, 'skip');
});

test('development: not warned, but the pass says which routes accept plaintext', async () => {
  const c = await checkOf('routes.end_to_end_encryption', { routes: [e2e()] }, { profile: 'development' });
  assert.equal(c.status, 'pass');
  assert.match(c.detail, /routes\[0\] \(orders\) accept plaintext bodies on end_to_end routes \(warned in production\)/);
});

test('a decrypting route requiring encryption without request_bodies fails (the gateway would not start)', async () => {
  const route = { name: 'api', prefix: '/api', upstream: 'https://api.internal', encryption: { required: true } };
  const c = await checkOf('routes.end_to_end_encryption', { routes: [route] }, { profile: 'development' });
  assert.equal(c.status, 'fail');
  assert.match(c.detail, /routes\[0\] \(api\) requires encrypted bodies the gateway must decrypt, but encryption\.request_bodies is not enabled/);
  const enabled = await checkOf('routes.end_to_end_encryption', { routes: [route], encryption: { enabled: true, key_env: 'K', request_bodies: { enabled: true } } }, { profile: 'development' });
  assert.equal(enabled.status, 'pass', enabled.detail);
});
