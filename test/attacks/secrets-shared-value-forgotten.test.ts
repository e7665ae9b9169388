/**
 * Attack: make the redactor forget a credential the gateway still injects.
 *
 * The injector registers every injected value with the process-wide known-secret registry and forgets a route's old
 * values when that route's secret changes. Two routes can carry the same value: one pinned to a version
 * (`secret:NAME@1`, the documented rollback), the other following the newest; or the same credential reached through
 * two references while a migration is under way. When the newest version changes, the second route forgets the old
 * value although the first one still sends it: an upstream on the first route echoing it in an error body, or a log
 * line quoting it, is no longer redacted.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { ManualClock } from '../../src/core/clock.js';
import type { Exchange } from '../../src/core/types.js';
import { createRedactor } from '../../src/redact/index.js';
import { createCredentialInjector, createResolver, SecretStore } from '../../src/secrets/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { memoryLogger } from '../helpers/gateway.js';

const FIRST = 'fake-shared-token-v1-0000000001';
const SECOND = 'fake-shared-token-v2-0000000002';

const exchangeOn = (route: string): Exchange => ({ route: { name: route, prefix: `/${route}`, kind: 'http' }, upstreamHeaders: {} }) as unknown as Exchange;

describe('a value still injected by one route stays known to the redactor when another route moves on', () => {
  test('pinned route (secret:tok@1) listed before the route following secret:tok: after tok changes, the pinned value is still redacted', async () => {
    const store = new MemoryStore({ clock: new ManualClock(Date.UTC(2026, 0, 1)) });
    const vault = await SecretStore.open({ store, master: { material: Buffer.alloc(32, 9), kdf: 'none', source: 'env', origin: 'TEST_KEY' }, kdfIterations: 100_000 });
    await vault.set('global', 'tok', FIRST);
    const resolver = createResolver({ vault: async () => vault, fileDir: tmpdir() });
    const injector = await createCredentialInjector(
      [
        { name: 'pinned', auth: { headers: { 'X-Api-Key': 'secret:tok@1' } } },
        { name: 'latest', auth: { bearer: 'secret:tok', headers: {} } },
      ],
      { resolver, vault: async () => vault, refreshMs: 60_000, logger: memoryLogger() },
    );
    try {
      await vault.set('global', 'tok', SECOND);
      await injector.refresh();
      const pinned = exchangeOn('pinned');
      await injector.stage(pinned);
      assert.equal(pinned.upstreamHeaders['x-api-key'], FIRST, 'the pinned route still sends version 1');
      const latest = exchangeOn('latest');
      await injector.stage(latest);
      assert.equal(latest.upstreamHeaders['authorization'], `Bearer ${SECOND}`);
      const echoed = createRedactor({}).redactText(`upstream error: key ${FIRST} is not allowed here`);
      assert.ok(!echoed.includes(FIRST), `a credential still injected on route "pinned" is no longer redacted: ${echoed}`);
    } finally {
      injector.close();
      vault.close();
    }
  });
});
