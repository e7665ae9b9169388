import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { GatehouseError } from '../../src/core/errors.js';
import { MemoryStore } from '../../src/store/index.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { LocalKms } from '../../src/crypto/kms.js';
import { writeKeyFile } from '../../src/crypto/keyfile.js';
import { parseMessageHeader } from '../../src/crypto/message.js';

const hasCode = (code: string) => (e: unknown) => e instanceof GatehouseError && e.code === code;

// An operator names an imported key the way generated keys are named (`<keyring>-v<N>`), ahead of the ring's
// version counter. The next rotation must not mint a second key under that id: one id, two keys, and whichever the
// ring looks up first decrypts — the other key's data is lost.
test('a rotation never reuses the id of an imported key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-kid-'));
  try {
    const store = new MemoryStore();
    const kms = LocalKms.open({ key_dir: join(dir, 'kms') });
    const file = { id: 'orders-v2', material: randomBytes(32), source: 'file' as const, algorithm: 'aes-256-gcm' as const };
    const ring = await Keyring.open({ name: 'orders', imported: [file], configuredKeyId: 'orders-v2', store, kms });
    const before = await ring.encrypt(Buffer.from('sealed under the imported key'));
    const info = await ring.rotate();
    assert.notEqual(info.id, 'orders-v2', 'the generated key must get an id of its own');
    const after = await ring.encrypt(Buffer.from('sealed under the generated key'));
    const ids = ring.list().map((k) => k.id);
    assert.equal(new Set(ids).size, ids.length, `duplicate key ids: ${ids.join(', ')}`);
    assert.deepEqual(await ring.decrypt(before), Buffer.from('sealed under the imported key'));
    assert.deepEqual(await ring.decrypt(after), Buffer.from('sealed under the generated key'));
    // And after a restart, both still open.
    const reopened = await Keyring.open({ name: 'orders', imported: [file], configuredKeyId: 'orders-v2', store, kms: LocalKms.open({ key_dir: join(dir, 'kms') }) });
    assert.deepEqual(await reopened.decrypt(before), Buffer.from('sealed under the imported key'));
    assert.deepEqual(await reopened.decrypt(after), Buffer.from('sealed under the generated key'));
    assert.equal(parseMessageHeader(await reopened.encrypt(Buffer.from('x'))).keyId, info.id);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// kms.key_id: master-1 (a natural name) with the default key_dir: `keys rotate --master` writes master-1.key, and the
// new master silently replaced the configured one under the same id — every wrap made by the configured master then
// failed to open, during the re-wrap and at every later start.
test('a master rotation never reuses the id of the configured master key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-kid-'));
  try {
    const masterFile = join(dir, 'master.key');
    writeKeyFile(masterFile, randomBytes(32));
    const opts = { key_file: masterFile, key_id: 'master-1', key_dir: join(dir, 'kms') };
    const store = new MemoryStore();
    const kms = LocalKms.open(opts);
    const ring = await Keyring.open({ name: 'm', store, kms });
    const msg = await ring.encrypt(Buffer.from('data'));
    const rotated = kms.rotate();
    assert.notEqual(rotated, 'master-1');
    assert.equal(await ring.rewrapKeys(), 1);
    const restarted = LocalKms.open(opts);
    assert.equal(restarted.primaryKeyId(), rotated);
    assert.deepEqual(restarted.keyIds().sort(), ['master-1', rotated].sort());
    const reopened = await Keyring.open({ name: 'm', store, kms: restarted });
    assert.deepEqual(await reopened.decrypt(msg), Buffer.from('data'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two master keys under one id are refused at start instead of one shadowing the other', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-kid-'));
  try {
    const masterFile = join(dir, 'master.key');
    writeKeyFile(masterFile, randomBytes(32));
    const keyDir = join(dir, 'kms');
    LocalKms.open({ key_dir: keyDir });
    writeFileSync(join(keyDir, 'master-2.key'), randomBytes(32).toString('hex'), { mode: 0o600 });
    assert.throws(() => LocalKms.open({ key_file: masterFile, key_id: 'master-2', key_dir: keyDir }), hasCode('GH_CRYPTO_KEY_INVALID'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
