import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ManualClock } from '../../src/core/clock.js';
import { GatehouseError } from '../../src/core/errors.js';
import { MemoryStore, SqliteStore } from '../../src/store/index.js';
import { Keyring, type ImportedKey } from '../../src/crypto/keyring.js';
import { LocalKms } from '../../src/crypto/kms.js';
import { parseKeyMaterial, readKeyEnv, readKeyFile, writeKeyFile } from '../../src/crypto/keyfile.js';
import { parseMessageHeader } from '../../src/crypto/message.js';

const hasCode = (code: string) => (e: unknown) => e instanceof GatehouseError && e.code === code;
const DAY = 86_400_000;
let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gh-keyring-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const imported = (id: string, material = randomBytes(32)): ImportedKey => ({ id, material, source: 'file', algorithm: 'aes-256-gcm' });
const kmsIn = (name: string) => LocalKms.open({ key_dir: join(dir, name) });

describe('key files (seed 000, seed 004)', () => {
  test('`openssl rand -hex 32 > key.bin` output with its newline is a valid key file', () => {
    const path = join(dir, 'openssl.key');
    const hexKey = execFileSync('openssl', ['rand', '-hex', '32'], { encoding: 'utf8' });
    writeFileSync(path, hexKey, { mode: 0o600 });
    assert.deepEqual(readKeyFile(path), Buffer.from(hexKey.trim(), 'hex'));
  });

  test('a key file readable by group or others is refused with GH_KEY_FILE_PERMISSIONS', () => {
    const path = join(dir, 'loose.key');
    writeFileSync(path, randomBytes(32).toString('hex'));
    chmodSync(path, 0o644);
    assert.throws(() => readKeyFile(path), (e: unknown) => hasCode('GH_KEY_FILE_PERMISSIONS')(e) && /chmod 600/.test((e as Error).message));
    chmodSync(path, 0o640);
    assert.throws(() => readKeyFile(path), hasCode('GH_KEY_FILE_PERMISSIONS'));
    chmodSync(path, 0o400);
    assert.equal(readKeyFile(path).length, 32);
  });

  test('hex, base64, base64url and env keys parse; anything else is GH_CRYPTO_KEY_INVALID without key bytes', () => {
    const key = randomBytes(32);
    assert.deepEqual(parseKeyMaterial(key.toString('hex').toUpperCase() + '\n'), key);
    assert.deepEqual(parseKeyMaterial(key.toString('base64')), key);
    assert.deepEqual(parseKeyMaterial(key.toString('base64url')), key);
    assert.deepEqual(readKeyEnv({ ENCRYPTION_KEY_VAR: key.toString('hex') }, 'ENCRYPTION_KEY_VAR'), key);
    const short = randomBytes(16).toString('hex');
    assert.throws(() => parseKeyMaterial(short), (e: unknown) => hasCode('GH_CRYPTO_KEY_INVALID')(e) && !(e as Error).message.includes(short));
    assert.throws(() => readKeyEnv({}, 'MISSING'), hasCode('GH_CRYPTO_KEY_INVALID'));
  });

  test('written key files are 0600, hex with a newline, and never overwritten silently', () => {
    const path = join(dir, 'written.key');
    const key = randomBytes(32);
    const old = process.umask(0o000);
    try {
      writeKeyFile(path, key);
    } finally {
      process.umask(old);
    }
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(readFileSync(path, 'utf8'), key.toString('hex') + '\n');
    assert.throws(() => writeKeyFile(path, randomBytes(32)), hasCode('GH_CRYPTO_KEY_INVALID'));
    assert.deepEqual(readKeyFile(path), key);
  });
});

