/** routes.cors: "*" is a production refusal; plain-http origins and credentials for wildcard origins warn. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkOf } from './helpers.js';

const route = (cors: Record<string, unknown>) => ({ routes: [{ name: 'api', prefix: '/api', upstream: 'https://api.internal', cors }] });

test('routes.cors: listed https origins pass; no cors route skips', async () => {
  assert.equal((await checkOf('routes.cors', route({ allowed_origins: ['https://app.example.com', 'http://localhost:5173'] }))).status, 'pass');
  assert.equal((await checkOf('routes.cors', {})).status, 'skip');
});

test('routes.cors: "*" fails in production and warns in development', async () => {
  const prod = await checkOf('routes.cors', route({ allowed_origins: ['*'] }));
  assert.equal(prod.status, 'fail');
  assert.match(prod.detail, /routes\[0\]\.cors\.allowed_origins contains "\*"/);
  assert.equal((await checkOf('routes.cors', route({ allowed_origins: ['*'] }), { profile: 'development' })).status, 'warn');
});

test('routes.cors: a plain-http origin off loopback and credentials for a wildcard origin warn, naming the route', async () => {
  const plain = await checkOf('routes.cors', route({ allowed_origins: ['http://intranet.example.com'] }));
  assert.equal(plain.status, 'warn');
  assert.match(plain.detail, /routes\[0\] \(api\) allows plain-http origins \(http:\/\/intranet\.example\.com\)/);
  const wild = await checkOf('routes.cors', route({ allowed_origins: ['https://*.example.com'], allow_credentials: true }));
  assert.equal(wild.status, 'warn');
  assert.match(wild.detail, /sends credentials to wildcard origins/);
  assert.equal((await checkOf('routes.cors', route({ allowed_origins: ['https://*.example.com'] }))).status, 'pass');
});
