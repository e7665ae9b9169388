/**
 * A file of the state directory swapped for a symbolic link between the backup's listing (lstat: a regular file) and
 * its read: opening it followed the link, so the backup carried the link's target — any file the backup's user can
 * read, outside the state directory. The read now opens with O_NOFOLLOW and checks it still holds a regular file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileRecords, type Planned } from '../../src/backup/create.js';
import type { GatehouseError } from '../../src/core/errors.js';

test('a planned file replaced by a symbolic link is refused, its target never read', { skip: process.platform === 'win32' ? 'no O_NOFOLLOW' : false }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-backup-swap-'));
  try {
    const state = join(dir, 'state');
    const outside = join(dir, 'outside-secret.txt');
    writeFileSync(outside, 'root-only-secret-0123456789');
    mkdirSync(state);
    const file = join(state, 'users.yaml');
    writeFileSync(file, 'users: []\n');
    const planned: Planned = { record: { root: 'state', path: 'users.yaml', mode: 0o600, size: 10 }, abs: file };
    // The control: the planned regular file is read.
    const chunks: Buffer[] = [];
    for await (const c of fileRecords(planned, [])) chunks.push(c);
    assert.ok(Buffer.concat(chunks).includes('users: []'));
    // Swapped after the listing.
    unlinkSync(file);
    symlinkSync(outside, file);
    const read: Buffer[] = [];
    await assert.rejects(
      (async () => {
        for await (const c of fileRecords(planned, [])) read.push(c);
      })(),
      (e: GatehouseError) => e.code === 'GH_BACKUP_FAILED' && /became a symbolic link/.test(e.message),
    );
    assert.ok(!Buffer.concat(read).includes('root-only-secret'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a parent directory swapped for a symbolic link after the listing is refused (the opened file is not the one listed)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-backup-swapdir-'));
  try {
    const state = join(dir, 'state');
    const outside = join(dir, 'outside');
    mkdirSync(join(state, 'keys'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(state, 'keys', 'token.key'), 'state-key');
    writeFileSync(join(outside, 'token.key'), 'outside-secret-0123456789');
    const st = lstatSync(join(state, 'keys', 'token.key'));
    const planned: Planned = { record: { root: 'state', path: 'keys/token.key', mode: 0o600, size: 9 }, abs: join(state, 'keys', 'token.key'), dev: st.dev, ino: st.ino };
    renameSync(join(state, 'keys'), join(dir, 'old-keys'));
    symlinkSync(outside, join(state, 'keys'));
    const read: Buffer[] = [];
    await assert.rejects(
      (async () => {
        for await (const c of fileRecords(planned, [])) read.push(c);
      })(),
      (e: GatehouseError) => e.code === 'GH_BACKUP_FAILED' && /was replaced while the backup ran/.test(e.message),
    );
    assert.ok(!Buffer.concat(read).includes('outside-secret'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
