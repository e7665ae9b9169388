import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoundedReadError, readFileBounded } from '../../src/core/files.js';

test('readFileBounded reads a regular file up to its limit and refuses one byte more', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-files-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ok'), 'x'.repeat(1024));
  writeFileSync(join(dir, 'big'), 'x'.repeat(1025));
  assert.equal(readFileBounded(join(dir, 'ok'), 1024).length, 1024);
  assert.throws(() => readFileBounded(join(dir, 'big'), 1024), (e: unknown) => e instanceof BoundedReadError && e.reason === 'too_large');
  assert.throws(() => readFileBounded(join(dir, 'missing'), 1024), (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT');
});

test('a device or a FIFO (size 0, no end) is refused at once, without reading or waiting for a writer', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-files-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  for (const path of ['/dev/zero', fifo, dir]) {
    assert.throws(() => readFileBounded(path, 1024), (e: unknown) => e instanceof BoundedReadError && e.reason === 'not_regular', path);
  }
});
