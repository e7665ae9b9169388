/**
 * Attack (after a compromise): keep new secrets sealed under the root the attacker already holds.
 *
 * Recovery from a leaked master key is `rotate-master` then `rekey --prune` (docs/secrets.md). A process that opened
 * the store before the rekey — an application storing its users' keys through the library (seed 003's per-user
 * secrets), or a long `secrets set` — keeps the old generation as its `current` in memory and goes on sealing every
 * new value under the old root: the one the attacker unwrapped from a backup with the leaked key. Worse, once that root
 * is pruned, the values it writes open for no one else (GH_SECRETS_CORRUPT), nor for itself after a restart.
 * A writer must seal under the store's current generation, or refuse.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { MemoryStore } from '../../src/store/memory.js';
import { NS_SECRETS, SecretStore, type MasterKeySource } from '../../src/secrets/index.js';

const key = (byte: number): MasterKeySource => ({ material: Buffer.alloc(32, byte), kdf: 'none', source: 'env', origin: 'SECRETS_MASTER_KEY' });

describe('a writer that opened the store before a rekey', () => {
  test('rekey --prune in another process: the running writer\'s next set is sealed under the new root and readable by others', async () => {
    const store = new MemoryStore({ clock: new ManualClock(Date.UTC(2026, 0, 1)) });
    const app = await SecretStore.open({ store, master: key(1), kdfIterations: 100_000 });
    await app.set('user:alice', 'openai_key', 'fake-alice-key-before-000000001');
    // The operator's recovery, in another process, while the application keeps running.
    const ops = await SecretStore.open({ store, master: key(1), kdfIterations: 100_000 });
    const { generation } = await ops.rekey();
    assert.deepEqual(await ops.prune(), [1]);
    ops.close();

    await app.set('user:bob', 'openai_key', 'fake-bob-key-after-rekey-00000002');
    const rec = (await store.get(NS_SECRETS, 'user:bob/openai_key')) as { versions: { gen: number }[] };
    assert.deepEqual(rec.versions.map((v) => v.gen), [generation], 'the running writer sealed under the pruned (compromised) root');
    app.close();

    const fresh = await SecretStore.open({ store, master: key(1), kdfIterations: 100_000 });
    try {
      assert.equal((await fresh.get('user:bob', 'openai_key')).toString(), 'fake-bob-key-after-rekey-00000002');
    } finally {
      fresh.close();
    }
  });

  test('rotate-master and rekey in another process: the writer still on the old master key refuses to set rather than use the old root', async () => {
    const store = new MemoryStore({ clock: new ManualClock(Date.UTC(2026, 0, 1)) });
    const app = await SecretStore.open({ store, master: key(1), kdfIterations: 100_000 });
    await app.set('global', 'a', 'fake-value-a-000000000000000001');
    const ops = await SecretStore.open({ store, master: key(1), kdfIterations: 100_000 });
    await ops.rotateMaster(key(2));
    await ops.rekey();
    ops.close();
    await assert.rejects(app.set('global', 'b', 'fake-value-b-000000000000000002'), { code: 'GH_SECRETS_MASTER_KEY_MISMATCH' });
    assert.equal(await store.get(NS_SECRETS, 'global/b'), undefined, 'a value was written under the old root');
    app.close();
  });
});
