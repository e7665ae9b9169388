import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatehouseError } from '../../src/core/errors.js';
import { MemoryStore } from '../../src/store/index.js';
import { createStreamKey, inspectCiphertext, publishEncrypted, receiveEncrypted } from '../../src/crypto/e2e.js';
import { DataKeyManager } from '../../src/crypto/envelope.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { LocalKms } from '../../src/crypto/kms.js';
import { readBody, serve } from '../crypto/helpers.js';

// Seed 002 end-to-end mode: the broker routes ciphertext it cannot open. The broker here is a real HTTP server that
// holds the gateway's own keys (keyring, data keys, KMS) but not the stream key: every attempt to open fails.
test('the broker path routes end-to-end ciphertext by metadata and cannot decrypt it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-e2e-'));
  const streamKey = createStreamKey('stream-key-v1');
  const address = { tenant: 'acme-corp', namespace: 'production', stream: 'orders' };
  const store = new MemoryStore();
  const kms = LocalKms.open({ key_dir: dir });
  const gatewayRing = await Keyring.open({ name: 'default', store, kms });
  const gatewayDataKeys = new DataKeyManager({ kms, store });
  const delivered: Buffer[] = [];
  const brokerAttempts: string[] = [];

  const broker = await serve(async (req, res) => {
    const body = await readBody(req);
    const info = inspectCiphertext(body);
    for (const attempt of [() => gatewayRing.decryptSync(body), () => gatewayDataKeys.decrypt({ tenant: address.tenant, stream: address.stream }, body)]) {
      try {
        await attempt();
        brokerAttempts.push('OPENED');
      } catch (e) {
        brokerAttempts.push((e as GatehouseError).code);
      }
    }
    delivered.push(body);
    res.writeHead(202, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ routed_to: req.url, key_id: info.keyId, bytes: info.payloadBytes }));
  });
  try {
    const payload = Buffer.from('{"order":42,"card":"4111"}');
    const message = publishEncrypted(streamKey, address, payload);
    const r = await fetch(`${broker.url}/acme-corp/production/orders`, { method: 'POST', body: message });
    assert.equal(r.status, 202);
    assert.deepEqual(await r.json(), { routed_to: '/acme-corp/production/orders', key_id: 'stream-key-v1', bytes: payload.length });
    assert.deepEqual(brokerAttempts, ['GH_CRYPTO_KEY_UNKNOWN', 'GH_CRYPTO_KEY_UNKNOWN']);
    assert.ok(!(delivered[0] as Buffer).includes(Buffer.from('4111')), 'the broker holds only ciphertext');
    assert.deepEqual(receiveEncrypted(streamKey, address, delivered[0] as Buffer), payload);
    assert.throws(() => receiveEncrypted(streamKey, { ...address, stream: 'payments' }, delivered[0] as Buffer), (e: unknown) => (e as GatehouseError).code === 'GH_CRYPTO_DECRYPT_FAILED');
  } finally {
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
