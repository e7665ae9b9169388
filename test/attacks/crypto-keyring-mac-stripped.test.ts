/**
 * Finding F2 (attacker review of the key ring state MAC): someone who can write state.db but holds no key material
 * strips a sealed ring's MAC and generation so the row passes for one stored before the MAC, hides the generated keys
 * from the stripped-MAC detection (source: 'env'), un-retires the compromised imported key, makes it primary and resets
 * its counter (the reviewer's poc-keyring-strip.ts). Every fresh process (a gateway restart, each CLI run) had a
 * rollback floor of 0, accepted the unsealed row as a pre-MAC ring and sealed the attacker's edits under a genuine MAC;
 * new data was then encrypted under the retired key. An unsealed state is now refused wherever the KMS can seal, in
 * both profiles, until an operator reviews and seals it (`gatehouse keys seal`), which refuses edited states.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/index.js';
import { DataKeyManager } from '../../src/crypto/envelope.js';
import { writeKeyFile } from '../../src/crypto/keyfile.js';
import { LocalKms, type KmsProvider } from '../../src/crypto/kms.js';
import { KEYRING_NS, type RingState } from '../../src/crypto/keyring-state.js';
import { openCrypto } from '../../src/crypto/runtime.js';
import { MemoryStore, SqliteStore } from '../../src/store/index.js';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3') as new (path: string) => {
  prepare(sql: string): { get(...a: unknown[]): { value: string } | undefined; run(...a: unknown[]): unknown };
  close(): void;
};

type Profile = 'development' | 'production';
let dir: string;
let state: string;
let stores: SqliteStore[];
const dbPath = () => join(dir, 'state.db');

/** A fresh process: its own store handle and crypto runtime, so its rollback floor is 0. */
function freshProcess(profile: Profile) {
  const cfg = validateConfig({
    state_dir: state,
    encryption: {
      enabled: true, key_file: join(dir, 'ext', 'legacy.key'), key_id: 'legacy-k',
      kms: { key_file: join(dir, 'ext', 'master.key'), key_id: 'ext-master' },
    },
  }, { env: { GATEHOUSE_ENV: profile } });
  assert.equal(cfg.profile, profile);
  const store = new SqliteStore(dbPath());
  stores.push(store);
  return openCrypto(cfg.encryption, { store, stateDir: state, profile });
}

const readRow = (): string => {
  const db = new Database(dbPath());
  try {
    return (db.prepare('SELECT value FROM kv WHERE ns = ? AND key = ?').get(KEYRING_NS, 'default') as { value: string }).value;
  } finally {
    db.close();
  }
};
function editRow(fn: (s: RingState) => void): void {
  const s = JSON.parse(readRow()) as RingState;
  fn(s);
  const db = new Database(dbPath());
  try {
    db.prepare('UPDATE kv SET value = ? WHERE ns = ? AND key = ?').run(JSON.stringify(s), KEYRING_NS, 'default');
  } finally {
    db.close();
  }
}

/** The operator's story: the imported key legacy-k is suspected compromised, rotated out and retired. */
async function operatorRetiresImportedKey(profile: Profile): Promise<void> {
  const ring = await freshProcess(profile).keyring('default');
  assert.ok(ring);
  await ring.encrypt(Buffer.from('under legacy-k'));
  await ring.rotate();
  await ring.retire('legacy-k');
  await ring.encrypt(Buffer.from('under default-v2'));
}

/** The attacker's edit: MAC and generation gone, legacy-k active, primary and unused again. */
function stripAndUnRetire(s: RingState, generated: 'hidden' | 'deleted'): void {
  delete s.mac;
  delete s.generation;
  if (generated === 'deleted') s.keys = s.keys.filter((k) => k.source !== 'store');
  for (const k of s.keys) {
    if (k.id === 'legacy-k') {
      k.status = 'active';
      delete k.retired_at;
      k.encryptions = 0;
    } else k.source = 'env';
  }
  s.primary_id = 'legacy-k';
}

async function refusal(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code?: string; message: string };
  }
  assert.fail('expected a refusal');
}

