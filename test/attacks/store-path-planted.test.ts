/**
 * store.path may lie outside state_dir. Pointed into a directory another local account can write (a sticky /tmp-like
 * directory, a group-writable share), that account could create the database before the gateway's first start (0666,
 * theirs), then delete a revocation or plant an admin API key in it while the gateway runs. The directory holding
 * store.path is judged as state_dir is, and an existing database, -wal or -shm made by another account is refused,
 * never silently used because it cannot be tightened.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/index.js';
import { isGatehouseError } from '../../src/core/errors.js';
import { startGateway } from '../../src/gateway/start.js';
import { SqliteStore } from '../../src/store/index.js';
import { memoryLogger } from '../helpers/gateway.js';

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const notRoot = isRoot ? false : 'needs root to make files owned by another user (uid 65534), as CI runs';
const posix = process.platform === 'win32' ? 'file modes are not judged on Windows' : false;

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'gh-store-planted-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const refused = (pattern: RegExp) => (e: unknown): boolean => {
  assert.ok(isGatehouseError(e), String(e));
  assert.equal(e.code, 'GH_CONFIG_INVALID');
  assert.match(e.message, pattern);
  return true;
};

describe('store.path in a directory others can write', { skip: posix }, () => {
  for (const [name, mode] of [
    ['world-writable with the sticky bit, like /tmp (1777)', 0o1777],
    ['world-writable (0777)', 0o777],
    ['group-writable (0770)', 0o770],
  ] as const) {
    test(`a ${name} directory is refused, and a database planted there is not opened`, (t) => {
      const shared = join(tempDir(t), 'shared');
      mkdirSync(shared);
      chmodSync(shared, mode);
      const path = join(shared, 'state.db');
      writeFileSync(path, '');
      chmodSync(path, 0o666);
      assert.throws(() => new SqliteStore(path), refused(/the directory of store\.path .*shared is writable by group or others/));
      assert.equal(statSync(path).size, 0, 'the planted file was written to');
      assert.equal((statSync(path).mode & 0o777).toString(8), '666');
    });
  }

  test('a directory owned by another user is refused (root-owned 0755 is accepted)', { skip: notRoot }, async (t) => {
    const dir = tempDir(t);
    const theirs = join(dir, 'theirs');
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, NOBODY, NOBODY);
    assert.throws(() => new SqliteStore(join(theirs, 'state.db')), refused(/is owned by another user \(uid 65534\)/));
    const rootOwned = join(dir, 'var-lib');
    mkdirSync(rootOwned, { mode: 0o755 });
    const store = new SqliteStore(join(rootOwned, 'state.db'));
    await store.put('authn.revoked', 'jti-1', { at: 1 });
    await store.close();
  });

  test('a database another account created beforehand (0666, theirs) is refused, not trusted as it is', { skip: notRoot }, (t) => {
    // The directory is fine (it may have been tightened since): the file itself is someone else's.
    const dir = tempDir(t);
    const path = join(dir, 'state.db');
    writeFileSync(path, '');
    chmodSync(path, 0o666);
    chownSync(path, NOBODY, NOBODY);
    assert.throws(() => new SqliteStore(path), refused(/store\.path .*state\.db is owned by another user \(uid 65534\)/));
    assert.equal(statSync(path).size, 0, 'the planted file was used');
  });

  test('a -wal or -shm file another account left beside our database is refused', { skip: notRoot }, async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'state.db');
    const ours = new SqliteStore(path);
    await ours.put('authn.revoked', 'jti-1', { at: 1 });
    await ours.close();
    for (const suffix of ['-wal', '-shm']) {
      writeFileSync(`${path}${suffix}`, '');
      chownSync(`${path}${suffix}`, NOBODY, NOBODY);
      assert.throws(() => new SqliteStore(path), refused(new RegExp(`state\\.db${suffix} is owned by another user`)));
      rmSync(`${path}${suffix}`);
    }
    const again = new SqliteStore(path);
    assert.deepEqual(await again.get('authn.revoked', 'jti-1'), { at: 1 });
    await again.close();
  });

  test('the gateway refuses to start on such a store.path, naming it, before anything is written there', async (t) => {
    const dir = tempDir(t);
    const state = join(dir, 'state');
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const cfg = validateConfig(
      { state_dir: state, store: { kind: 'sqlite', path: join(shared, 'state.db') }, server: { tls: { enabled: false } }, routes: [{ name: 'echo', prefix: '/echo', upstream: 'demo:echo', auth_required: false }] },
      { env: {} },
    );
    await assert.rejects(startGateway(cfg, { listen: '127.0.0.1:0', logger: memoryLogger() }), refused(/store\.path .*shared/));
    assert.deepEqual(readdirSync(shared), [], 'the store was created in the shared directory');
  });

  test('the embedded layout (store.path under a 0700 state_dir) opens as before', async (t) => {
    const path = join(tempDir(t), 'home', 'state.db');
    const store = new SqliteStore(path);
    await store.put('authn.apikeys', 'k1', { hash: 'h' });
    await store.close();
    assert.equal((statSync(join(path, '..')).mode & 0o777).toString(8), '700');
    assert.equal((statSync(path).mode & 0o777).toString(8), '600');
    assert.ok(readFileSync(path).length > 0);
  });
});
