import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { GatehouseError } from '../../src/core/errors.js';
import { SqliteStore } from '../../src/store/index.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { LocalKms } from '../../src/crypto/kms.js';
import { parseMessageHeader } from '../../src/crypto/message.js';

const hasCode = (code: string) => (e: unknown) => e instanceof GatehouseError && e.code === code;

// A key is suspected compromised: the operator runs `gatehouse keys retire` (another process, same state store)
// while the gateway keeps running. The gateway must stop decrypting under that key, not until its next restart.
test('a key retired by another process stops decrypting in the running gateway', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-retire-'));
  const clock = new ManualClock();
  const gatewayStore = new SqliteStore(join(dir, 'state.db'));
  const cliStore = new SqliteStore(join(dir, 'state.db'));
  try {
    const gateway = await Keyring.open({ name: 'orders', store: gatewayStore, kms: LocalKms.open({ key_dir: join(dir, 'kms') }), clock });
    const old = await gateway.encrypt(Buffer.from('under v1'));
    await gateway.rotate();
    const current = await gateway.encrypt(Buffer.from('under v2'));
    assert.deepEqual(await gateway.decrypt(old), Buffer.from('under v1'));

    const cli = await Keyring.open({ name: 'orders', store: cliStore, kms: LocalKms.open({ key_dir: join(dir, 'kms') }), clock });
    await cli.retire('orders-v1');
    clock.advance(5_000);
    await assert.rejects(gateway.decrypt(old), hasCode('GH_CRYPTO_KEY_RETIRED'));
    assert.deepEqual(await gateway.decrypt(current), Buffer.from('under v2'));

    // --min-version works the same way.
    await cli.rotate();
    await cli.setMinDecryptionVersion(3);
    clock.advance(5_000);
    await assert.rejects(gateway.decrypt(current), hasCode('GH_CRYPTO_KEY_RETIRED'));
    const fresh = await gateway.encrypt(Buffer.from('under v3'));
    assert.deepEqual(await gateway.decrypt(fresh), Buffer.from('under v3'));
  } finally {
    await gatewayStore.close();
    await cliStore.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// The same operator step seen from a gateway that mostly encrypts: it held a lease of encryptions under v1, so it went
// on sealing new data under the retired key (data it then could not read back) until the lease ran out.
test('a key rotated and retired by another process stops sealing in the running gateway within a second', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-retire-seal-'));
  const clock = new ManualClock();
  const gatewayStore = new SqliteStore(join(dir, 'state.db'));
  const cliStore = new SqliteStore(join(dir, 'state.db'));
  try {
    const gateway = await Keyring.open({ name: 'orders', store: gatewayStore, kms: LocalKms.open({ key_dir: join(dir, 'kms') }), clock });
    const before = await gateway.encrypt(Buffer.from('under v1'));
    assert.equal(parseMessageHeader(before).keyId, 'orders-v1');
    const cli = await Keyring.open({ name: 'orders', store: cliStore, kms: LocalKms.open({ key_dir: join(dir, 'kms') }), clock });
    await cli.rotate();
    await cli.retire('orders-v1');
    clock.advance(1_000);
    const after = await gateway.encrypt(Buffer.from('written after the retirement'));
    assert.equal(parseMessageHeader(after).keyId, 'orders-v2');
    assert.deepEqual(await gateway.decrypt(after), Buffer.from('written after the retirement'));
    await assert.rejects(gateway.decrypt(before), hasCode('GH_CRYPTO_KEY_RETIRED'));
    // A stream takes its key the same way.
    assert.equal((await gateway.streamKey()).id, 'orders-v2');
  } finally {
    await gatewayStore.close();
    await cliStore.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
