import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { GatehouseError } from '../../src/core/errors.js';
import { queryAuditLog, tailAuditLog } from '../../src/audit/query.js';
import { verifyAuditLog } from '../../src/audit/index.js';
import { ChainAppender } from '../../src/audit/appender.js';
import { until } from '../helpers/until.js';
import { memoryLogger, openTestLog, publicKeyOf, readLines, seedEvent, tempDir, writeLog } from './helpers.js';

const rotated = (dir: string) => readdirSync(dir).filter((f) => /^audit\.\d{12}\.jsonl(\.gz)?$/.test(f)).sort();
const json = (l: string) => JSON.parse(l) as Record<string, unknown>;

describe('audit writer', () => {
  test('records get consecutive seq numbers in emit order, each prev_hash the hash before it', async (t) => {
    const state = tempDir(t);
    const log = await openTestLog(state, { checkpoint: { every_records: 1000 } });
    await Promise.all(Array.from({ length: 50 }, (_, i) => log.emit(seedEvent(i))));
    await log.close();
    const recs = readLines(join(log.dir, 'audit.jsonl')).map(json);
    assert.equal(recs.length, 51);
    recs.forEach((r, i) => {
      assert.equal(r['seq'], i + 1);
      assert.equal(r['prev_hash'], i === 0 ? '0'.repeat(64) : recs[i - 1]?.['hash']);
      if (i < 50) assert.equal((r['args'] as { i: number }).i, i);
    });
    assert.equal(recs[50]?.['event_type'], 'audit.checkpoint');
  });

  test('group commit: records arriving within the coalescing window share one write; fsync: always never waits for the window', async (t) => {
    const settle = () => new Promise<void>((r) => setTimeout(r, 3));
    const open = async (cfg: Record<string, unknown>, coalesceMs: number) => {
      const state = tempDir(t);
      const log = await openTestLog(state, { checkpoint: { every_records: 1000 }, ...cfg }, { coalesceMs });
      return { state, log, before: log.stats().batches };
    };
    const finish = async ({ state, log, before }: Awaited<ReturnType<typeof open>>) => {
      const batches = log.stats().batches - before;
      await log.close();
      const r = await verifyAuditLog(log.dir, { publicKey: publicKeyOf(state) });
      assert.equal(r.status, 'ok');
      return batches;
    };

    // The first record opens the window; the next three, 3 ms apart, wait for it to close (500 ms) and go together.
    const grouped = await open({ fsync: 'batch', fsync_interval: '100ms' }, 500);
    const acked: Promise<void>[] = [];
    for (let i = 0; i < 4; i++) {
      acked.push(grouped.log.emit(seedEvent(i)));
      await settle();
    }
    await Promise.all(acked);
    assert.equal(await finish(grouped), 2);

    // fsync: always ignores the window: with a one-minute window each record, emitted once the previous one is
    // acknowledged, is written at once. A writer that held it for the window would not acknowledge within 10 s.
    // (Records emitted while an fsync is under way may still share the next write: that is correct, so each waits.)
    const always = await open({ fsync: 'always' }, 60_000);
    for (let i = 0; i < 4; i++) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`record ${i} waited for the coalescing window under fsync: always`)), 10_000);
      });
      try {
        await Promise.race([always.log.emit(seedEvent(i)), late]);
      } finally {
        clearTimeout(timer);
      }
    }
    assert.equal(await finish(always), 4);
  });

  test('a restarted writer continues the same chain', async (t) => {
    const state = tempDir(t);
    await writeLog(state, 5);
    const dir = await writeLog(state, 5);
    const recs = readLines(join(dir, 'audit.jsonl')).map(json);
    assert.deepEqual(recs.map((r) => r['seq']), Array.from({ length: 12 }, (_, i) => i + 1));
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state) });
    assert.equal(r.status, 'ok');
  });

  test('rotation by size keeps one chain across gzipped files that verify, query and tail read', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 300, { checkpoint: { every_records: 50 }, rotation: { max_size: '16kb' } });
    const files = rotated(dir);
    assert.ok(files.length >= 5 && files.every((f) => f.endsWith('.jsonl.gz')), files.join());
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state) });
    assert.equal(r.status, 'ok', JSON.stringify(r.breaks));
    assert.equal(r.files.length, files.length + 1);
    let n = 0;
    let last = 0;
    await queryAuditLog(dir, {}, (rec) => {
      n++;
      assert.equal((rec['args'] as { i: number }).i, last++);
    });
    assert.equal(n, 300);
    const tail = await tailAuditLog(dir, 3);
    assert.deepEqual(tail.map((x) => (x.record['args'] as { i: number }).i), [297, 298, 299]);
  });

  test('rotation by age, on the injected clock', async (t) => {
    const state = tempDir(t);
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const log = await openTestLog(state, { rotation: { max_age: '1h' }, compress: false }, { clock });
    await log.emit(seedEvent(0));
    clock.advance(59 * 60_000);
    await log.emit(seedEvent(1));
    assert.equal(rotated(log.dir).length, 0);
    clock.advance(2 * 60_000);
    await log.emit(seedEvent(2));
    await log.close();
    assert.deepEqual(rotated(log.dir), ['audit.000000000001.jsonl']);
    const first = readLines(join(log.dir, 'audit.000000000001.jsonl'));
    assert.equal(json(first[first.length - 1] as string)['event_type'], 'audit.checkpoint');
  });

  test('retention by count removes the oldest files and records it, so verify still accounts for the whole chain', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 300, { checkpoint: { every_records: 50 }, rotation: { max_size: '16kb' }, retention: { max_files: 2 } });
    assert.equal(rotated(dir).length, 2);
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state) });
    assert.equal(r.status, 'ok', JSON.stringify(r.breaks));
    assert.ok((r.firstSeq ?? 0) > 1);
    const retention: Record<string, unknown>[] = [];
    await queryAuditLog(dir, { event: 'audit.retention' }, (rec) => retention.push(rec));
    assert.ok(retention.length > 0);
  });

  test('a retention run is signed at once: a live log verifies right after the oldest file went', async (t) => {
    const state = tempDir(t);
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const log = await openTestLog(state, { checkpoint: { every_seconds: 86_400 }, rotation: { max_age: '1h' }, retention: { max_files: 1 }, compress: false }, { clock });
    t.after(() => log.close());
    // Two rotations by age: the second leaves two closed files, and retention removes the older one.
    for (let i = 0; i < 2; i++) {
      await log.emit(seedEvent(i));
      clock.advance(61 * 60_000);
    }
    await log.emit(seedEvent(2));
    // The retention run is in the background: wait for it (a generous deadline: a slow disk fsyncs its checkpoint).
    for (const end = Date.now() + 15_000; existsSync(join(log.dir, 'audit.000000000001.jsonl')) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
    assert.equal(rotated(log.dir).length, 1);
    const r = await verifyAuditLog(log.dir, { publicKey: publicKeyOf(state) });
    assert.equal(r.status, 'ok', JSON.stringify(r.breaks));
    assert.ok((r.firstSeq ?? 0) > 1);
  });

  test('retention by age removes files whose signed closing checkpoint is older than max_age, on the injected clock', async (t) => {
    const state = tempDir(t);
    const clock = new ManualClock(Date.now());
    const cfg = { rotation: { max_size: '4kb' }, retention: { max_age: '30d' } };
    const log = await openTestLog(state, cfg, { clock });
    for (let i = 0; i < 40; i++) await log.emit(seedEvent(i));
    await log.close();
    const before = rotated(log.dir);
    assert.ok(before.length >= 3, before.join());
    // Age is the closing checkpoint's signed timestamp (mtimes can be set by whoever writes the directory).
    clock.advance(40 * 86_400_000);
    const again = await openTestLog(state, cfg, { clock });
    for (let i = 0; i < 20; i++) await again.emit(seedEvent(i));
    await again.close();
    const after = rotated(log.dir);
    assert.ok(before.every((f) => !after.includes(f)), `files closed 40 days ago were kept: ${after.join()}`);
    assert.equal((await verifyAuditLog(log.dir, { publicKey: publicKeyOf(state) })).status, 'ok');
  });

  test('time-based checkpoint: every_seconds on the injected clock', async (t) => {
    const state = tempDir(t);
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const log = await openTestLog(state, { checkpoint: { every_records: 1000, every_seconds: 60 } }, { clock });
    await log.emit(seedEvent(0));
    clock.advance(61_000);
    await log.emit(seedEvent(1));
    await log.close();
    const types = readLines(join(log.dir, 'audit.jsonl')).map((l) => json(l)['event_type']);
    assert.deepEqual(types, ['tool.call', 'audit.checkpoint', 'tool.call', 'audit.checkpoint']);
  });

  test('backpressure: with a tiny queue, a burst waits instead of growing memory, and order is kept', async (t) => {
    const state = tempDir(t);
    const log = await openTestLog(state, { max_queue: 16, checkpoint: { every_records: 100_000 } });
    let maxQueued = 0;
    const ps = Array.from({ length: 2000 }, (_, i) => log.emit(seedEvent(i)).then(() => {
      maxQueued = Math.max(maxQueued, log.stats().queued);
    }));
    await Promise.all(ps);
    await log.close();
    assert.ok(maxQueued <= 16, `queued ${maxQueued}`);
    const recs = readLines(join(log.dir, 'audit.jsonl')).map(json).filter((r) => r['event_type'] === 'tool.call');
    assert.deepEqual(recs.map((r) => (r['args'] as { i: number }).i), Array.from({ length: 2000 }, (_, i) => i));
  });

  test('fsync: always resolves each emit after its own fsync and the chain verifies', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 20, { fsync: 'always' });
    assert.equal((await verifyAuditLog(dir, { publicKey: publicKeyOf(state) })).status, 'ok');
  });

  test('args pass through the redactor; HMAC keys hash the original value even when the redactor masked it', async (t) => {
    const state = tempDir(t);
    const redact = (v: unknown): unknown => JSON.parse(JSON.stringify(v).replace(/"(password|token)":"[^"]*"/g, '"$1":"[REDACTED]"'));
    const log = await openTestLog(state, { hmac_keys: ['password'] }, { redact, hmacKey: 'k'.repeat(32) });
    await log.emit(seedEvent(0, { args: { password: 'hunter2', token: 'tok_secret', list: [{ password: 'p2' }] } }));
    await log.close();
    const [line] = readLines(join(log.dir, 'audit.jsonl'));
    assert.doesNotMatch(line ?? '', /hunter2|tok_secret|"p2"/);
    const args = json(line as string)['args'] as Record<string, unknown>;
    assert.match(String(args['password']), /^hmac:sha256:[0-9a-f]{64}$/);
    assert.equal(args['token'], '[REDACTED]');
    assert.match(String((args['list'] as Record<string, unknown>[])[0]?.['password']), /^hmac:sha256:/);
  });

  test('an HMAC key from the environment shorter than 16 characters is refused, as one in a file is', async (t) => {
    const state = tempDir(t);
    const cfg = { hmac_keys: ['password'], hmac_key_env: 'GATEHOUSE_TEST_AUDIT_HMAC' };
    await assert.rejects(openTestLog(state, cfg, { env: { GATEHOUSE_TEST_AUDIT_HMAC: 'abc' } }), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_CRYPTO_KEY_INVALID');
  });

  test('oversized args are replaced by their size and SHA-256', async (t) => {
    const state = tempDir(t);
    const log = await openTestLog(state, { max_args_bytes: '1kb' });
    await log.emit(seedEvent(0, { args: { blob: 'x'.repeat(4000) } }));
    await log.close();
    const args = json(readLines(join(log.dir, 'audit.jsonl'))[0] as string)['args'] as Record<string, unknown>;
    assert.equal(args['_truncated'], true);
    assert.ok((args['bytes'] as number) > 4000);
    assert.match(String(args['sha256']), /^[0-9a-f]{64}$/);
  });

  test('misuse is a TypeError; a throwing redactor and a closed log refuse with GH_AUDIT_UNAVAILABLE', async (t) => {
    const state = tempDir(t);
    const log = await openTestLog(state, {}, { redact: (v) => { if (JSON.stringify(v).includes('boom')) throw new Error('boom'); return v; } });
    await assert.rejects(log.emit(seedEvent(0, { event_type: 'audit.checkpoint' })), TypeError);
    await assert.rejects(log.emit(seedEvent(0, { event_type: 'Tool Call' })), TypeError);
    await assert.rejects(log.emit(seedEvent(0, { result_status: 'ok' as 'success' })), TypeError);
    await assert.rejects(log.emit(seedEvent(0, { args: { x: 'boom' } })), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_AUDIT_UNAVAILABLE');
    assert.deepEqual(log.health(), { ok: true });
    await log.close();
    assert.equal(log.health().ok, false);
    await assert.rejects(log.emit(seedEvent(1)), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_AUDIT_UNAVAILABLE');
  });

  test('an fsync that fails rejects the records it was to make durable, under emit() and record() alike', async (t) => {
    const state = tempDir(t);
    const log = await openTestLog(state, { fsync: 'always' });
    // fdatasync can fail (EIO, ENOSPC on thin or network storage); the kernel may then drop the written pages.
    const real = ChainAppender.prototype.sync;
    ChainAppender.prototype.sync = () => Promise.reject(Object.assign(new Error('fdatasync failed'), { code: 'EIO' }));
    try {
      let emitted: unknown;
      log.emit(seedEvent(0)).then(() => (emitted = 'resolved'), (e: unknown) => (emitted = e));
      const errors: Error[] = [];
      log.record(seedEvent(1), (e) => errors.push(e));
      await until(() => `emit: ${String(emitted)}, record() errors: ${errors.length}`, () => emitted !== undefined && errors.length > 0, 5000);
      assert.ok(emitted instanceof GatehouseError && emitted.code === 'GH_AUDIT_UNAVAILABLE', String(emitted));
      assert.ok(errors[0] instanceof GatehouseError && errors[0].code === 'GH_AUDIT_UNAVAILABLE');
      assert.equal(log.health().ok, false);
    } finally {
      ChainAppender.prototype.sync = real;
      await log.close();
    }
  });

  test('record(): no promise, the same checks and order as emit; refusals reach onError once, written records never', async (t) => {
    const state = tempDir(t);
    const log = await openTestLog(state, { max_queue: 16, checkpoint: { every_records: 100_000 } }, { redact: (v) => { if (JSON.stringify(v).includes('boom')) throw new Error('boom'); return v; } });
    const errors: Array<[number, unknown]> = [];
    const onError = (i: number) => (e: Error) => errors.push([i, e]);
    // 500 records through a 16-record queue: the overflow waits for room (backpressure) and keeps its place.
    for (let i = 0; i < 500; i++) assert.equal(log.record(seedEvent(i), onError(i)), undefined);
    await log.emit(seedEvent(500));
    log.record(seedEvent(501, { event_type: 'Tool Call' }), onError(501));
    log.record(seedEvent(502, { args: { x: 'boom' } }), onError(502));
    await log.close();
    log.record(seedEvent(503), onError(503));
    assert.deepEqual(errors.map(([i]) => i), [501, 502, 503]);
    assert.ok(errors[0]?.[1] instanceof TypeError);
    for (const [, e] of errors.slice(1)) assert.ok(e instanceof GatehouseError && e.code === 'GH_AUDIT_UNAVAILABLE');
    const recs = readLines(join(log.dir, 'audit.jsonl')).map(json).filter((r) => r['event_type'] === 'tool.call');
    assert.deepEqual(recs.map((r) => (r['args'] as { i: number }).i), Array.from({ length: 501 }, (_, i) => i));
  });

  test('a damaged last record (not a torn write) stops the writer from starting: fail closed', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 5);
    const { writeFileSync } = await import('node:fs');
    const lines = readLines(join(dir, 'audit.jsonl'));
    const bad = (lines[lines.length - 1] as string).replace('"audit.checkpoint"', '"audit.checkpoinX"');
    writeFileSync(join(dir, 'audit.jsonl'), [...lines.slice(0, -1), bad, '{"x":1}', '{"y":2}'].join('\n') + '\n');
    await assert.rejects(openTestLog(state, {}, { logger: memoryLogger() }), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_AUDIT_CHAIN_BROKEN');
  });

  test('a lock file left by a writer that died (kill -9 while holding it) is taken over', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 3);
    const { writeFileSync, existsSync } = await import('node:fs');
    writeFileSync(join(dir, 'audit.jsonl.lock'), '2147483646');
    const log = await openTestLog(state);
    await log.emit(seedEvent(3));
    await log.close();
    assert.equal(existsSync(join(dir, 'audit.jsonl.lock')), false);
    assert.equal((await verifyAuditLog(dir, { publicKey: publicKeyOf(state) })).status, 'ok');
  });

  test('a lock file naming our own pid, left by an earlier run (a restarted container is pid 1 again), is taken over', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 3);
    const { writeFileSync, existsSync } = await import('node:fs');
    writeFileSync(join(dir, 'audit.jsonl.lock'), String(process.pid));
    const log = await openTestLog(state);
    await log.emit(seedEvent(3));
    await log.close();
    assert.equal(existsSync(join(dir, 'audit.jsonl.lock')), false);
    assert.equal((await verifyAuditLog(dir, { publicKey: publicKeyOf(state) })).status, 'ok');
  });

  test('the append lock is kept between batches and given back after a short idle time', async (t) => {
    const state = tempDir(t);
    // A lease of 2 s instead of 20 ms: the lease starts after the write, and emit() resolves only after the fsync,
    // which on a slow or loaded disk can outlast 20 ms or even 400 ms (the lease then ends before the check: correct,
    // but not what this test observes).
    const log = await openTestLog(state, {}, { lockIdleMs: 2000 });
    const { existsSync } = await import('node:fs');
    const lockFile = join(state, 'audit', 'audit.jsonl.lock');
    await log.emit(seedEvent(0));
    assert.equal(existsSync(lockFile), true, 'held right after a batch');
    for (const end = Date.now() + 15_000; existsSync(lockFile) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
    assert.equal(existsSync(lockFile), false, 'released when idle');
    await log.emit(seedEvent(1));
    await log.close();
    assert.equal(existsSync(lockFile), false, 'released on close');
    assert.equal((await verifyAuditLog(join(state, 'audit'), { publicKey: publicKeyOf(state) })).status, 'ok');
  });

  test('a request for the lock from a process that never takes it (stopped) is deferred to once, then ignored', async (t) => {
    const state = tempDir(t);
    const { spawn } = await import('node:child_process');
    const { existsSync, mkdirSync, writeFileSync } = await import('node:fs');
    const stopped = spawn('sleep', ['30'], { stdio: 'ignore' });
    t.after(() => stopped.kill('SIGKILL'));
    mkdirSync(join(state, 'audit'), { recursive: true, mode: 0o700 });
    writeFileSync(join(state, 'audit', 'audit.jsonl.lock.want'), String(stopped.pid));
    // A one-minute idle lease: only a hand-over to the stopped asker could give the lock away before the checks below
    // (with the default 20 ms, an fsync slower than that ends the lease between the last write and its acknowledgement).
    const log = await openTestLog(state, {}, { lockIdleMs: 60_000 });
    for (let i = 0; i < 5; i++) await log.emit(seedEvent(i));
    // Still alive, still asking: yet the writer keeps its lease between batches instead of handing it to no one.
    assert.equal(existsSync(join(state, 'audit', 'audit.jsonl.lock.want')), true);
    assert.equal(existsSync(join(state, 'audit', 'audit.jsonl.lock')), true);
    await log.close();
    assert.equal((await verifyAuditLog(join(state, 'audit'), { publicKey: publicKeyOf(state) })).status, 'ok');
  });

  test('a holder whose lock file was taken over stops holding it, instead of writing beside the new holder', async (t) => {
    const state = tempDir(t);
    const { mkdirSync, writeFileSync, readFileSync } = await import('node:fs');
    const { FileLock } = await import('../../src/core/lock.js');
    mkdirSync(state, { recursive: true });
    const path = join(state, 'audit.jsonl.lock');
    const lock = new FileLock(path);
    t.after(() => lock.release());
    assert.equal(await lock.acquire(), false, 'taken');
    lock.relax();
    // Another live process now holds the file (as after two waiters raced for a stale lock): the parent's pid stands in.
    writeFileSync(path, String(process.ppid));
    await new Promise((r) => setTimeout(r, 10));
    await assert.rejects(lock.acquire(300), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_STORE_UNAVAILABLE');
    assert.equal(readFileSync(path, 'utf8'), String(process.ppid), "the other holder's lock is left alone");
    // Once the other holder lets go, the lock is taken afresh (false: the head must be re-read), not "kept".
    const { unlinkSync } = await import('node:fs');
    unlinkSync(path);
    assert.equal(await lock.acquire(), false);
  });

  test('a kept lock is not given back by the idle timer while a batch is still being written', async (t) => {
    const state = tempDir(t);
    const { existsSync, mkdirSync } = await import('node:fs');
    const { FileLock } = await import('../../src/core/lock.js');
    mkdirSync(state, { recursive: true });
    const lock = new FileLock(join(state, 'audit.jsonl.lock'));
    t.after(() => lock.release());
    assert.equal(await lock.acquire(), false, 'taken');
    lock.relax();
    assert.equal(await lock.acquire(), true, 'kept from the previous batch');
    // A slow write: far longer than the idle release, with no relax() yet.
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(existsSync(join(state, 'audit.jsonl.lock')), true, 'still held mid-batch');
    lock.relax();
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(existsSync(join(state, 'audit.jsonl.lock')), false, 'released once idle after the batch');
  });
});
