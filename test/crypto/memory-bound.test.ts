import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { collectYoungGarbage } from '../../src/core/gc.js';
import { createMemoryBound } from '../../src/crypto/stream-file.js';
import { BIN, ROOT } from '../helpers/process.js';

test('the runtime offers a young-generation collector without --expose-gc on the command line', () => {
  assert.equal(collectYoungGarbage(), true);
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'the main context gains no global gc');
});

test('createMemoryBound passes every chunk through unchanged and uncopied', async () => {
  const chunks = Array.from({ length: 40 }, () => randomBytes(100 * 1024));
  const seen: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    createMemoryBound(64 * 1024),
    new Writable({ write(c: Buffer, _e, cb) { seen.push(c); cb(); } }),
  );
  assert.equal(seen.length, chunks.length);
  seen.forEach((c, i) => assert.equal(c, chunks[i], `chunk ${i} is the same object`));
  assert.throws(() => createMemoryBound(1024), RangeError);
});

const vmKiB = (pid: number, field: 'VmHWM' | 'VmRSS'): number => {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, `${field} of ${pid}`);
  return Number(m[1]);
};

test('gatehouse encrypt (a real process) keeps its memory flat over 256 MiB: spent segments do not pile up', async () => {
  // The peak is read from /proc while the process still runs, once all but the last segment came out. Without the
  // memory bound V8 lets about 64 MiB of spent 64 KiB buffers pile up before collecting; with it growth stays at a few MiB.
  const dir = mkdtempSync(join(tmpdir(), 'gh-membound-'));
  try {
    const keyFile = join(dir, 'key.bin');
    writeFileSync(keyFile, randomBytes(32).toString('hex'), { mode: 0o600 });
    const child = spawn(process.execPath, [BIN, 'encrypt', '--key-file', keyFile], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const block = randomBytes(1024 * 1024);
    const total = 256;
    let out = 0;
    const waiters: Array<{ bytes: number; resolve: () => void }> = [];
    child.stdout.on('data', (d: Buffer) => {
      out += d.length;
      for (const w of waiters.splice(0)) if (out >= w.bytes) w.resolve(); else waiters.push(w);
    });
    const outputReaches = (bytes: number) => new Promise<void>((resolve) => (out >= bytes ? resolve() : waiters.push({ bytes, resolve })));
    const write = (buf: Buffer) => new Promise<void>((resolve) => (child.stdin.write(buf) ? resolve() : child.stdin.once('drain', resolve)));

    await write(block);
    await outputReaches(512 * 1024);
    const early = vmKiB(child.pid as number, 'VmRSS');
    for (let i = 1; i < total; i++) await write(block);
    await outputReaches((total - 1) * 1024 * 1024);
    const peak = vmKiB(child.pid as number, 'VmHWM');
    child.stdin.end();
    assert.equal(await exited, 0);
    assert.ok(out > total * 1024 * 1024, 'the whole stream came out');
    const growthMiB = (peak - early) / 1024;
    assert.ok(growthMiB < 20, `peak RSS grew by ${growthMiB.toFixed(1)} MiB after the first MiB (early ${(early / 1024).toFixed(1)}, peak ${(peak / 1024).toFixed(1)} MiB)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
