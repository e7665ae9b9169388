/**
 * Someone who can write state.db but holds no key material (a leaked store file, a shared PostgreSQL role, a backup
 * restored by the wrong hands) edits the key ring's row — the reviewer's poc/rollback.cjs: the retired, compromised
 * key orders-v1 made active and primary again, its nonce counter reset. The state is now MACed under a key derived
 * from the KMS master key, retire shreds the key's wrapped material, and a state stripped of its MAC or rolled back
 * is refused; a ring stored before the MAC is refused until `gatehouse keys seal` (Keyring.sealUnsealed) vouches for it.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { SqliteStore } from '../../src/store/index.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { LocalKms, type KmsProvider } from '../../src/crypto/kms.js';
import { KEYRING_NS, type RingState } from '../../src/crypto/keyring-state.js';
import { rejectionCode } from '../helpers/error-code.js';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3') as new (path: string) => {
  prepare(sql: string): { get(...a: unknown[]): { value: string } | undefined; run(...a: unknown[]): unknown };
  close(): void;
};

let dir: string;
let clock: ManualClock;
let stores: SqliteStore[];
const dbPath = () => join(dir, 'state.db');
const kms = () => LocalKms.open({ key_dir: join(dir, 'kms') });
const store = () => {
  const s = new SqliteStore(dbPath());
  stores.push(s);
  return s;
};
const open = (k: KmsProvider = kms()) => Keyring.open({ name: 'orders', store: store(), kms: k, clock });

/** The attacker: rewrites the row with plain SQL, as poc/rollback.cjs does. */
function editRow(fn: (s: RingState & Record<string, unknown>) => void): void {
  const db = new Database(dbPath());
  try {
    const row = db.prepare('SELECT value FROM kv WHERE ns = ? AND key = ?').get(KEYRING_NS, 'orders');
    const s = JSON.parse((row as { value: string }).value) as RingState & Record<string, unknown>;
    fn(s);
    db.prepare('UPDATE kv SET value = ? WHERE ns = ? AND key = ?').run(JSON.stringify(s), KEYRING_NS, 'orders');
  } finally {
    db.close();
  }
}
const readRow = (): string => {
  const db = new Database(dbPath());
  try {
    return (db.prepare('SELECT value FROM kv WHERE ns = ? AND key = ?').get(KEYRING_NS, 'orders') as { value: string }).value;
  } finally {
    db.close();
  }
};
const writeRow = (value: string): void => {
  const db = new Database(dbPath());
  try {
    db.prepare('UPDATE kv SET value = ? WHERE ns = ? AND key = ?').run(value, KEYRING_NS, 'orders');
  } finally {
    db.close();
  }
};

/** The operator's story: orders-v1 sealed data, was suspected compromised, rotated out and retired. */
async function retiredV1(): Promise<{ ring: Keyring; old: Buffer; current: Buffer }> {
  const ring = await open();
  const old = await ring.encrypt(Buffer.from('card=4111111111111111'));
  await ring.rotate();
  const current = await ring.encrypt(Buffer.from('under v2'));
  await ring.retire('orders-v1');
  return { ring, old, current };
}

const unRetire = (s: RingState) => {
  const k = s.keys.find((x) => x.id === 'orders-v1');
  if (!k) throw new Error('no orders-v1');
  k.status = 'active';
  delete k.retired_at;
  k.encryptions = 0;
  s.primary_id = 'orders-v1';
};

