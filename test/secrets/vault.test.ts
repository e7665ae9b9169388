import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import type { StateStore } from '../../src/core/store.js';
import { MemoryStore } from '../../src/store/memory.js';
import { openStore } from '../../src/store/index.js';
import { NS_SECRETS, SecretStore, type MasterKeySource } from '../../src/secrets/index.js';
import { MASTER_RELOAD_MS } from '../../src/secrets/vault.js';
import { rejectionCode } from '../helpers/error-code.js';

const START = Date.UTC(2026, 0, 1);
const key = (byte: number): MasterKeySource => ({ material: Buffer.alloc(32, byte), kdf: 'none', source: 'env', origin: 'SECRETS_MASTER_KEY' });
const phrase = (text: string): MasterKeySource => ({ material: Buffer.from(text), kdf: 'pbkdf2-sha256', source: 'env', origin: 'SECRETS_MASTER_KEY' });

const code = rejectionCode;

function setup(store: StateStore = new MemoryStore({ clock: new ManualClock(START) })) {
  const clock = new ManualClock(START);
  const open = (master: MasterKeySource = key(1), extra: { maxVersions?: number; maxValueBytes?: number } = {}) =>
    SecretStore.open({ store, master, clock, kdfIterations: 100_000, ...extra });
  return { store, clock, open };
}

