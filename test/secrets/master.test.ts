import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { createCredentialInjector, createResolver, generatedMasterKeyPath, loadMasterKey, openSecrets, type SecretsConfig } from '../../src/secrets/index.js';
import { memoryLogger } from '../helpers/gateway.js';

const secretsCfg = (s: Record<string, unknown> = {}): SecretsConfig => validateConfig({ secrets: s }, { env: {} }).secrets;

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
  return 'no error';
}

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'gh-master-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('the secrets master key', () => {
  test('development generates one key, 0600, and every later load reads the same one', (t) => {
    const dir = tmp(t);
    const a = loadMasterKey(secretsCfg(), { env: {}, stateDir: dir, profile: 'development' });
    assert.equal(a.source, 'generated');
    assert.equal(statSync(generatedMasterKeyPath(dir)).mode & 0o777, 0o600);
    const b = loadMasterKey(secretsCfg(), { env: {}, stateDir: dir, profile: 'development' });
    assert.deepEqual(b.material, a.material);
  });

  test('production never generates one: GH_SECRETS_MASTER_KEY_MISSING naming SECRETS_MASTER_KEY', (t) => {
    const dir = tmp(t);
    try {
      loadMasterKey(secretsCfg(), { env: {}, stateDir: dir, profile: 'production' });
      assert.fail('loaded');
    } catch (e) {
      assert.equal((e as { code: string }).code, 'GH_SECRETS_MASTER_KEY_MISSING');
      assert.match((e as Error).message, /SECRETS_MASTER_KEY/);
    }
  });

  test('SECRETS_MASTER_KEY (hex, base64, a Fernet key) is used; a malformed one is GH_CRYPTO_KEY_INVALID without the value', (t) => {
    const dir = tmp(t);
    const hex = 'ab'.repeat(32);
    assert.deepEqual(loadMasterKey(secretsCfg(), { env: { SECRETS_MASTER_KEY: hex }, stateDir: dir, profile: 'production' }).material, Buffer.from(hex, 'hex'));
    const fernet = Buffer.alloc(32, 7).toString('base64url') + '=';
    assert.deepEqual(loadMasterKey(secretsCfg(), { env: { SECRETS_MASTER_KEY: fernet }, stateDir: dir, profile: 'production' }).material, Buffer.alloc(32, 7));
    try {
      loadMasterKey(secretsCfg(), { env: { SECRETS_MASTER_KEY: 'not-a-key-but-a-secret-1234' }, stateDir: dir, profile: 'production' });
      assert.fail('loaded');
    } catch (e) {
      assert.equal((e as { code: string }).code, 'GH_CRYPTO_KEY_INVALID');
      assert.ok(!(e as Error).message.includes('not-a-key-but-a-secret-1234'));
    }
  });

  test('a key file others can read is refused (GH_KEY_FILE_PERMISSIONS)', (t) => {
    const dir = tmp(t);
    const file = join(dir, 'master.key');
    writeFileSync(file, 'cd'.repeat(32));
    chmodSync(file, 0o644);
    assert.equal(codeOf(() => loadMasterKey({ ...secretsCfg(), master_key_file: file }, { env: {}, stateDir: dir, profile: 'development' })), 'GH_KEY_FILE_PERMISSIONS');
    chmodSync(file, 0o600);
    assert.equal(loadMasterKey({ ...secretsCfg(), master_key_file: file }, { env: {}, stateDir: dir, profile: 'development' }).source, 'file');
  });

  test('pbkdf2-sha256: a passphrase of 16 characters or more; shorter, or none at all, is refused', (t) => {
    const dir = tmp(t);
    const cfg = secretsCfg({ master_key_kdf: 'pbkdf2-sha256' });
    assert.equal(loadMasterKey(cfg, { env: { SECRETS_MASTER_KEY: 'correct horse battery' }, stateDir: dir, profile: 'production' }).kdf, 'pbkdf2-sha256');
    assert.equal(codeOf(() => loadMasterKey(cfg, { env: { SECRETS_MASTER_KEY: 'short-phrase' }, stateDir: dir, profile: 'production' })), 'GH_CRYPTO_KEY_INVALID');
    assert.equal(codeOf(() => loadMasterKey(cfg, { env: {}, stateDir: dir, profile: 'development' })), 'GH_SECRETS_MASTER_KEY_MISSING');
  });

  test('config: kdf_iterations below seed 003\'s 100,000 is refused', () => {
    assert.throws(() => secretsCfg({ kdf_iterations: 10_000 }), /secrets\.kdf_iterations/);
  });
});

describe('secret references', () => {
  test('env: and file: (relative to file_dir, one trailing newline dropped); missing ones are GH_SECRET_NOT_FOUND', async (t) => {
    const dir = tmp(t);
    writeFileSync(join(dir, 'db_password'), 'pw-from-file\r\n');
    const r = createResolver({ env: { API_TOKEN: 'tok-from-env' }, fileDir: dir, maxValueBytes: 64 });
    assert.equal(await r.resolve('env:API_TOKEN'), 'tok-from-env');
    assert.equal(await r.resolve('file:db_password'), 'pw-from-file');
    assert.equal(await r.resolve(`file:${join(dir, 'db_password')}`), 'pw-from-file');
    await assert.rejects(r.resolve('env:NOPE'), { code: 'GH_SECRET_NOT_FOUND' });
    await assert.rejects(r.resolve('file:nope'), { code: 'GH_SECRET_NOT_FOUND' });
    writeFileSync(join(dir, 'big'), 'x'.repeat(65));
    await assert.rejects(r.resolve('file:big'), { code: 'GH_SECRET_INVALID' });
    await assert.rejects(r.resolve('file:/dev/zero'), { code: 'GH_SECRET_INVALID' });
    await assert.rejects(r.resolve('vault:x'), { code: 'GH_SECRET_INVALID' });
    // secret: needs a store; without one it says so instead of resolving to nothing.
    await assert.rejects(r.resolve('secret:x'), { code: 'GH_SECRETS_MASTER_KEY_MISSING' });
  });

  test('a value with a line break is refused for a header (no response splitting upstream), naming the reference', async (t) => {
    const dir = tmp(t);
    const resolver = createResolver({ env: { BAD: 'token\r\nX-Injected: 1' }, fileDir: dir });
    await assert.rejects(
      createCredentialInjector([{ name: 'r', auth: { headers: { 'X-Key': 'env:BAD' } } }], { resolver, refreshMs: 1000, logger: memoryLogger() }),
      (e: Error & { code?: string }) => e.code === 'GH_SECRET_INVALID' && /env:BAD/.test(e.message) && !e.message.includes('X-Injected'),
    );
  });

  test('secret: through openSecrets opens the store only when first needed (env: alone needs no master key in production)', async (t) => {
    const dir = tmp(t);
    const s = openSecrets(secretsCfg(), { store: new MemoryStore(), stateDir: dir, profile: 'production', env: { ONLY_ENV: 'value-1234' } });
    assert.equal(await s.resolver.resolve('env:ONLY_ENV'), 'value-1234');
    await assert.rejects(s.resolver.resolve('secret:x'), { code: 'GH_SECRETS_MASTER_KEY_MISSING' });
    s.close();
  });
});
