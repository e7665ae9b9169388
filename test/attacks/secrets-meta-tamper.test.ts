/**
 * Attacks by someone who can write state.db but does not know the master key, on the store's `_meta` record.
 *
 * What holds (asserted here so it stays held): a KDF downgrade (pbkdf2 → none), iterations lowered to 1, a replaced
 * salt or key check, or roots swapped for attacker-made ones never open the store (GH_SECRETS_MASTER_KEY_MISMATCH or
 * GH_SECRETS_CORRUPT), so no attacker-chosen value is ever injected.
 *
 * What did not hold:
 * - PBKDF2 iterations are taken from `_meta` unbounded: a value past 2^31 makes node:crypto throw a RangeError (not
 *   GH_SECRETS_CORRUPT), and 2^31-1 would hold every open for hours. Bounded to what the config accepts.
 * - `current` is not bound to anything. After a compromise of the old master key and its roots (a backup), the
 *   operator runs rotate-master and rekey: the old root stays in `_meta`, retired and rewrapped, until pruned. Pointing
 *   `current` back at it makes every later `set` seal under a root the attacker already knows. `current` must be the
 *   newest generation, never a retired one.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { MemoryStore } from '../../src/store/memory.js';
import { NS_SECRETS, SecretStore, type MasterKeySource } from '../../src/secrets/index.js';
import { rejectionCode } from '../helpers/error-code.js';

const key = (byte: number): MasterKeySource => ({ material: Buffer.alloc(32, byte), kdf: 'none', source: 'env', origin: 'SECRETS_MASTER_KEY' });
const phrase = (text: string): MasterKeySource => ({ material: Buffer.from(text), kdf: 'pbkdf2-sha256', source: 'env', origin: 'SECRETS_MASTER_KEY' });
type Meta = { kdf: Record<string, unknown>; check: string; current: number; roots: Record<string, Record<string, unknown>> };

const code = rejectionCode;

const newStore = () => new MemoryStore({ clock: new ManualClock(Date.UTC(2026, 0, 1)) });
const open = (store: MemoryStore, master: MasterKeySource) => SecretStore.open({ store, master, kdfIterations: 100_000 });

async function tamperMeta(store: MemoryStore, fn: (m: Meta) => void): Promise<void> {
  const meta = structuredClone(await store.get<Meta>(NS_SECRETS, '_meta')) as Meta;
  fn(meta);
  await store.put(NS_SECRETS, '_meta', meta);
}

describe('_meta tampered by a store writer without the master key', () => {
  test('holds: KDF downgrade, 1 iteration, another salt, an attacker\'s own key check and roots never open the store', async () => {
    const store = newStore();
    (await open(store, phrase('correct horse battery staple'))).close();
    const pristine = structuredClone(await store.get<Meta>(NS_SECRETS, '_meta')) as Meta;
    const attempts: [string, (m: Meta) => void][] = [
      ['kdf none', (m) => void (m.kdf = { alg: 'none' })],
      ['1 iteration', (m) => void (m.kdf['iterations'] = 1)],
      ['another salt', (m) => void (m.kdf['salt'] = Buffer.alloc(16, 1).toString('base64'))],
    ];
    for (const [what, fn] of attempts) {
      await store.put(NS_SECRETS, '_meta', structuredClone(pristine));
      await tamperMeta(store, fn);
      assert.equal(await code(open(store, phrase('correct horse battery staple'))), 'GH_SECRETS_MASTER_KEY_MISMATCH', what);
    }
    // The attacker seals a store of its own under its own key and puts its _meta in place: the real key is refused.
    const own = newStore();
    const theirs = await open(own, phrase('attacker passphrase 0123456789'));
    theirs.close();
    await store.put(NS_SECRETS, '_meta', await own.get(NS_SECRETS, '_meta'));
    assert.equal(await code(open(store, phrase('correct horse battery staple'))), 'GH_SECRETS_MASTER_KEY_MISMATCH');
  });

  test('PBKDF2 iterations far past the configured bound are GH_SECRETS_CORRUPT at open, not a RangeError or a hang', async () => {
    // 20,000,000 is past the config's 10,000,000: seconds per open here, hours at 2^31-1 (not run: it would hang).
    for (const iterations of [20_000_000, 2 ** 40, Number.MAX_SAFE_INTEGER, 50_000_000_000]) {
      const store = newStore();
      (await open(store, phrase('correct horse battery staple'))).close();
      await tamperMeta(store, (m) => void (m.kdf['iterations'] = iterations));
      assert.equal(await code(open(store, phrase('correct horse battery staple'))), 'GH_SECRETS_CORRUPT', `iterations ${iterations}`);
    }
  });

  test('current pointed back at a retired root (known from a pre-compromise backup) is GH_SECRETS_CORRUPT, and nothing is sealed under it', async () => {
    const store = newStore();
    const vault = await open(store, key(1));
    await vault.set('global', 'inventory_token', 'fake-inventory-token-before-000');
    // The compromise procedure without --prune (or with a value still on the old root): rotate, then rekey.
    await vault.rotateMaster(key(2));
    await vault.rekey();
    vault.close();
    // The attacker points current at generation 1 again and erases its retirement.
    await tamperMeta(store, (m) => {
      m.current = 1;
      delete m.roots['1']?.['retired_at'];
    });
    const opened = await code(open(store, key(2)));
    assert.equal(opened, 'GH_SECRETS_CORRUPT', 'a store whose current root is not the newest generation was opened');
  });

  test('current pointed at a retired root under a running writer: the next set refuses rather than seal under the old root', async () => {
    const store = newStore();
    const vault = await open(store, key(1));
    await vault.set('global', 'a', 'fake-value-a-000000000000000001');
    await vault.rekey();
    await tamperMeta(store, (m) => {
      m.current = 1;
      delete m.roots['1']?.['retired_at'];
    });
    const r = await code(vault.set('global', 'b', 'fake-value-b-000000000000000002'));
    vault.close();
    const rec = (await store.get<{ versions: { gen: number }[] }>(NS_SECRETS, 'global/b'));
    assert.ok(rec === undefined || rec.versions.every((v) => v.gen === 2), `a value was sealed under the retired root 1 (set answered ${r})`);
  });
});
