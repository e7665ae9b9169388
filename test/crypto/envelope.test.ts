import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { GatehouseError } from '../../src/core/errors.js';
import type { AuditEvent } from '../../src/core/types.js';
import { MemoryStore } from '../../src/store/index.js';
import { DataKeyManager } from '../../src/crypto/envelope.js';
import { LocalKms, type KmsProvider } from '../../src/crypto/kms.js';
import { parseMessageHeader } from '../../src/crypto/message.js';

const hasCode = (code: string) => (e: unknown) => e instanceof GatehouseError && e.code === code;
let dir: string;
let n = 0;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gh-envelope-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A KMS that counts unwraps, to observe the data-key cache. */
function countingKms(inner: KmsProvider): KmsProvider & { unwraps: number } {
  const spy = {
    kind: 'spy',
    unwraps: 0,
    primaryKeyId: () => inner.primaryKeyId(),
    encrypt: inner.encrypt.bind(inner),
    generateDataKey: inner.generateDataKey.bind(inner),
    rewrap: inner.rewrap.bind(inner),
    async decrypt(ct: Uint8Array, ctx: Record<string, string | undefined>) {
      spy.unwraps++;
      return inner.decrypt(ct, ctx);
    },
  };
  return spy;
}

function setup(opts: { cacheTtlMs?: number; cacheMaxEntries?: number } = {}) {
  const keyDir = join(dir, `kms-${n++}`);
  const kms = countingKms(LocalKms.open({ key_dir: keyDir }));
  const clock = new ManualClock();
  const store = new MemoryStore({ clock });
  const events: AuditEvent[] = [];
  const audit = { emit: async (e: AuditEvent) => void events.push(e) };
  const dk = new DataKeyManager({ kms, store, clock, ...opts });
  return { kms, clock, store, dk, events, audit, keyDir };
}

describe('envelope encryption (seed 002)', () => {
  test('per-tenant and per-stream data keys are distinct and bound to their scope', async () => {
    const { dk } = setup();
    const t = await dk.encrypt({ tenant: 'acme-corp' }, Buffer.from('tenant data'));
    const s = await dk.encrypt({ tenant: 'acme-corp', stream: 'orders' }, Buffer.from('stream data'));
    assert.notEqual(parseMessageHeader(t).keyId, parseMessageHeader(s).keyId);
    assert.deepEqual(await dk.decrypt({ tenant: 'acme-corp' }, t), Buffer.from('tenant data'));
    assert.deepEqual(await dk.decrypt({ tenant: 'acme-corp', stream: 'orders' }, s), Buffer.from('stream data'));
    await assert.rejects(dk.decrypt({ tenant: 'globex' }, t), hasCode('GH_CRYPTO_KEY_UNKNOWN'));
    await assert.rejects(dk.decrypt({ tenant: 'acme-corp', stream: 'payments' }, s), hasCode('GH_CRYPTO_KEY_UNKNOWN'));
  });

  test('data keys are stored wrapped by the master key, never in clear', async () => {
    const { dk, store } = setup();
    await dk.encrypt({ tenant: 'acme' }, Buffer.from('x'));
    const rings = await store.list<{ keys: { wrapped?: string; kcv: string }[] }>('crypto.keyring');
    assert.equal(rings.length, 1);
    const stored = rings[0]?.value.keys[0];
    assert.ok(stored?.wrapped);
    assert.equal(parseMessageHeader(Buffer.from(stored.wrapped, 'base64')).keyId, 'master-1');
  });

  test('data-key rotation: new data under the new key, old data still opens', async () => {
    const { dk } = setup();
    const old = await dk.encrypt({ tenant: 'acme' }, Buffer.from('old'));
    await dk.rotate({ tenant: 'acme' });
    const fresh = await dk.encrypt({ tenant: 'acme' }, Buffer.from('new'));
    assert.notEqual(parseMessageHeader(old).keyId, parseMessageHeader(fresh).keyId);
    assert.deepEqual(await dk.decrypt({ tenant: 'acme' }, old), Buffer.from('old'));
  });

  test('master rotation re-wraps data keys without re-encrypting data; the old master can then go', async () => {
    const { dk, store, keyDir } = setup();
    const msgs = [await dk.encrypt({ tenant: 'a' }, Buffer.from('1')), await dk.encrypt({ tenant: 'b', stream: 's' }, Buffer.from('2'))];
    const kms = LocalKms.open({ key_dir: keyDir });
    assert.equal(kms.rotate(), 'master-2');
    const dk2 = new DataKeyManager({ kms, store });
    assert.equal(await dk2.rewrapAll(), 2);
    unlinkSync(join(keyDir, 'master-1.key'));
    const dk3 = new DataKeyManager({ kms: LocalKms.open({ key_dir: keyDir }), store });
    assert.deepEqual(await dk3.decrypt({ tenant: 'a' }, msgs[0] as Buffer), Buffer.from('1'));
    assert.deepEqual(await dk3.decrypt({ tenant: 'b', stream: 's' }, msgs[1] as Buffer), Buffer.from('2'));
  });

  test('the data-key cache honours its TTL on the frozen clock', async () => {
    const { dk, kms, clock } = setup({ cacheTtlMs: 60_000 });
    const msg = await dk.encrypt({ tenant: 'acme' }, Buffer.from('x'));
    const first = kms.unwraps;
    await dk.decrypt({ tenant: 'acme' }, msg);
    assert.equal(kms.unwraps, first, 'served from the cache');
    clock.advance(60_001);
    await dk.decrypt({ tenant: 'acme' }, msg);
    assert.equal(kms.unwraps, first + 1, 'unwrapped again after the TTL');
  });

  test('an expired data key leaves memory even when its scope is not used again', async () => {
    const { dk, clock } = setup({ cacheTtlMs: 60_000 });
    await dk.encrypt({ tenant: 'once' }, Buffer.from('x'));
    clock.advance(10 * 60_000);
    await dk.encrypt({ tenant: 'busy' }, Buffer.from('y'));
    assert.equal(dk.cacheSize, 1, 'the key of "once" is still held ten minutes after its TTL');
  });

  test('the data-key cache is bounded in size', async () => {
    const { dk } = setup({ cacheMaxEntries: 2 });
    for (const t of ['a', 'b', 'c', 'd']) await dk.encrypt({ tenant: t }, Buffer.from(t));
    assert.equal(dk.cacheSize, 2);
  });
});

