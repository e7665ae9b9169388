/**
 * Attack (race): keep a gateway on a credential that was replaced while it started.
 *
 * The injector resolves every reference at start, then takes the store's change-feed position to follow changes
 * from. A `secrets set` (or `delete`) landing between the two is behind that position: the gateway never sees it and
 * goes on injecting the replaced value, with no 503 and no reload, until the secret happens to change again. The
 * operator rotated a leaked upstream key, yet the gateway keeps sending it: "never sent on with a stale one" is broken.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { ManualClock } from '../../src/core/clock.js';
import type { Exchange } from '../../src/core/types.js';
import { createCredentialInjector, createResolver, SecretStore, type SecretResolver } from '../../src/secrets/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { memoryLogger } from '../helpers/gateway.js';

const LEAKED = 'fake-leaked-upstream-key-000001';
const ROTATED = 'fake-rotated-upstream-key-00002';

describe('a secret changed while the gateway starts is followed', () => {
  test('set between the start-up resolution and the change-feed position: the next refresh injects the new value', async () => {
    const store = new MemoryStore({ clock: new ManualClock(Date.UTC(2026, 0, 1)) });
    const vault = await SecretStore.open({ store, master: { material: Buffer.alloc(32, 4), kdf: 'none', source: 'env', origin: 'TEST_KEY' }, kdfIterations: 100_000 });
    await vault.set('global', 'inventory_token', LEAKED);
    const real = createResolver({ vault: async () => vault, fileDir: tmpdir() });
    let raced = false;
    // The operator's `secrets set` lands right after the gateway read the value, before it looks at the change feed.
    const resolver: SecretResolver = {
      ...real,
      async resolve(ref) {
        const v = await real.resolve(ref);
        if (!raced) {
          raced = true;
          await vault.set('global', 'inventory_token', ROTATED);
        }
        return v;
      },
    };
    const injector = await createCredentialInjector([{ name: 'inv', auth: { bearer: 'secret:inventory_token', headers: {} } }], { resolver, vault: async () => vault, refreshMs: 60_000, logger: memoryLogger() });
    try {
      await injector.refresh();
      await injector.refresh();
      const ex = { route: { name: 'inv', prefix: '/inv', kind: 'http' }, upstreamHeaders: {} } as unknown as Exchange;
      await injector.stage(ex);
      assert.equal(ex.upstreamHeaders['authorization'], `Bearer ${ROTATED}`, 'the gateway still injects the value replaced during its start');
    } finally {
      injector.close();
      vault.close();
    }
  });
});
