/**
 * The operator keeps the encryption master key outside the state directory (encryption.kms.key_file), as
 * docs/encryption.md advises, so that a copy of the state directory (or a backup) opens nothing. The reviewer's exp1:
 * `gatehouse keys rotate --master` wrote master-1.key into <state_dir>/keys/kms (the default key_dir), made it the
 * primary and re-wrapped every key under it — the copied state directory then decrypted everything. And in production
 * a master key was generated beside the state with no refusal.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { runCli } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/types.js';
import { validateConfig } from '../../src/config/index.js';
import { writeKeyFile } from '../../src/crypto/keyfile.js';
import { openCrypto } from '../../src/crypto/runtime.js';
import { Keyring } from '../../src/crypto/keyring.js';
import { LocalKms } from '../../src/crypto/kms.js';
import { assertProductionReady } from '../../src/gateway/production.js';
import { MemoryStore, SqliteStore } from '../../src/store/index.js';
import { rejectionCode } from '../helpers/error-code.js';

let dir: string;
let state: string;
let masterFile: string;

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (arr: Buffer[]) => new Writable({ write(c: Buffer, _e, cb) { arr.push(Buffer.from(c)); cb(); } });
  const ctx: CliContext = { stdin: Readable.from([]), stdout: sink(out), stderr: sink(err), env: {}, cwd: dir };
  const code = await runCli(argv, ctx);
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

function configFile(kms: string): string {
  const path = join(dir, 'gatehouse.yaml');
  writeFileSync(path, `state_dir: ${state}\nencryption:\n  enabled: true\n  keyrings:\n    orders: {}\n  kms:\n${kms}`, { mode: 0o600 });
  return path;
}

const masterKeysIn = (d: string): string[] => (existsSync(d) ? readdirSync(d).filter((n) => /^master-\d+\.key$/.test(n)) : []);
const cfg = (encryption: Record<string, unknown>, profile: 'development' | 'production') =>
  validateConfig({ state_dir: state, encryption: { enabled: true, ...encryption } }, { env: { GATEHOUSE_ENV: profile } });

describe('the encryption master key stays out of the state directory', () => {
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gh-kms-place-'));
    state = join(dir, 'state');
    mkdirSync(join(dir, 'ext'), { mode: 0o700 });
    masterFile = join(dir, 'ext', 'master.key');
    writeKeyFile(masterFile, randomBytes(32));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('with kms.key_file and no kms.key_dir, `keys rotate --master` is refused and writes nothing into the state directory', async () => {
    const config = configFile(`    key_file: ${masterFile}\n    key_id: ext-master\n`);
    assert.equal((await cli(['keys', 'list', '--config', config])).code, 0);
    const r = await cli(['keys', 'rotate', '--master', '--config', config]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /GH_CONFIG_INVALID/);
    assert.match(r.stderr, /key_dir/);
    assert.deepEqual(masterKeysIn(join(state, 'keys', 'kms')), []);
    // The rings are still wrapped by the external key only.
    const list = JSON.parse((await cli(['keys', 'list', '--json', '--config', config])).stdout) as { kms: { primary: string; keys: string[] } };
    assert.deepEqual(list.kms, { provider: 'local', primary: 'ext-master', keys: ['ext-master'] });
  });

  test('a kms.key_dir inside the state directory is refused for rotation too', () => {
    const rt = openCrypto(cfg({ kms: { key_file: masterFile, key_dir: join(state, 'master-keys') } }, 'development').encryption, { store: new MemoryStore(), stateDir: state });
    assert.throws(() => rt.kms.rotate(), (e: unknown) => (e as { code?: string }).code === 'GH_CONFIG_INVALID');
    assert.deepEqual(masterKeysIn(join(state, 'master-keys')), []);
  });

  test('with kms.key_dir outside the state directory, rotation writes there and a copy of the state directory opens nothing', async () => {
    const keyDir = join(dir, 'ext', 'kms');
    const config = configFile(`    key_file: ${masterFile}\n    key_id: ext-master\n    key_dir: ${keyDir}\n`);
    const victim = new SqliteStore(join(state, 'state.db'));
    const rt = openCrypto(cfg({ keyrings: { orders: {} }, kms: { key_file: masterFile, key_id: 'ext-master', key_dir: keyDir } }, 'development').encryption, { store: victim, stateDir: state });
    const ct = await (await rt.keyring('orders'))!.encrypt(Buffer.from('card=4111111111111111'));
    await victim.close();
    const r = await cli(['keys', 'rotate', '--master', '--config', config]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(masterKeysIn(keyDir), ['master-1.key']);
    assert.deepEqual(masterKeysIn(join(state, 'keys', 'kms')), []);
    // The attacker has the state directory only (exp1-steal.ts).
    const stolen = new SqliteStore(join(state, 'state.db'));
    try {
      const code = await rejectionCode(Keyring.open({ name: 'orders', store: stolen, kms: LocalKms.open({ key_dir: join(dir, 'stolen-kms') }) }).then((k) => k.decrypt(ct)));
      assert.notEqual(code, 'no error');
    } finally {
      await stolen.close();
    }
  });

  test('production refuses a master key generated beside the state, before generating it', () => {
    const c = cfg({}, 'production');
    assert.throws(() => openCrypto(c.encryption, { store: new MemoryStore(), stateDir: state, profile: 'production' }), (e: unknown) => (e as { code?: string }).code === 'GH_CONFIG_PRODUCTION_REFUSED');
    assert.deepEqual(masterKeysIn(join(state, 'keys', 'kms')), []);
    assert.throws(() => assertProductionReady(c), (e: unknown) => /encryption\.kms\.key_file and encryption\.kms\.key_env are not set/.test(String((e as Error).message)));
  });

  test('production refuses a kms.key_dir or kms.key_file inside the state directory, and master keys an earlier rotation left there', () => {
    const refused = (encryption: Record<string, unknown>) => {
      const c = cfg(encryption, 'production');
      assert.throws(() => openCrypto(c.encryption, { store: new MemoryStore(), stateDir: state, profile: 'production' }), (e: unknown) => (e as { code?: string }).code === 'GH_CONFIG_PRODUCTION_REFUSED');
    };
    refused({ kms: { key_file: masterFile, key_dir: join(state, 'kms') } });
    mkdirSync(state, { recursive: true, mode: 0o700 });
    const inside = join(state, 'master.key');
    writeKeyFile(inside, randomBytes(32));
    refused({ kms: { key_file: inside, key_dir: join(dir, 'ext', 'kms') } });
    // The reviewer's exp1 layout, left by a rotation before this fix.
    mkdirSync(join(state, 'keys', 'kms'), { recursive: true, mode: 0o700 });
    writeKeyFile(join(state, 'keys', 'kms', 'master-1.key'), randomBytes(32));
    refused({ kms: { key_file: masterFile } });
    // Development still opens it (its data must stay readable) — the doctor warns.
    assert.ok(openCrypto(cfg({ kms: { key_file: masterFile } }, 'development').encryption, { store: new MemoryStore(), stateDir: state }).kms.keyIds().includes('master-1'));
  });

  test('production accepts an external master key with a key_dir outside the state directory', () => {
    const c = cfg({ kms: { key_env: 'GH_TEST_MASTER', key_dir: join(dir, 'ext', 'kms') } }, 'production');
    const rt = openCrypto(c.encryption, { store: new MemoryStore(), stateDir: state, profile: 'production', env: { GH_TEST_MASTER: randomBytes(32).toString('hex') } });
    assert.equal(rt.kms.primaryKeyId(), 'master-0');
    assert.equal(rt.kms.rotate(), 'master-1');
    assert.deepEqual(masterKeysIn(join(dir, 'ext', 'kms')), ['master-1.key']);
  });
});
