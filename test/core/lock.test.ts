import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileLock } from '../../src/core/lock.js';

function tempLock(t: { after: (fn: () => void) => void }): { lock: FileLock; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gh-lock-'));
  const path = join(dir, 'x.lock');
  // A long idle time: the lease must not lapse on its own between the steps of a test.
  const lock = new FileLock(path, 60_000);
  t.after(() => {
    lock.release();
    rmSync(dir, { recursive: true, force: true });
  });
  return { lock, path };
}

describe('FileLock', () => {
  test('a lease kept between batches is reported as kept', async (t) => {
    const { lock, path } = tempLock(t);
    assert.equal(await lock.acquire(), false, 'taken now');
    assert.equal(readFileSync(path, 'utf8'), String(process.pid));
    lock.relax();
    await sleep(5);
    assert.equal(await lock.acquire(), true, 'still held from the last batch');
    lock.release();
    assert.equal(await lock.acquire(), false, 'released, then taken again');
  });

  test('a lock file put in place of ours, even one naming our pid, is noticed: the lease is not reported kept', async (t) => {
    const { lock, path } = tempLock(t);
    assert.equal(await lock.acquire(), false);
    lock.relax();
    // Moved aside and created anew (what a waiter that judged it stale does), with the same text: only the file's
    // identity tells it apart. The first file is kept until the second exists, so the inode is not simply reused.
    renameSync(path, `${path}.aside`);
    writeFileSync(path, String(process.pid), { mode: 0o600 });
    unlinkSync(`${path}.aside`);
    await sleep(5);
    assert.equal(await lock.acquire(), false, 'the lease was lost; the lock was taken again like any process takes it');
    assert.equal(readFileSync(path, 'utf8'), String(process.pid));
    lock.relax();
    await sleep(5);
    assert.equal(await lock.acquire(), true, 'the new lock is ours');
  });

  test('a lock file removed while held is noticed', async (t) => {
    const { lock, path } = tempLock(t);
    assert.equal(await lock.acquire(), false);
    lock.relax();
    unlinkSync(path);
    await sleep(5);
    assert.equal(await lock.acquire(), false);
  });
});
