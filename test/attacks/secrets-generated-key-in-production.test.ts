/**
 * Attack: read every stored secret from a copy of a production state directory.
 *
 * Production never generates a master key, because "a key beside the store it protects protects nothing from
 * whoever copies the state directory" (docs/secrets.md). But a key generated earlier — the state directory was first
 * used in development, or `gatehouse secrets set` ran once without SECRETS_MASTER_KEY under the development profile —
 * sits in <state_dir>/keys/secrets-master.key, and production silently used it: a backup of the state directory (or
 * the volume snapshot) holds both the store and its key. `gatehouse doctor` even reports that production "refuses to
 * open the store" in that setup. Production must refuse the generated key, as it refuses to generate one.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/index.js';
import { generatedMasterKeyPath, loadMasterKey, openSecrets, type SecretsConfig } from '../../src/secrets/index.js';
import { MemoryStore } from '../../src/store/memory.js';

const secretsCfg = (): SecretsConfig => validateConfig({ secrets: {} }, { env: {} }).secrets;

describe('the generated development master key in production', () => {
  test('a key generated in development is refused in production: GH_SECRETS_MASTER_KEY_MISSING naming the file to move away', (t) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'gh-atk-devkey-'));
    t.after(() => rmSync(stateDir, { recursive: true, force: true }));
    assert.equal(loadMasterKey(secretsCfg(), { env: {}, stateDir, profile: 'development' }).source, 'generated');
    assert.throws(
      () => loadMasterKey(secretsCfg(), { env: {}, stateDir, profile: 'production' }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'GH_SECRETS_MASTER_KEY_MISSING', `production opened the store with ${generatedMasterKeyPath(stateDir)}`);
        assert.match(e.message, /SECRETS_MASTER_KEY/);
        assert.ok(e.message.includes(generatedMasterKeyPath(stateDir)), e.message);
        return true;
      },
    );
  });

  test('openSecrets in production with only the generated key beside the store: a secret: reference does not resolve', async (t) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'gh-atk-devkey-'));
    t.after(() => rmSync(stateDir, { recursive: true, force: true }));
    const store = new MemoryStore();
    const dev = openSecrets(secretsCfg(), { store, stateDir, profile: 'development', env: {} });
    await (await dev.vault()).set('global', 'inventory_token', 'fake-inventory-token-000000001');
    dev.close();
    const prod = openSecrets(secretsCfg(), { store, stateDir, profile: 'production', env: {} });
    try {
      await assert.rejects(prod.resolver.resolve('secret:inventory_token'), { code: 'GH_SECRETS_MASTER_KEY_MISSING' });
    } finally {
      prod.close();
    }
  });

  test('with SECRETS_MASTER_KEY set, production ignores the generated file and uses the configured key', (t) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'gh-atk-devkey-'));
    t.after(() => rmSync(stateDir, { recursive: true, force: true }));
    loadMasterKey(secretsCfg(), { env: {}, stateDir, profile: 'development' });
    const key = loadMasterKey(secretsCfg(), { env: { SECRETS_MASTER_KEY: 'ab'.repeat(32) }, stateDir, profile: 'production' });
    assert.equal(key.source, 'env');
    assert.deepEqual(key.material, Buffer.from('ab'.repeat(32), 'hex'));
  });
});
