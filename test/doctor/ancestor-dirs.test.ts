/**
 * state.ancestor_dirs: the parents of state_dir, of store.path's directory, audit.dir and each spool_dir, up to `/`,
 * as OpenSSH's StrictModes judges a path. One writable by group or others without the sticky bit, or owned by a user
 * other than this one and root, fails in production and warns in development (the gateway only warns at start).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { checkOf, tempDir } from './helpers.js';

const posix = process.platform === 'win32' ? 'file modes are not judged on Windows' : false;
const notRoot = process.getuid?.() === 0 ? false : 'needs root to give a directory to another uid';
const ID = 'state.ancestor_dirs';
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('doctor state.ancestor_dirs', { skip: posix }, () => {
  const tmp = tempDir('gh-doctor-ancestors-');
  after(() => tmp.remove());
  const root = realpathSync(tmp.path);
  const dir = (rel: string, mode: number): string => {
    const p = join(root, rel);
    mkdirSync(p, { recursive: true });
    chmodSync(p, mode);
    return p;
  };

  test('a state_dir under a 0777 parent fails in production, naming the parent, its mode and the fix', async () => {
    const shared = dir('srv-shared', 0o777);
    const state = dir('srv-shared/gatehouse', 0o700);
    const c = await checkOf(ID, { audit: { enabled: false } }, { stateDir: state });
    assert.equal(c.status, 'fail', c.detail);
    assert.match(c.detail, new RegExp(`${esc(shared)}, an ancestor of state_dir, is writable by group or others without the sticky bit \\(mode 0777, owner uid \\d+\\): whoever can write it can rename ${esc(state)} away`));
    assert.match(c.detail, /chmod go-w/);
  });

  test('warns in development', async () => {
    const state = dir('dev-shared/gatehouse', 0o700);
    chmodSync(join(root, 'dev-shared'), 0o777);
    const c = await checkOf(ID, {}, { stateDir: state, profile: 'development' });
    assert.equal(c.status, 'warn', c.detail);
  });

  test('an ancestor shared by state_dir and audit.dir is reported once, naming both', async () => {
    const shared = dir('both-shared', 0o777);
    const state = dir('both-shared/gatehouse', 0o700);
    const c = await checkOf(ID, {}, { stateDir: state });
    assert.equal(c.status, 'fail');
    assert.match(c.detail, new RegExp(`${esc(shared)}, an ancestor of state_dir, audit\\.dir, is writable .*: whoever can write it can rename them away`));
    assert.equal(c.detail.split(`${shared},`).length, 2, c.detail);
  });

  test('the directory of store.path and a spool_dir are judged too, wherever they lie', async () => {
    const state = dir('safe/state', 0o700);
    const storeParent = dir('db-shared', 0o770);
    const spoolParent = dir('spool-shared', 0o777);
    const c = await checkOf(ID, {
      store: { kind: 'sqlite', path: join(storeParent, 'db', 'state.db') },
      audit: { sinks: [{ type: 'http', url: 'https://siem.example/ingest', spool_dir: join(spoolParent, 'spool') }] },
    }, { stateDir: state });
    assert.equal(c.status, 'fail');
    assert.match(c.detail, new RegExp(`${esc(storeParent)}, an ancestor of the directory of store\\.path, is writable by group or others without the sticky bit \\(mode 0770`));
    assert.match(c.detail, new RegExp(`${esc(spoolParent)}, an ancestor of audit\\.sinks\\[0\\]\\.spool_dir, is writable`));
  });

  test('a sticky parent (1777, as /tmp) or a 0755 one passes', async () => {
    for (const [name, mode] of [['sticky', 0o1777], ['plain', 0o755]] as const) {
      const state = dir(`${name}/gatehouse`, 0o700);
      chmodSync(join(root, name), mode);
      const c = await checkOf(ID, {}, { stateDir: state });
      assert.equal(c.status, 'pass', `${name}: ${c.detail}`);
      assert.match(c.detail, /the ancestors of state_dir, audit\.dir up to \/ are owned by root or this user/);
    }
  });

  test('a parent owned by another user (not root) fails, naming its owner', { skip: notRoot }, async () => {
    const theirs = dir('theirs', 0o755);
    chownSync(theirs, 12345, 12345);
    const state = dir('theirs/gatehouse', 0o700);
    const c = await checkOf(ID, { audit: { enabled: false } }, { stateDir: state });
    assert.equal(c.status, 'fail');
    assert.match(c.detail, new RegExp(`${esc(theirs)}, an ancestor of state_dir, is owned by another user \\(mode 0755, owner uid 12345\\): uid 12345 can rename`));
    assert.match(c.detail, /chown root/);
  });
});
