/**
 * ancestorDirProblems (src/store/state-dir.ts): the parents of a trusted directory, up to `/`, judged as OpenSSH's
 * StrictModes judges every component of a path. A parent writable by group or others without the sticky bit, or
 * owned by a user other than this one and root, lets that user rename the directory away and put their own there.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ancestorDirProblems } from '../../src/store/index.js';

const posix = process.platform === 'win32' ? 'file modes are not judged on Windows' : false;
const isRoot = process.getuid?.() === 0;
/** A uid no account on a test machine has: only root can give a directory to it. */
const OTHER_UID = 12345;

describe('ancestorDirProblems', { skip: posix }, () => {
  // realpath: on macOS os.tmpdir() is itself behind a symbolic link, and the problems name real paths.
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'gh-ancestors-')));
  after(() => rmSync(root, { recursive: true, force: true }));
  /** `root/name/state`, `name` made with `mode` (chmod: the umask does not apply), `state` 0700. */
  const tree = (name: string, mode: number, makeState = true): { parent: string; state: string } => {
    const parent = join(root, name);
    mkdirSync(parent);
    chmodSync(parent, mode);
    const state = join(parent, 'state');
    if (makeState) mkdirSync(state, { mode: 0o700 });
    return { parent, state };
  };
  // Only what lies in the temporary tree: the machine's own /tmp and / are not the test's to judge.
  const inTree = (dir: string) => ancestorDirProblems(dir).filter((p) => p.path.startsWith(root));

  test('a parent writable by others without the sticky bit is named, with its mode and owner', () => {
    const { parent, state } = tree('shared-0777', 0o777);
    const problems = inTree(state);
    assert.equal(problems.length, 1, JSON.stringify(problems));
    const [p] = problems;
    assert.equal(p?.path, parent);
    assert.match(p?.problem ?? '', /^is writable by group or others without the sticky bit \(mode 0777, owner uid \d+\)$/);
    assert.match(p?.risk ?? '', new RegExp(`can rename ${state.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} away and put their own in its place`));
    assert.match(p?.fix ?? '', /chmod go-w/);
  });

  test('group-writable (0770) is a problem too', () => {
    const { parent, state } = tree('shared-0770', 0o770);
    assert.deepEqual(inTree(state).map((p) => p.path), [parent]);
  });

  test('with the sticky bit (1777, as /tmp) others cannot rename what they do not own: no problem', () => {
    const { state } = tree('sticky-1777', 0o1777);
    assert.deepEqual(inTree(state), []);
  });

  test('a parent 0755 owned by this user: no problem', () => {
    const { state } = tree('plain-0755', 0o755);
    assert.deepEqual(inTree(state), []);
  });

  test('judged from the real path: a symbolic link to a state dir under a 0777 parent names the real parent', () => {
    const { parent, state } = tree('linked-0777', 0o777);
    const link = join(root, 'link-to-state');
    symlinkSync(state, link);
    assert.deepEqual(inTree(link).map((p) => p.path), [parent]);
  });

  test('the path as written is judged too: a link to a safe state dir, kept in a 0777 directory, names that directory', () => {
    const { state } = tree('safe-target-0755', 0o755);
    const { parent: linkDir } = tree('links-0777', 0o777, false);
    const link = join(linkDir, 'state-link');
    symlinkSync(state, link);
    // Whoever can write links-0777 can point state-link elsewhere: the real path's ancestors are all fine.
    assert.deepEqual(inTree(link).map((p) => p.path), [linkDir]);
    assert.match(inTree(link)[0]?.risk ?? '', /can replace .*state-link, on the path to/);
    assert.deepEqual(inTree(state), [], 'the real path alone is fine');
  });

  test('a state dir not made yet is judged from its nearest existing ancestor', () => {
    const { parent, state } = tree('absent-0777', 0o777, false);
    assert.deepEqual(inTree(join(state, 'deeper')).map((p) => p.path), [parent]);
  });

  test('directories owned by this user, and / owned by root, raise no ownership problem', () => {
    const { state } = tree('own-0700', 0o700);
    assert.deepEqual(inTree(state), []);
    // Every ancestor up to / is walked: / is owned by root, which is accepted (it is never named for its owner).
    assert.ok(!ancestorDirProblems(state).some((p) => p.path === '/' && /owned by another user/.test(p.problem)));
  });

  test('a parent owned by another user (not root) is named, even with the sticky bit', { skip: isRoot ? false : 'needs root to give a directory to another uid' }, () => {
    const { parent, state } = tree('theirs-0755', 0o755);
    chownSync(parent, OTHER_UID, OTHER_UID);
    const problems = inTree(state);
    assert.equal(problems.length, 1, JSON.stringify(problems));
    assert.equal(problems[0]?.path, parent);
    assert.equal(problems[0]?.problem, `is owned by another user (mode 0755, owner uid ${OTHER_UID})`);
    assert.match(problems[0]?.fix ?? '', /chown/);
    // The owner of a sticky directory may still rename anything in it.
    const sticky = tree('theirs-1777', 0o1777);
    chownSync(sticky.parent, OTHER_UID, OTHER_UID);
    assert.deepEqual(inTree(sticky.state).map((p) => p.problem), [`is owned by another user (mode 1777, owner uid ${OTHER_UID})`]);
  });

  test('the directory itself is not judged here (trustedDirProblem is)', () => {
    const { state } = tree('self-0755', 0o755);
    chmodSync(state, 0o777);
    assert.deepEqual(inTree(state), []);
  });
});
