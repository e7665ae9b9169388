/**
 * state.permissions judges, besides state_dir, the other directories holding trusted files — the one holding
 * store.path, audit.dir, each HTTP sink's spool_dir — as the gateway does at start (it refuses them), wherever they
 * lie; and an existing store file, -wal or -shm made by another account.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkOf, tempDir } from './helpers.js';

const posix = process.platform === 'win32' ? 'file modes are not judged on Windows' : false;
const notRoot = process.getuid?.() === 0 ? false : 'needs root to make a file owned by another user (uid 65534), as CI runs';

describe('doctor state.permissions: store, audit and spool directories', { skip: posix }, () => {
  const root = tempDir('gh-doctor-dirs-');
  after(() => root.remove());
  const state = join(root.path, 'state');
  mkdirSync(state, { mode: 0o700 });
  const dir = (name: string, mode: number): string => {
    const p = join(root.path, name);
    mkdirSync(p, { recursive: true });
    chmodSync(p, mode);
    return p;
  };
  const sink = (spool: string) => ({ audit: { sinks: [{ type: 'http', url: 'https://siem.example/ingest', spool_dir: spool }] } });

  test('store.path in a directory others can write fails, naming it (the gateway refuses it)', async () => {
    const shared = dir('shared-store', 0o1777);
    const c = await checkOf('state.permissions', { store: { kind: 'sqlite', path: join(shared, 'state.db') } }, { stateDir: state });
    assert.equal(c.status, 'fail');
    assert.match(c.detail, /the directory of store\.path .*shared-store is writable by group or others \(mode 1777\): the gateway refuses it/);
  });

  test('an audit.dir or a spool_dir others can write fails', async () => {
    const audit = await checkOf('state.permissions', { audit: { dir: dir('shared-audit', 0o777) } }, { stateDir: state });
    assert.equal(audit.status, 'fail');
    assert.match(audit.detail, /audit\.dir .*shared-audit is writable by group or others \(mode 0777\)/);
    const spool = await checkOf('state.permissions', sink(dir('shared-spool', 0o770)), { stateDir: state });
    assert.equal(spool.status, 'fail');
    assert.match(spool.detail, /audit\.sinks\[0\]\.spool_dir .*shared-spool is writable by group or others \(mode 0770\)/);
  });

  test('judged even while state_dir does not exist yet (not skipped)', async () => {
    const shared = dir('shared-store-2', 0o777);
    const c = await checkOf('state.permissions', { store: { kind: 'sqlite', path: join(shared, 'state.db') } }, { stateDir: join(root.path, 'absent') });
    assert.equal(c.status, 'fail');
  });

  test('a store file another account made fails; a directory owned by another user fails', { skip: notRoot }, async () => {
    const own = dir('own-store', 0o700);
    writeFileSync(join(own, 'state.db'), '');
    chownSync(join(own, 'state.db'), 65534, 65534);
    const file = await checkOf('state.permissions', { store: { kind: 'sqlite', path: join(own, 'state.db') } }, { stateDir: state });
    assert.equal(file.status, 'fail');
    assert.match(file.detail, /store\.path .*state\.db is owned by another user \(uid 65534\)/);
    const theirs = dir('their-audit', 0o700);
    chownSync(theirs, 65534, 65534);
    const owner = await checkOf('state.permissions', { audit: { dir: theirs } }, { stateDir: state });
    assert.equal(owner.status, 'fail');
    assert.match(owner.detail, /audit\.dir .*their-audit is owned by another user \(uid 65534\)/);
  });

  test('private directories outside state_dir pass (root-owned 0755 too), as does the embedded layout', async () => {
    const store = dir('var-lib', 0o755);
    const c = await checkOf('state.permissions', { store: { kind: 'sqlite', path: join(store, 'state.db') }, audit: { dir: dir('var-log', 0o700), ...sink(dir('var-spool', 0o700)).audit } }, { stateDir: state });
    assert.equal(c.status, 'pass', c.detail);
    assert.match(c.detail, /state_dir .* is mode 0700, owned by this user; the directory of store\.path, audit\.dir, audit\.sinks\[0\]\.spool_dir closed to group and others/);
    const embedded = await checkOf('state.permissions', {}, { stateDir: state });
    assert.equal(embedded.status, 'pass', embedded.detail);
  });
});
