import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileWatcher, writeFileAtomic } from '../../src/tls/index.js';
import { tempDir } from './helpers.js';
import { until } from '../helpers/until.js';

// A generous deadline: a busy machine may be slow to notice a change (checks that nothing more happens wait apart).

describe('FileWatcher', () => {
  const dir = tempDir();
  after(() => dir.remove());

  test('a file replaced by rename triggers one debounced change for a burst of writes', async () => {
    const a = join(dir.path, 'a.crt');
    const b = join(dir.path, 'a.key');
    writeFileAtomic(a, 'one', 0o644);
    writeFileAtomic(b, 'one', 0o600);
    let calls = 0;
    const w = new FileWatcher([a, b], () => calls++, { debounceMs: 80, pollIntervalMs: 0 });
    try {
      writeFileAtomic(b, 'two', 0o600);
      writeFileAtomic(a, 'two', 0o644);
      await until('the watcher to call back', () => calls > 0);
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(calls, 1);
    } finally {
      w.close();
    }
  });

  test('an in-place write (same inode) is noticed by the stat comparison', async () => {
    const f = join(dir.path, 'inplace.crt');
    writeFileSync(f, 'one');
    let calls = 0;
    const w = new FileWatcher([f], () => calls++, { debounceMs: 20, pollIntervalMs: 0 });
    try {
      writeFileSync(f, 'two, longer');
      await until('one call back', () => calls === 1);
    } finally {
      w.close();
    }
  });

  test('a Kubernetes-style ..data symlink swap is noticed (stat follows the link)', async () => {
    const mount = join(dir.path, 'mount');
    mkdirSync(join(mount, 'v1'), { recursive: true });
    mkdirSync(join(mount, 'v2'));
    writeFileSync(join(mount, 'v1', 'tls.crt'), 'one');
    writeFileSync(join(mount, 'v2', 'tls.crt'), 'two');
    symlinkSync('v1', join(mount, '..data'));
    symlinkSync(join('..data', 'tls.crt'), join(mount, 'tls.crt'));
    let calls = 0;
    const w = new FileWatcher([join(mount, 'tls.crt')], () => calls++, { debounceMs: 20, pollIntervalMs: 50 });
    try {
      symlinkSync('v2', join(mount, '..data_tmp'));
      renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
      await until('one call back', () => calls === 1);
    } finally {
      w.close();
    }
  });

  test('nothing changed: check() does not call; after close() nothing is called', async () => {
    const f = join(dir.path, 'still.crt');
    writeFileSync(f, 'same');
    let calls = 0;
    const w = new FileWatcher([f], () => calls++, { debounceMs: 10, pollIntervalMs: 20 });
    w.check();
    assert.equal(calls, 0);
    w.close();
    writeFileAtomic(f, 'changed', 0o644);
    await new Promise((r) => setTimeout(r, 100));
    w.check();
    assert.equal(calls, 0);
  });
});