describe('a key ring state stripped of its MAC (F2)', () => {
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gh-ring-strip-'));
    state = join(dir, 'state');
    mkdirSync(join(dir, 'ext'), { mode: 0o700 });
    writeKeyFile(join(dir, 'ext', 'master.key'), randomBytes(32));
    writeKeyFile(join(dir, 'ext', 'legacy.key'), randomBytes(32));
    stores = [];
  });
  afterEach(async () => {
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const profile of ['production', 'development'] as const) {
    test(`${profile}: the reviewer's strip is refused by a fresh process, which seals nothing, and keys seal refuses the edited state`, async () => {
      await operatorRetiresImportedKey(profile);
      editRow((s) => stripAndUnRetire(s, 'hidden'));
      const tamperedRow = readRow();

      const rt = freshProcess(profile);
      const e = await refusal(rt.keyring('default'));
      assert.equal(e.code, 'GH_CRYPTO_KEY_INVALID');
      assert.match(e.message, /not sealed/);
      assert.match(e.message, /gatehouse keys seal --keyring default/);
      assert.equal(readRow(), tamperedRow, 'the attacker\'s edits were not sealed under a genuine MAC');

      // The operator's review shows what no Gatehouse version writes, and sealing it is refused.
      const review = await rt.unsealedKeyring('default');
      assert.ok(review);
      assert.ok(review.problems.some((p) => /default-v2 holds wrapped key material but its source is env/.test(p)), review.problems.join('\n'));
      const sealed = await refusal(rt.sealKeyring('default', review.fingerprint));
      assert.equal(sealed.code, 'GH_CRYPTO_KEY_INVALID');
      assert.match(sealed.message, /edited outside Gatehouse/);
      assert.equal(readRow(), tamperedRow);
      // Nor does any later process encrypt under the retired key.
      assert.equal((await refusal(freshProcess(profile).keyring('default'))).code, 'GH_CRYPTO_KEY_INVALID');
    });

    test(`${profile}: a consistent strip (generated keys deleted, legacy-k un-retired) is refused too: no state is trusted unsealed`, async () => {
      await operatorRetiresImportedKey(profile);
      editRow((s) => stripAndUnRetire(s, 'deleted'));
      const tamperedRow = readRow();
      const rt = freshProcess(profile);
      assert.equal((await refusal(rt.keyring('default'))).code, 'GH_CRYPTO_KEY_INVALID');
      assert.equal(readRow(), tamperedRow);
      // Nothing inside it betrays the edit: only the operator's review can, and it shows legacy-k as the primary.
      const review = await rt.unsealedKeyring('default');
      assert.deepEqual(review?.problems, []);
      assert.deepEqual(review?.keys.map((k) => [k.id, k.status]), [['legacy-k', 'primary']]);
    });
  }

  test('a sealed state whose MAC was removed without other edits is refused and flagged as stripped in the review', async () => {
    await operatorRetiresImportedKey('production');
    editRow((s) => {
      delete s.mac;
      delete s.generation;
    });
    const rt = freshProcess('production');
    assert.equal((await refusal(rt.keyring('default'))).code, 'GH_CRYPTO_KEY_INVALID');
    const review = await rt.unsealedKeyring('default');
    assert.ok(review);
    assert.ok(review.problems.some((p) => /default-v2 is wrapped for a sealed ring: its integrity tag was removed/.test(p)), review.problems.join('\n'));
    assert.equal((await refusal(rt.sealKeyring('default', review.fingerprint))).code, 'GH_CRYPTO_KEY_INVALID');
  });

  test('data-key rings (generated keys only) are sealed at their first open when pre-MAC, and refused when stripped', async () => {
    const store = new MemoryStore();
    const kmsDir = join(dir, 'kms');
    const inner = LocalKms.open({ key_dir: kmsDir });
    // Written by a KMS that derives no state MAC key: the pre-MAC layout.
    const legacy: KmsProvider = {
      kind: 'legacy', primaryKeyId: () => inner.primaryKeyId(), encrypt: inner.encrypt.bind(inner), decrypt: inner.decrypt.bind(inner),
      generateDataKey: inner.generateDataKey.bind(inner), rewrap: inner.rewrap.bind(inner),
    };
    const old = new DataKeyManager({ kms: legacy, store });
    const msg = await old.encrypt({ tenant: 'acme' }, Buffer.from('pre-MAC data'));
    const [entry] = await store.list<RingState>(KEYRING_NS);
    assert.ok(entry && entry.value.mac === undefined);
    const fresh = () => new DataKeyManager({ kms: LocalKms.open({ key_dir: kmsDir }), store });
    assert.deepEqual(await fresh().decrypt({ tenant: 'acme' }, msg), Buffer.from('pre-MAC data'));
    assert.ok((await store.get<RingState>(KEYRING_NS, entry.key))?.mac, 'sealed at its first open');

    const strip = (fn: (s: RingState) => void = () => {}) => store.update<RingState>(KEYRING_NS, entry.key, (s) => {
      const t = structuredClone(s) as RingState;
      delete t.mac;
      delete t.generation;
      fn(t);
      return t;
    });
    const sealedRow = await store.get<RingState>(KEYRING_NS, entry.key);
    await strip();
    assert.equal((await refusal(fresh().decrypt({ tenant: 'acme' }, msg))).code, 'GH_CRYPTO_KEY_INVALID');
    await store.put(KEYRING_NS, entry.key, sealedRow);
    // Hidden from the wrap check as imported keys, counters reset: no generated-only ring has such keys.
    await strip((s) => s.keys.forEach((k) => Object.assign(k, { source: 'env', encryptions: 0 })));
    assert.equal((await refusal(fresh().encrypt({ tenant: 'acme' }, Buffer.from('x')))).code, 'GH_CRYPTO_KEY_INVALID');
    assert.equal((await store.get<RingState>(KEYRING_NS, entry.key))?.mac, undefined, 'nothing was sealed');
  });
});
