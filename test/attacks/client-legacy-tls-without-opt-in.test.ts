/**
 * Attack: downgrade the secure client to TLS 1.0/1.1 with a one-word change (min_version: tls10), without the loud
 * opt-out docs/client.md requires ("tls10 and tls11 need insecure_allow_legacy_tls"). In development the client
 * then lowers OpenSSL's security level to 0 and offers the legacy protocols; only a log line says so.
 * Expected: GH_CONFIG_INVALID naming the setting unless insecure_allow_legacy_tls is true (as the server side does).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/index.js';
import { createSecureClient } from '../../src/client/index.js';

const clientConfig = (tls: Record<string, unknown>) => validateConfig({ client: { url: 'https://127.0.0.1:9', security: { tls } } }, { env: {} }).client;

test('client: min_version tls10 or tls11 without insecure_allow_legacy_tls is refused', async () => {
  for (const min_version of ['tls10', 'tls11']) {
    assert.throws(() => createSecureClient(clientConfig({ min_version })), (e: Error & { code?: string }) => e.code === 'GH_CONFIG_INVALID' && /insecure_allow_legacy_tls/.test(e.message), min_version);
  }
  // The explicit opt-out still works in development (and stays refused in production).
  const legacy = createSecureClient(clientConfig({ min_version: 'tls11', insecure_allow_legacy_tls: true }));
  await legacy.close();
  assert.throws(() => createSecureClient(clientConfig({ min_version: 'tls11', insecure_allow_legacy_tls: true }), { profile: 'production' }), { code: 'GH_CONFIG_PRODUCTION_REFUSED' });
});

test('client: max_version below min_version is a configuration error at creation, not a handshake failure later', () => {
  assert.throws(() => createSecureClient(clientConfig({ min_version: 'tls13', max_version: 'tls12' })), (e: Error & { code?: string }) => e.code === 'GH_CONFIG_INVALID' && /max_version/.test(e.message));
});