describe('key ring state edited by a store writer without key material', () => {
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gh-ring-tamper-'));
    clock = new ManualClock();
    stores = [];
  });
  afterEach(async () => {
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('retire is crypto-shredding: the retired key\'s wrapped material is gone from the store', async () => {
    const { old } = await retiredV1();
    const v1 = (JSON.parse(readRow()) as RingState).keys.find((k) => k.id === 'orders-v1');
    assert.equal(v1?.status, 'retired');
    assert.equal(v1?.wrapped, undefined);
    assert.equal(await rejectionCode((await open()).decrypt(old)), 'GH_CRYPTO_KEY_RETIRED');
  });

  test('the reviewer\'s rollback (un-retire orders-v1, make it primary, reset its counter) is refused by a new process', async () => {
    const { old } = await retiredV1();
    editRow(unRetire);
    assert.equal(await rejectionCode(open()), 'GH_CRYPTO_KEY_INVALID');
    // Even with the MAC removed, so that the row passes for one stored before the MAC.
    editRow((s) => void delete s.mac);
    assert.equal(await rejectionCode(open()), 'GH_CRYPTO_KEY_INVALID');
    void old;
  });

  test('the same edit is refused by a running gateway at its next refresh, for decryption and encryption', async () => {
    const { ring, current } = await retiredV1();
    editRow(unRetire);
    clock.advance(5_000);
    assert.equal(await rejectionCode(ring.decrypt(current)), 'GH_CRYPTO_KEY_INVALID');
    clock.advance(5_000);
    assert.equal(await rejectionCode(ring.encrypt(Buffer.from('x'))), 'GH_CRYPTO_KEY_INVALID');
  });

  test('lowering the minimum decryption version or a nonce counter is refused', async () => {
    const ring = await open();
    await ring.rotate();
    await ring.rotate();
    await ring.setMinDecryptionVersion(2);
    await ring.encrypt(Buffer.from('counted'));
    editRow((s) => void (s.min_decryption_version = 1));
    assert.equal(await rejectionCode(open()), 'GH_CRYPTO_KEY_INVALID');
    editRow((s) => void (s.min_decryption_version = 2));
    (await open()).list(); // restored: opens again
    editRow((s) => void ((s.keys.find((k) => k.id === s.primary_id) as { encryptions: number }).encryptions = 0));
    assert.equal(await rejectionCode(open()), 'GH_CRYPTO_KEY_INVALID');
  });

  test('a genuine older row replayed (rolled back to before the retirement) is refused by the running gateway', async () => {
    const ring = await open();
    const old = await ring.encrypt(Buffer.from('under v1'));
    await ring.rotate();
    const before = readRow(); // the attacker's snapshot: v1 still active, MAC valid
    await ring.retire('orders-v1');
    assert.equal(await rejectionCode(ring.decrypt(old)), 'GH_CRYPTO_KEY_RETIRED');
    writeRow(before);
    clock.advance(5_000);
    assert.equal(await rejectionCode(ring.decrypt(old)), 'GH_CRYPTO_KEY_INVALID');
  });

  test('a ring stored before the MAC is refused until an operator reviews and seals it; then its data opens and a stripped MAC does not pass', async () => {
    // Written by a KMS that derives no state MAC key: the pre-MAC layout.
    const inner = kms();
    const legacy: KmsProvider = {
      kind: 'legacy', primaryKeyId: () => inner.primaryKeyId(), encrypt: inner.encrypt.bind(inner), decrypt: inner.decrypt.bind(inner),
      generateDataKey: inner.generateDataKey.bind(inner), rewrap: inner.rewrap.bind(inner),
    };
    const before = await open(legacy);
    const old = await before.encrypt(Buffer.from('sealed before the MAC'));
    await before.rotate();
    const v2 = await before.encrypt(Buffer.from('under v2'));
    const v1Wrapped = (JSON.parse(readRow()) as RingState).keys.find((k) => k.id === 'orders-v1')?.wrapped;
    await before.retire('orders-v1');
    // Older versions kept a retired key's wrapped material.
    editRow((s) => void ((s.keys.find((k) => k.id === 'orders-v1') as { wrapped?: string }).wrapped = v1Wrapped));
    assert.equal((JSON.parse(readRow()) as RingState).mac, undefined);
    const unsealedRow = readRow();

    // No silent migration: every open is refused, naming the one-time review, and writes nothing.
    assert.equal(await rejectionCode(open()), 'GH_CRYPTO_KEY_INVALID');
    await assert.rejects(open(), /gatehouse keys seal --keyring orders/);
    assert.equal(readRow(), unsealedRow);

    const opts = { name: 'orders', store: store(), kms: kms(), clock };
    const review = await Keyring.inspectUnsealed(opts);
    assert.ok(review);
    assert.deepEqual(review.problems, []);
    assert.deepEqual(review.keys.map((k) => [k.id, k.status, k.source]), [['orders-v1', 'retired', 'store'], ['orders-v2', 'primary', 'store']]);
    // A state changed after the operator saw it is not sealed.
    await assert.rejects(Keyring.sealUnsealed(opts, '0'.repeat(64)), /changed since it was shown/);
    const sealed = await Keyring.sealUnsealed(opts, review.fingerprint);
    const row = JSON.parse(readRow()) as RingState;
    assert.ok(row.mac, 'sealed by the review');
    assert.equal(row.generation, 1);
    assert.equal(row.keys.find((k) => k.id === 'orders-v1')?.wrapped, undefined, 'a key retired before the upgrade is shredded when sealed');
    assert.equal(await rejectionCode(sealed.decrypt(old)), 'GH_CRYPTO_KEY_RETIRED');
    assert.deepEqual(await (await open()).decrypt(v2), Buffer.from('under v2'));
    const fresh = await sealed.encrypt(Buffer.from('after'));
    assert.deepEqual(await (await open()).decrypt(fresh), Buffer.from('after'));
    assert.equal(await Keyring.inspectUnsealed({ ...opts, store: store() }), undefined, 'nothing left to seal');
    editRow((s) => void delete s.mac);
    assert.equal(await rejectionCode(open()), 'GH_CRYPTO_KEY_INVALID');
  });

  test('a master rotation re-seals the state under the new master; the old master file can then go', async () => {
    const ring = await open();
    const msg = await ring.encrypt(Buffer.from('x'));
    const k = kms();
    const master = k.rotate();
    void ring;
    const ring2 = await Keyring.open({ name: 'orders', store: store(), kms: k, clock });
    assert.equal(await ring2.rewrapKeys(), 1);
    assert.equal((JSON.parse(readRow()) as RingState).mac?.key_id, master);
    rmSync(join(dir, 'kms', 'master-1.key'));
    assert.deepEqual(await (await open()).decrypt(msg), Buffer.from('x'));
  });
});
