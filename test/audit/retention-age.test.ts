/**
 * Retention judges a rotated file by what the file says and the signing key signed (review finding B): its age is
 * the timestamp of the checkpoint that closes it, on the injected clock, never its mtime; and only files whose closing
 * checkpoint verifies count towards max_files or are removed. Whoever can write the audit directory (not the keys)
 * can backdate mtimes and plant files under rotated names: neither may make the writer delete history itself.
 *
 * Every assert.ok carries a message: without one, node builds it from the source text, which under tsx can spin.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ManualClock } from '../../src/core/clock.js';
import { verifyAuditLog } from '../../src/audit/index.js';
import { memoryLogger, openTestLog, publicKeyOf, readLines, rechain, seedEvent, tempDir, writeLines } from './helpers.js';

const DAY = 86_400_000;
const rotated = (dir: string): string[] => readdirSync(dir).filter((f) => /^audit\.\d{12}\.jsonl(\.gz)?$/.test(f)).sort();
const retentionWarnings = (logger: ReturnType<typeof memoryLogger>) =>
  logger.lines.filter((l) => (l.obj as { alert?: string }).alert === 'audit_retention_unverified').map((l) => l.obj as { file?: string; reason?: string });

/** Writes n records through a writer on `clock` and closes it (close awaits the background retention runs). */
async function session(state: string, cfg: Record<string, unknown>, clock: ManualClock, n: number, from = 0, logger = memoryLogger()): Promise<string> {
  const log = await openTestLog(state, cfg, { clock, logger });
  for (let i = 0; i < n; i++) await log.emit(seedEvent(from + i));
  await log.close();
  return log.dir;
}

