/**
 * `gatehouse keys seal`: the documented upgrade path of a key ring stored by a Gatehouse version before the key ring
 * state MAC. Such a ring is refused (nothing in it tells it from a ring stripped of its MAC) until the operator has
 * reviewed its keys and sealed it; the seal is confirmed and audited like the other key operations.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { reportError, runCli } from '../../src/cli/main.js';
import { createKeysCommand } from '../../src/cli/keys.js';
import type { CliContext, Command, ParsedArgs } from '../../src/cli/types.js';
import type { AuditEvent } from '../../src/core/types.js';
import { readKeyFile } from '../../src/crypto/keyfile.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { KEYRING_NS, type RingState } from '../../src/crypto/keyring-state.js';
import { LocalKms, type KmsProvider } from '../../src/crypto/kms.js';
import { SqliteStore } from '../../src/store/index.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gh-keys-seal-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Run { code: number; stdout: string; stderr: string }

function ctxFor(stdin: Readable = Readable.from([])) {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (arr: Buffer[]) => new Writable({ write(c: Buffer, _e, cb) { arr.push(Buffer.from(c)); cb(); } });
  const ctx: CliContext = { stdin, stdout: sink(out), stderr: sink(err), env: {}, cwd: dir };
  return { ctx, result: (code: number): Run => ({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }) };
}
async function cli(argv: string[]): Promise<Run> {
  const { ctx, result } = ctxFor();
  return result(await runCli(argv, ctx));
}

const events: AuditEvent[] = [];
const keys = createKeysCommand(async () => ({ emit: async (e: AuditEvent) => void events.push(e), close: async () => {} }));
const seal = keys.subcommands?.find((c) => c.name === 'seal') as Command;
async function callSeal(values: ParsedArgs['values'], stdin?: Readable): Promise<Run> {
  const { ctx, result } = ctxFor(stdin);
  try {
    return result(await (seal.run as NonNullable<Command['run']>)({ values, positionals: [] }, ctx));
  } catch (e) {
    return result(await reportError(e, ctx));
  }
}
const errCode = (r: Run) => /error (GH_[A-Z_]+)/.exec(r.stderr)?.[1];

describe('gatehouse keys seal', () => {
  test('a ring stored before the MAC is refused, shown, sealed once confirmed (audited), and then opens its old data', async () => {
    const state = join(dir, 'state');
    const keyPath = join(dir, 'ring.key');
    writeFileSync(keyPath, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    chmodSync(keyPath, 0o600);
    const config = join(dir, 'gatehouse.yaml');
    writeFileSync(config, `state_dir: ${state}\nencryption:\n  enabled: true\n  type: aes\n  key_file: ${keyPath}\n  key_id: key-2023\n`);
    assert.equal((await cli(['keys', 'list', '--config', config])).code, 0); // creates the state dir, master key and store

    // The same ring as an older Gatehouse (a KMS without state MAC keys) stored it: unsealed, one key rotated out.
    const dbPath = join(state, 'state.db');
    const store = new SqliteStore(dbPath);
    await store.delete(KEYRING_NS, 'default');
    const inner = LocalKms.open({ key_dir: join(state, 'keys', 'kms') });
    const legacy: KmsProvider = {
      kind: 'legacy', primaryKeyId: () => inner.primaryKeyId(), encrypt: inner.encrypt.bind(inner), decrypt: inner.decrypt.bind(inner),
      generateDataKey: inner.generateDataKey.bind(inner), rewrap: inner.rewrap.bind(inner),
    };
    const old = await Keyring.open({ name: 'default', store, kms: legacy, imported: [{ id: 'key-2023', material: readKeyFile(keyPath), source: 'file', algorithm: 'aes-256-gcm' }], configuredKeyId: 'key-2023' });
    const underImported = await old.encrypt(Buffer.from('under key-2023'));
    await old.rotate();
    const underGenerated = await old.encrypt(Buffer.from('under default-v2'));
    const unsealedRow = JSON.stringify(await store.get<RingState>(KEYRING_NS, 'default'));
    assert.equal((await store.get<RingState>(KEYRING_NS, 'default'))?.mac, undefined);
    await store.close();
    const row = async () => {
      const s = new SqliteStore(dbPath);
      try {
        return JSON.stringify(await s.get<RingState>(KEYRING_NS, 'default'));
      } finally {
        await s.close();
      }
    };

    const refused = await cli(['keys', 'list', '--config', config]);
    assert.equal(errCode(refused), 'GH_CRYPTO_KEY_INVALID');
    assert.match(refused.stderr, /gatehouse keys seal --keyring default/);

    // Non-interactive without --yes: the state is shown, nothing is sealed.
    const noYes = await callSeal({ config });
    assert.equal(noYes.code, 2);
    assert.match(noYes.stderr, /--yes/);
    assert.match(noYes.stdout, /primary default-v2/);
    assert.match(noYes.stdout, /key-2023\s+1\s+aes-256-gcm\s+active\s+file/);
    assert.match(noYes.stdout, /default-v2\s+2\s+aes-256-gcm\s+primary\s+store/);
    assert.equal(await row(), unsealedRow);

    // On a terminal, the wrong name seals nothing.
    const wrong = Object.assign(new PassThrough(), { isTTY: true });
    const pending = callSeal({ config }, wrong);
    wrong.write('orders\n');
    assert.equal((await pending).code, 1);
    assert.equal(await row(), unsealedRow);
    assert.deepEqual(events, []);

    const right = Object.assign(new PassThrough(), { isTTY: true });
    const confirming = callSeal({ config }, right);
    right.write('default\n');
    const sealed = await confirming;
    assert.equal(sealed.code, 0, sealed.stderr);
    assert.match(sealed.stdout, /keyring default: sealed/);
    assert.equal(events.length, 1);
    const ev = events[0] as AuditEvent;
    assert.equal(ev.event_type, 'crypto.key.seal');
    assert.equal(ev.resource, 'keyring:default');
    assert.deepEqual(ev.metadata?.keys, ['key-2023:active', 'default-v2:primary']);
    assert.ok((JSON.parse(await row()) as RingState).mac, 'the row is sealed');

    // The CLI opens the ring again, and a fresh process (sealing KMS) opens the data stored before the upgrade.
    const listed = await cli(['keys', 'list', '--config', config]);
    assert.equal(listed.code, 0, listed.stderr);
    const store2 = new SqliteStore(dbPath);
    try {
      const ring = await Keyring.open({ name: 'default', store: store2, kms: LocalKms.open({ key_dir: join(state, 'keys', 'kms') }), imported: [{ id: 'key-2023', material: readKeyFile(keyPath), source: 'file', algorithm: 'aes-256-gcm' }], configuredKeyId: 'key-2023' });
      assert.equal((await ring.decrypt(underImported)).toString(), 'under key-2023');
      assert.equal((await ring.decrypt(underGenerated)).toString(), 'under default-v2');
    } finally {
      await store2.close();
    }
    const again = await callSeal({ config, yes: true });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already sealed/);
    assert.equal(events.length, 1, 'nothing sealed, nothing audited');
    assert.equal(errCode(await callSeal({ config, keyring: 'nope', yes: true })), 'GH_USAGE');
  });
});