describe('crypto-shredding (seed 002: right to erasure)', () => {
  test('shredding a tenant makes its tenant, stream and user data unrecoverable, and is audited', async () => {
    const { dk, events, audit } = setup();
    const data = [
      [{ tenant: 'acme' }, await dk.encrypt({ tenant: 'acme' }, Buffer.from('t'))],
      [{ tenant: 'acme', stream: 'orders' }, await dk.encrypt({ tenant: 'acme', stream: 'orders' }, Buffer.from('s'))],
      [{ tenant: 'acme', user: 'u-42' }, await dk.encrypt({ tenant: 'acme', user: 'u-42' }, Buffer.from('u'))],
    ] as const;
    const other = await dk.encrypt({ tenant: 'acme-corp' }, Buffer.from('other tenant'));
    const scopes = await dk.shred({ tenant: 'acme' }, audit, 'admin@acme.com');
    assert.equal(scopes.length, 3);
    for (const [scope, msg] of data) await assert.rejects(dk.decrypt(scope, msg), hasCode('GH_CRYPTO_KEY_SHREDDED'));
    assert.deepEqual(await dk.decrypt({ tenant: 'acme-corp' }, other), Buffer.from('other tenant'));
    assert.equal(events.length, 1);
    assert.equal(events[0]?.event_type, 'crypto.key.shred');
    assert.equal(events[0]?.tenant, 'acme');
    assert.equal(events[0]?.subject, 'admin@acme.com');
  });

  test('shredding one user leaves the tenant readable', async () => {
    const { dk } = setup();
    const user = await dk.encrypt({ tenant: 'acme', user: 'u-1' }, Buffer.from('personal'));
    const tenant = await dk.encrypt({ tenant: 'acme' }, Buffer.from('shared'));
    await dk.shred({ tenant: 'acme', user: 'u-1' });
    await assert.rejects(dk.decrypt({ tenant: 'acme', user: 'u-1' }, user), hasCode('GH_CRYPTO_KEY_SHREDDED'));
    assert.deepEqual(await dk.decrypt({ tenant: 'acme' }, tenant), Buffer.from('shared'));
  });

  test('after shredding, new data gets a new key and old data stays unrecoverable', async () => {
    const { dk } = setup();
    const old = await dk.encrypt({ tenant: 'acme', user: 'u-1' }, Buffer.from('before'));
    await dk.shred({ tenant: 'acme', user: 'u-1' });
    const fresh = await dk.encrypt({ tenant: 'acme', user: 'u-1' }, Buffer.from('after'));
    assert.deepEqual(await dk.decrypt({ tenant: 'acme', user: 'u-1' }, fresh), Buffer.from('after'));
    await assert.rejects(dk.decrypt({ tenant: 'acme', user: 'u-1' }, old), hasCode('GH_CRYPTO_KEY_SHREDDED'));
  });

  test('a shred by another process is honoured at once, even with the key cached here', async () => {
    const { dk, store, kms } = setup();
    const msg = await dk.encrypt({ tenant: 'acme' }, Buffer.from('x'));
    assert.deepEqual(await dk.decrypt({ tenant: 'acme' }, msg), Buffer.from('x'));
    await new DataKeyManager({ kms, store }).shred({ tenant: 'acme' });
    await assert.rejects(dk.decrypt({ tenant: 'acme' }, msg), hasCode('GH_CRYPTO_KEY_SHREDDED'));
  });

  test('the wrapped key material is gone from the store', async () => {
    const { dk, store } = setup();
    await dk.encrypt({ tenant: 'acme' }, Buffer.from('x'));
    assert.equal((await store.list('crypto.keyring')).length, 1);
    await dk.shred({ tenant: 'acme' });
    assert.equal((await store.list('crypto.keyring')).length, 0);
  });
});
