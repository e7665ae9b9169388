/**
 * tls.ciphers judges the suites OpenSSL actually enables for server.tls.ciphers, not only the @SECLEVEL=0 refusal:
 * it said PASS "admits no … weak suites" for AES128-SHA:AES256-SHA:CAMELLIA128-SHA (RSA key exchange, CBC, SHA-1),
 * a list a handshake really negotiated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkOf } from './helpers.js';

const tls = (ciphers?: string, extra: Record<string, unknown> = {}) => ({ server: { tls: { cert_file: '/etc/gh/server.crt', key_file: '/etc/gh/server.key', ...(ciphers ? { ciphers } : {}), ...extra } } });

test('the default list (Mozilla intermediate) passes', async () => {
  const c = await checkOf('tls.ciphers', tls());
  assert.equal(c.status, 'pass', c.detail);
  assert.match(c.detail, /only forward-secret AEAD suites/);
});

test('RSA key exchange, CBC and SHA-1 suites are warned about, each named', async () => {
  const c = await checkOf('tls.ciphers', tls('AES128-SHA:AES256-SHA:CAMELLIA128-SHA'));
  assert.equal(c.status, 'warn', c.detail);
  assert.match(c.detail, /without forward secrecy/);
  assert.match(c.detail, /CBC suites/);
  assert.match(c.detail, /SHA-1/);
});

test('a forward-secret CBC suite with SHA-256 is warned about as CBC only', async () => {
  const c = await checkOf('tls.ciphers', tls('ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA256'));
  assert.equal(c.status, 'warn', c.detail);
  assert.match(c.detail, /CBC suites/);
  assert.doesNotMatch(c.detail, /forward secrecy|SHA-1/);
});

test('aliases are expanded as OpenSSL expands them: HIGH admits anonymous suites (a failure in production)', async () => {
  const prod = await checkOf('tls.ciphers', tls('HIGH'));
  assert.equal(prod.status, 'fail', prod.detail);
  assert.match(prod.detail, /anonymous suites/);
  const dev = await checkOf('tls.ciphers', tls('HIGH'), { profile: 'development' });
  assert.equal(dev.status, 'warn', dev.detail);
  const narrowed = await checkOf('tls.ciphers', tls('HIGH:!aNULL:!kRSA:!PSK:!SRP:!SHA1:!SHA256:!SHA384'));
  assert.equal(narrowed.status, 'pass', narrowed.detail);
});

test('NULL encryption fails in production', async () => {
  const c = await checkOf('tls.ciphers', tls('ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-NULL-SHA'));
  assert.equal(c.status, 'fail', c.detail);
  assert.match(c.detail, /NULL, RC4, DES/);
});

test('TLS 1.3 only: the TLS 1.2 list is not used', async () => {
  const c = await checkOf('tls.ciphers', tls('AES128-SHA', { min_version: 'tls13' }));
  assert.equal(c.status, 'pass', c.detail);
});