describe('SecretStore', () => {
  test('a value set is read back; the stored record holds neither the value nor any key', async () => {
    const { store, open } = setup();
    const vault = await open();
    assert.deepEqual(await vault.set('global', 'db_password', 'hunter2-correct-horse', { by: 'alice' }), { version: 1 });
    assert.equal((await vault.get('global', 'db_password')).toString(), 'hunter2-correct-horse');
    const raw = JSON.stringify(await store.list(NS_SECRETS));
    assert.ok(!raw.includes('hunter2'), 'plaintext in the store');
    assert.ok(!raw.includes(Buffer.alloc(32, 1).toString('base64')) && !raw.includes(Buffer.alloc(32, 1).toString('hex')), 'master key in the store');
  });

  test('versions: each set adds one, older ones stay readable up to max_versions, then are dropped', async () => {
    const { open } = setup();
    const vault = await open(key(1), { maxVersions: 2 });
    for (const v of ['one-value', 'two-value', 'three-value']) await vault.set('global', 'api', v);
    assert.equal((await vault.get('global', 'api')).toString(), 'three-value');
    assert.equal((await vault.get('global', 'api', { version: 2 })).toString(), 'two-value');
    assert.equal(await code(vault.get('global', 'api', { version: 1 })), 'GH_SECRET_NOT_FOUND');
    const info = await vault.describe('global', 'api');
    assert.deepEqual(info?.versions, [2, 3]);
    assert.equal(info?.version, 3);
  });

  test('per-owner keys: the same value for two owners seals to different ciphertext, and a record moved to another owner does not open', async () => {
    const { store, open } = setup();
    const vault = await open();
    await vault.set('user:alice', 'token', 'same-secret-value');
    await vault.set('user:bob', 'token', 'same-secret-value');
    const alice = (await store.get(NS_SECRETS, 'user:alice/token')) as { versions: { ct: string }[] };
    const bob = (await store.get(NS_SECRETS, 'user:bob/token')) as { versions: { ct: string }[] };
    assert.notEqual(alice.versions[0]?.ct, bob.versions[0]?.ct);
    // Attacker with write access to the store copies alice's record over bob's, fixing the owner field too.
    await store.put(NS_SECRETS, 'user:bob/token', { ...alice, owner: 'user:bob' });
    assert.equal(await code(vault.get('user:bob', 'token')), 'GH_SECRETS_CORRUPT');
    // Without fixing the owner field the record is refused before any decryption.
    await store.put(NS_SECRETS, 'user:bob/token', alice);
    assert.equal(await code(vault.get('user:bob', 'token')), 'GH_SECRETS_CORRUPT');
  });

  test('a version moved into another version slot does not open (the AAD binds the version)', async () => {
    const { store, open } = setup();
    const vault = await open();
    await vault.set('global', 'k', 'first-value');
    await vault.set('global', 'k', 'second-value');
    const rec = (await store.get(NS_SECRETS, 'global/k')) as { versions: { version: number }[] };
    const swapped = { ...rec, versions: [rec.versions[0], { ...rec.versions[0], version: 2 }] };
    await store.put(NS_SECRETS, 'global/k', swapped);
    assert.equal(await code(vault.get('global', 'k')), 'GH_SECRETS_CORRUPT');
  });

  test('a flipped ciphertext byte is GH_SECRETS_CORRUPT, never a wrong value', async () => {
    const { store, open } = setup();
    const vault = await open();
    await vault.set('global', 'k', 'some-secret-value');
    const rec = (await store.get(NS_SECRETS, 'global/k')) as { versions: { ct: string }[] };
    const ct = Buffer.from(rec.versions[0]?.ct as string, 'base64');
    ct[0] = (ct[0] as number) ^ 1;
    await store.put(NS_SECRETS, 'global/k', { ...rec, versions: [{ ...rec.versions[0], ct: ct.toString('base64') }] });
    assert.equal(await code(vault.get('global', 'k')), 'GH_SECRETS_CORRUPT');
  });

  test('a wrong master key is GH_SECRETS_MASTER_KEY_MISMATCH at open, and the message holds no key material', async () => {
    const { open } = setup();
    (await open(key(1))).close();
    try {
      await open(key(2));
      assert.fail('opened with the wrong key');
    } catch (e) {
      assert.equal((e as { code: string }).code, 'GH_SECRETS_MASTER_KEY_MISMATCH');
      const text = `${(e as Error).message} ${(e as { detail?: string }).detail}`;
      assert.ok(!text.includes(Buffer.alloc(32, 2).toString('hex')) && !text.includes(Buffer.alloc(32, 2).toString('base64')));
    }
  });

  test('passphrase master keys: PBKDF2 with a stored salt; the right passphrase opens, a wrong one and a raw key do not', async () => {
    const { open } = setup();
    const vault = await open(phrase('correct horse battery staple'));
    await vault.set('global', 'k', 'value-under-passphrase');
    const again = await open(phrase('correct horse battery staple'));
    assert.equal((await again.get('global', 'k')).toString(), 'value-under-passphrase');
    assert.equal(await code(open(phrase('wrong horse battery staple!'))), 'GH_SECRETS_MASTER_KEY_MISMATCH');
    assert.equal(await code(open(key(1))), 'GH_SECRETS_MASTER_KEY_MISMATCH');
  });

  test('rotateMaster rewraps atomically: the old key no longer opens the store, the new one reads every value, the running store keeps reading', async () => {
    const { open } = setup();
    const vault = await open(key(1));
    await vault.set('global', 'a', 'value-a-123');
    await vault.set('tenant:acme', 'b', 'value-b-456');
    await vault.rotateMaster(key(3));
    assert.equal((await vault.get('tenant:acme', 'b')).toString(), 'value-b-456');
    assert.equal(await code(open(key(1))), 'GH_SECRETS_MASTER_KEY_MISMATCH');
    const fresh = await open(key(3));
    assert.equal((await fresh.get('global', 'a')).toString(), 'value-a-123');
  });

  test('two processes rotating at once: the second, still on the superseded key, is refused and changes nothing', async () => {
    const { open } = setup();
    const first = await open(key(1));
    const second = await open(key(1));
    await first.set('global', 'a', 'value-a-123');
    await first.rotateMaster(key(3));
    assert.equal(await code(second.rotateMaster(key(4))), 'GH_SECRETS_MASTER_KEY_MISMATCH');
    assert.equal(await code(second.rekey()), 'GH_SECRETS_MASTER_KEY_MISMATCH');
    assert.equal(((await (await open(key(3))).get('global', 'a'))).toString(), 'value-a-123');
  });

  test('rekey re-encrypts every value under a new root; prune drops the old root only when nothing uses it', async () => {
    const { store, open } = setup();
    const vault = await open();
    await vault.set('global', 'a', 'value-a-123');
    await vault.set('user:bob', 'b', 'value-b-456');
    const before = (await store.get(NS_SECRETS, 'global/a')) as { versions: { gen: number; ct: string }[] };
    const r = await vault.rekey();
    assert.deepEqual(r, { generation: 2, reencrypted: 2 });
    const after = (await store.get(NS_SECRETS, 'global/a')) as { versions: { gen: number; ct: string }[] };
    assert.equal(after.versions[0]?.gen, 2);
    assert.notEqual(after.versions[0]?.ct, before.versions[0]?.ct);
    // A process opened before the rekey learns of generation 2 on first use.
    assert.deepEqual(await vault.prune(), [1]);
    const other = await open();
    assert.equal((await other.get('user:bob', 'b')).toString(), 'value-b-456');
    assert.deepEqual((await other.status()).generations, [2]);
    // The old ciphertext, put back, cannot be opened: its root is gone.
    await store.put(NS_SECRETS, 'global/a', before);
    assert.equal(await code(other.get('global', 'a')), 'GH_SECRETS_CORRUPT');
  });

  test('after rotate-master and rekey elsewhere, a running store re-reads its key source and adopts the new key (rate-limited)', async () => {
    const { store, open, clock } = setup();
    let current = key(1);
    let reads = 0;
    const reloadMaster = (): MasterKeySource => {
      reads++;
      return { ...current, material: Buffer.from(current.material) };
    };
    const gateway = await SecretStore.open({ store, master: key(1), clock, kdfIterations: 100_000, reloadMaster });
    const operator = await open(key(1));
    await operator.set('global', 'db', 'before-rotation-1');
    assert.equal((await gateway.get('global', 'db')).toString(), 'before-rotation-1');
    await operator.rotateMaster(key(3));
    await operator.rekey();
    // The key file still holds the old key: refused, and the source is not read again within MASTER_RELOAD_MS.
    assert.equal(await code(gateway.get('global', 'db')), 'GH_SECRETS_MASTER_KEY_MISMATCH');
    assert.equal(reads, 1);
    current = key(3);
    assert.equal(await code(gateway.get('global', 'db')), 'GH_SECRETS_MASTER_KEY_MISMATCH');
    assert.equal(reads, 1);
    clock.advance(MASTER_RELOAD_MS);
    assert.equal((await gateway.get('global', 'db')).toString(), 'before-rotation-1');
    assert.equal(reads, 2);
    // New values seal under the new root, and a fresh process on the new key reads them.
    await gateway.set('global', 'db', 'after-rotation-2');
    assert.equal((await (await open(key(3))).get('global', 'db')).toString(), 'after-rotation-2');
  });

  test('without reloadMaster (a key from the environment) a rotated-away store keeps refusing: fail closed', async () => {
    const { open, clock } = setup();
    const gateway = await open(key(1));
    const operator = await open(key(1));
    await operator.set('global', 'db', 'before-rotation-1');
    await operator.rotateMaster(key(3));
    await operator.rekey();
    clock.advance(MASTER_RELOAD_MS);
    assert.equal(await code(gateway.get('global', 'db')), 'GH_SECRETS_MASTER_KEY_MISMATCH');
  });

  test('bad names, owners and values are GH_SECRET_INVALID; a missing secret is GH_SECRET_NOT_FOUND', async () => {
    const { open } = setup();
    const vault = await open(key(1), { maxValueBytes: 16 });
    for (const [owner, name] of [['global', '../x'], ['global', ''], ['admin', 'x'], ['tenant:', 'x'], ['user:a/b', 'x'], ['global', 'a/b'], ['global', '_meta']]) {
      assert.equal(await code(vault.set(owner as string, name as string, 'v')), 'GH_SECRET_INVALID', `${owner} ${name}`);
    }
    assert.equal(await code(vault.set('global', 'x', '')), 'GH_SECRET_INVALID');
    assert.equal(await code(vault.set('global', 'x', 'x'.repeat(17))), 'GH_SECRET_INVALID');
    assert.equal(await code(vault.get('global', 'nope')), 'GH_SECRET_NOT_FOUND');
    assert.equal(await vault.delete('global', 'nope'), false);
  });

  test('list and describe return metadata only; list by owner does not see another owner whose id extends it', async () => {
    const { open } = setup();
    const vault = await open();
    await vault.set('user:al', 'k', 'value-one-1', { description: 'CI token' });
    await vault.set('user:alice', 'k', 'value-two-2');
    const mine = await vault.list('user:al');
    assert.deepEqual(mine.map((s) => `${s.owner}/${s.name}`), ['user:al/k']);
    assert.equal(mine[0]?.description, 'CI token');
    assert.ok(!JSON.stringify(await vault.list()).includes('value-'));
    assert.equal((await vault.list()).length, 2);
    assert.equal(await vault.delete('user:al', 'k'), true);
    assert.equal(await vault.describe('user:al', 'k'), undefined);
  });

  test('SQLite: two handles on one file agree; the first open by two processes at once makes one root', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-secrets-'));
    try {
      const a = openStore({ kind: 'sqlite', path: join(dir, 'state.db') });
      const b = openStore({ kind: 'sqlite', path: join(dir, 'state.db') });
      const [va, vb] = await Promise.all([setup(a).open(), setup(b).open()]);
      await va.set('global', 'shared', 'value-from-a');
      assert.equal((await vb.get('global', 'shared')).toString(), 'value-from-a');
      assert.deepEqual((await vb.status()).generations, [1]);
      await a.close();
      await b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