describe('audit retention: age and count come from signed checkpoints, not from the directory', () => {
  test('max_age: rotated files whose mtime was backdated (touch -d) are not removed', async (t) => {
    const state = tempDir(t);
    const clock = new ManualClock(Date.now());
    const cfg = { rotation: { max_size: '4kb' }, retention: { max_age: '365d' } };
    const dir = await session(state, cfg, clock, 40, 0);
    const before = rotated(dir);
    assert.ok(before.length >= 3, before.join());
    // The attacker can write the audit directory: every closed file now looks 25 years old.
    const old = new Date('2001-01-01T00:00:00Z');
    for (const f of before) utimesSync(join(dir, f), old, old);
    clock.advance(DAY);
    await session(state, cfg, clock, 30, 1000);
    const after = rotated(dir);
    for (const f of before) assert.ok(after.includes(f), `${f} was removed by retention: ${after.join()}`);
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state) });
    assert.equal(r.status, 'ok', JSON.stringify(r.breaks));
    assert.equal(r.firstSeq, 1);
  });

  test('max_age: files old by their signed closing checkpoint on the injected clock are removed, whatever their mtime', async (t) => {
    const state = tempDir(t);
    const clock = new ManualClock(Date.now());
    const cfg = { rotation: { max_size: '4kb' }, retention: { max_age: '30d' }, compress: false };
    const dir = await session(state, cfg, clock, 40, 0);
    const before = rotated(dir);
    assert.ok(before.length >= 3, before.join());
    // mtimes say "just written" (a year ahead, even): they must not keep a file retention is due to remove.
    const future = new Date(Date.now() + 365 * DAY);
    for (const f of before) utimesSync(join(dir, f), future, future);
    clock.advance(40 * DAY);
    const logger = memoryLogger();
    await session(state, cfg, clock, 20, 1000, logger);
    const after = rotated(dir);
    for (const f of before) assert.ok(!after.includes(f), `${f} (closed 40 days ago by its signed checkpoint) was kept: ${after.join()}`);
    assert.ok(after.length >= 1, 'the files closed in the second run are younger than max_age and stay');
    assert.deepEqual(retentionWarnings(logger), []);
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state) });
    assert.equal(r.status, 'ok', JSON.stringify(r.breaks));
    assert.ok((r.firstSeq ?? 0) > 1, `the chain should start after the removed files, not at seq ${r.firstSeq}`);
  });

  test('max_age: a damaged old file (its closing checkpoint cut off) is never removed: retention stops there and warns', async (t) => {
    const state = tempDir(t);
    const clock = new ManualClock(Date.now());
    const cfg = { rotation: { max_size: '4kb' }, retention: { max_age: '30d' }, compress: false };
    const dir = await session(state, cfg, clock, 40, 0);
    const before = rotated(dir);
    assert.ok(before.length >= 3, before.join());
    const damaged = join(dir, before[0] as string);
    writeLines(damaged, readLines(damaged).slice(0, -1));
    clock.advance(40 * DAY);
    const logger = memoryLogger();
    await session(state, cfg, clock, 20, 1000, logger);
    const after = rotated(dir);
    // Removal is a prefix of the chain: the unverifiable first file blocks it (and is kept for the operator).
    for (const f of before) assert.ok(after.includes(f), `${f} was removed: ${after.join()}`);
    const warned = retentionWarnings(logger);
    assert.ok(warned.some((w) => w.file === before[0] && /does not end with a checkpoint/.test(w.reason ?? '')), JSON.stringify(warned));
  });

  test('max_files: files planted under rotated names (junk, unsigned, a signed file renamed) do not count and push no real file out', async (t) => {
    const state = tempDir(t);
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const cfg = { rotation: { max_size: '4kb' }, retention: { max_files: 3 }, compress: false };
    const dir = await session(state, cfg, clock, 60, 0);
    const real = rotated(dir);
    assert.equal(real.length, 3, real.join());
    // Planted by whoever can write the directory, without the signing key.
    const genuine = readLines(join(dir, real[0] as string));
    const planted = ['audit.000000009000.jsonl', 'audit.000000009100.jsonl.gz', 'audit.000000009200.jsonl', 'audit.000000009300.jsonl'];
    writeFileSync(join(dir, planted[0] as string), 'not an audit record\n');
    const forged = genuine.map((l) => l.replace('"nginx"', '"backdoor"'));
    writeFileSync(join(dir, planted[1] as string), gzipSync(rechain(forged, 0, 9100).map((l) => l + '\n').join('')));
    writeLines(join(dir, planted[2] as string), genuine); // signed, but named for a seq it does not start with
    writeLines(join(dir, planted[3] as string), rechain(genuine, 0, 9300)); // named right, its checkpoint no longer verifies
    const logger = memoryLogger();
    await session(state, cfg, clock, 20, 1000, logger);
    const after = rotated(dir);
    for (const p of planted) assert.ok(after.includes(p), `planted ${p} was removed (retention never removes what it cannot verify)`);
    const realAfter = after.filter((f) => !planted.includes(f));
    assert.equal(realAfter.length, 3, `max_files keeps 3 real files; planted ones must not push them out: ${after.join()}`);
    const warned = retentionWarnings(logger).map((w) => w.file);
    for (const p of planted) assert.ok(warned.includes(p), `no warning for ${p}: ${JSON.stringify(warned)}`);
    // Without the planted files, what retention left is one chain verify accounts for.
    for (const p of planted) unlinkSync(join(dir, p));
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state) });
    assert.equal(r.status, 'ok', JSON.stringify(r.breaks));
    assert.ok((r.firstSeq ?? 0) > 1, `the chain should start after the removed files, not at seq ${r.firstSeq}`);
  });

  test('max_files: a planted file sorting before the chain halts retention by count; it is kept and warned about', async (t) => {
    const state = tempDir(t);
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const cfg = { rotation: { max_size: '4kb' }, retention: { max_files: 3 }, compress: false };
    const dir = await session(state, cfg, clock, 60, 0);
    const real = rotated(dir);
    assert.equal(real.length, 3, real.join());
    const planted = 'audit.000000000000.jsonl';
    writeFileSync(join(dir, planted), 'x\n');
    const logger = memoryLogger();
    await session(state, cfg, clock, 20, 1000, logger);
    const after = rotated(dir);
    assert.ok(after.includes(planted), `planted ${planted} was removed: ${after.join()}`);
    for (const f of real) assert.ok(after.includes(f), `${f} was removed past a file retention cannot verify: ${after.join()}`);
    assert.ok(after.length > real.length + 1, 'the second run rotated');
    assert.ok(retentionWarnings(logger).some((w) => w.file === planted), `no warning for ${planted}: ${JSON.stringify(retentionWarnings(logger))}`);
  });
});