describe('key ring', () => {
  test('an imported key (seed 000 key-2023) encrypts and names itself in the header', async () => {
    const ring = await Keyring.open({ name: 'default', imported: [imported('key-2023')], configuredKeyId: 'key-2023' });
    const msg = await ring.encrypt(Buffer.from('log line'), Buffer.from('ctx'));
    assert.equal(parseMessageHeader(msg).keyId, 'key-2023');
    assert.deepEqual(await ring.decrypt(msg, Buffer.from('ctx')), Buffer.from('log line'));
    assert.equal(ring.list()[0]?.status, 'primary');
  });

  test('a message naming a key the ring does not hold is GH_CRYPTO_KEY_UNKNOWN', async () => {
    const a = await Keyring.open({ name: 'a', imported: [imported('key-a')] });
    const b = await Keyring.open({ name: 'b', imported: [imported('key-b')] });
    await assert.rejects(b.decrypt(await a.encrypt(Buffer.from('x'))), hasCode('GH_CRYPTO_KEY_UNKNOWN'));
  });

  test('same key id, different key: decryption fails rather than guessing', async () => {
    const a = await Keyring.open({ name: 'a', imported: [imported('key-2023')] });
    const b = await Keyring.open({ name: 'a', imported: [imported('key-2023')] });
    await assert.rejects(b.decrypt(await a.encrypt(Buffer.from('x'))), hasCode('GH_CRYPTO_DECRYPT_FAILED'));
  });

  test('rotation: the new primary encrypts, older keys decrypt until retired', async () => {
    const store = new MemoryStore();
    const ring = await Keyring.open({ name: 'orders', imported: [imported('key-2023')], store, kms: kmsIn('rot') });
    const before = await ring.encrypt(Buffer.from('old'));
    const info = await ring.rotate();
    assert.equal(info.id, 'orders-v2');
    const afterMsg = await ring.encrypt(Buffer.from('new'));
    assert.equal(parseMessageHeader(afterMsg).keyId, 'orders-v2');
    assert.deepEqual(await ring.decrypt(before), Buffer.from('old'));
    assert.deepEqual(ring.list().map((k) => [k.id, k.status]), [['key-2023', 'active'], ['orders-v2', 'primary']]);
    await ring.retire('key-2023');
    await assert.rejects(ring.decrypt(before), hasCode('GH_CRYPTO_KEY_RETIRED'));
    await assert.rejects(ring.retire('orders-v2'), TypeError);
  });

  test('a minimum decryption version refuses older versions (Vault min_decryption_version)', async () => {
    const ring = await Keyring.open({ name: 'mdv', store: new MemoryStore(), kms: kmsIn('mdv') });
    const v1 = await ring.encrypt(Buffer.from('v1'));
    await ring.rotate();
    const v2 = await ring.encrypt(Buffer.from('v2'));
    await ring.setMinDecryptionVersion(2);
    await assert.rejects(ring.decrypt(v1), hasCode('GH_CRYPTO_KEY_RETIRED'));
    assert.deepEqual(await ring.decrypt(v2), Buffer.from('v2'));
    await assert.rejects(ring.setMinDecryptionVersion(3), TypeError);
    const floor = await Keyring.open({ name: 'mdv2', store: new MemoryStore(), kms: kmsIn('mdv2'), policy: { minDecryptionVersion: 2 } });
    // Its primary (v1) is below the floor: sealing under it would write data no one may read back, so it is refused.
    await assert.rejects(floor.encrypt(Buffer.from('x')), hasCode('GH_CRYPTO_KEY_RETIRED'));
  });

  test('rotation_days rotates automatically on the frozen clock', async () => {
    const clock = new ManualClock();
    const ring = await Keyring.open({ name: 'auto', store: new MemoryStore({ clock }), kms: kmsIn('auto'), clock, policy: { rotationMs: 90 * DAY } });
    const first = parseMessageHeader(await ring.encrypt(Buffer.from('a'))).keyId;
    clock.advance(89 * DAY);
    assert.equal(parseMessageHeader(await ring.encrypt(Buffer.from('b'))).keyId, first);
    assert.equal(ring.list()[0]?.rotation_due, false);
    clock.advance(1 * DAY);
    const second = parseMessageHeader(await ring.encrypt(Buffer.from('c'))).keyId;
    assert.notEqual(second, first);
    assert.equal(second, 'auto-v2');
  });

  test('nonce safety: the key rotates before its encryption limit, and counts are persisted', async () => {
    const store = new MemoryStore();
    const ring = await Keyring.open({ name: 'ns', store, kms: kmsIn('ns'), policy: { maxEncryptionsPerKey: 10, leaseSize: 4 } });
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) ids.push(parseMessageHeader(await ring.encrypt(Buffer.from([i]))).keyId);
    assert.equal(ids.filter((id) => id === 'ns-v1').length, 10);
    assert.equal(ids.filter((id) => id === 'ns-v2').length, 10);
    assert.equal(ids.filter((id) => id === 'ns-v3').length, 5);
    const stored = await store.get<{ keys: { id: string; encryptions: number }[] }>('crypto.keyring', 'ns');
    assert.deepEqual(stored?.keys.map((k) => k.encryptions), [10, 10, 8]);
  });

  test('nonce safety: a ring that cannot rotate refuses with GH_CRYPTO_KEY_EXHAUSTED', async () => {
    const ring = await Keyring.open({ name: 'fixed', imported: [imported('k')], policy: { maxEncryptionsPerKey: 3, leaseSize: 2 } });
    for (let i = 0; i < 3; i++) await ring.encrypt(Buffer.from('x'));
    await assert.rejects(ring.encrypt(Buffer.from('x')), hasCode('GH_CRYPTO_KEY_EXHAUSTED'));
  });

  test('state survives a restart on SQLite: versions, counts and generated keys (unwrapped by the KMS)', async () => {
    const path = join(dir, 'state.db');
    const kms = kmsIn('persist');
    const file = imported('key-2023');
    let store = new SqliteStore(path);
    const ring = await Keyring.open({ name: 'default', imported: [file], configuredKeyId: 'key-2023', store, kms });
    const m1 = await ring.encrypt(Buffer.from('one'));
    await ring.rotate();
    const m2 = await ring.encrypt(Buffer.from('two'));
    await store.close();
    store = new SqliteStore(path);
    const reopened = await Keyring.open({ name: 'default', imported: [file], configuredKeyId: 'key-2023', store, kms: kmsIn('persist') });
    assert.deepEqual(await reopened.decrypt(m1), Buffer.from('one'));
    assert.deepEqual(await reopened.decrypt(m2), Buffer.from('two'));
    assert.equal(parseMessageHeader(await reopened.encrypt(Buffer.from('3'))).keyId, 'default-v2');
    assert.ok((reopened.list()[0]?.encryptions ?? 0) >= 1);
    await store.close();
  });

  test('a key file whose content changed under the same key_id is refused', async () => {
    const store = new MemoryStore();
    await Keyring.open({ name: 'chg', imported: [imported('key-2023')], store });
    await assert.rejects(Keyring.open({ name: 'chg', imported: [imported('key-2023')], store }), hasCode('GH_CRYPTO_KEY_INVALID'));
  });

  test('a rotation by another process is picked up on decrypt', async () => {
    const store = new MemoryStore();
    const kms = kmsIn('shared');
    const a = await Keyring.open({ name: 'shared', store, kms });
    const b = await Keyring.open({ name: 'shared', store, kms });
    await a.rotate();
    const msg = await a.encrypt(Buffer.from('from a'));
    assert.deepEqual(await b.decrypt(msg), Buffer.from('from a'));
    // b's own next encryption moves to the new primary after its refill sees it.
    const again = await Keyring.open({ name: 'shared', store, kms });
    assert.equal(parseMessageHeader(await again.encrypt(Buffer.from('x'))).keyId, 'shared-v2');
  });

  test('master rotation re-wraps generated keys without touching data', async () => {
    const store = new MemoryStore();
    const kms = kmsIn('master');
    const ring = await Keyring.open({ name: 'm', store, kms });
    const msg = await ring.encrypt(Buffer.from('data'));
    const before = JSON.stringify(await store.get('crypto.keyring', 'm'));
    const newMaster = kms.rotate();
    assert.equal(await ring.rewrapKeys(), 1);
    const state = await store.get<{ keys: { wrapped: string }[] }>('crypto.keyring', 'm');
    assert.notEqual(JSON.stringify(state), before);
    assert.equal(parseMessageHeader(Buffer.from(state?.keys[0]?.wrapped ?? '', 'base64')).keyId, newMaster);
    const reopened = await Keyring.open({ name: 'm', store, kms: kmsIn('master') });
    assert.deepEqual(await reopened.decrypt(msg), Buffer.from('data'));
  });

  test('keys list never shows key bytes', async () => {
    const key = randomBytes(32);
    const ring = await Keyring.open({ name: 'l', imported: [imported('k', key)] });
    const text = JSON.stringify(ring.list());
    assert.ok(!text.includes(key.toString('hex')) && !text.includes(key.toString('base64')));
  });
});
