/**
 * Two appenders taking turns on one log, as gateway workers do (server.workers): each chains on from what the other
 * appended since its own last batch. Both appenders live in this process and hand the lock over by its idle release.
 */
import { createPublicKey } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ManualClock } from '../../src/core/clock.js';
import { ChainAppender } from '../../src/audit/appender.js';
import { canonicalJson } from '../../src/audit/canonical.js';
import { HeadNote } from '../../src/audit/headnote.js';
import { loadSigningKey } from '../../src/audit/keys.js';
import { verifyAuditLog } from '../../src/audit/index.js';
import { auditConfig, memoryLogger, publicKeyOf, tempDir } from './helpers.js';

function appenders(state: string, everyRecords: number): [ChainAppender, ChainAppender] {
  const dir = join(state, 'audit');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const cfg = auditConfig({ checkpoint: { every_records: everyRecords } });
  const key = loadSigningKey({ stateDir: state });
  const make = () =>
    new ChainAppender({ dir, cfg, key, clock: new ManualClock(Date.UTC(2026, 0, 1)), logger: memoryLogger(), chunk: 1 << 20, onRotated: () => {}, keepLines: false, lockIdleMs: 1, notePath: join(state, 'audit.head') });
  return [make(), make()];
}

const batch = (who: string, from: number, n: number) => Array.from({ length: n }, (_, i) => ({ text: canonicalJson({ event_type: 'tool.call', i: from + i, result_status: 'success', who }), line: '' }));

/** Lets the holder's 1 ms idle release give the lock back. */
const handOver = () => sleep(15);

test('appenders taking turns chain on from each other: one chain, every checkpoint where it belongs', async (t) => {
  const state = tempDir(t);
  const [a, b] = appenders(state, 7);
  await a.open();
  await handOver();
  await b.open();
  let n = 0;
  // Turns of different lengths, so some of the other's appends hold a checkpoint (every 7 records) and some do not.
  for (const [who, size] of [['a', 3], ['b', 5], ['a', 1], ['b', 9], ['a', 4], ['b', 2], ['a', 15], ['b', 1]] as const) {
    await (who === 'a' ? a : b).append(batch(who, n, size));
    n += size;
    await handOver();
  }
  await a.append([], { checkpoint: true });
  await a.sync();
  a.end();
  b.end();
  const dir = join(state, 'audit');
  const v = await verifyAuditLog(dir, { publicKey: publicKeyOf(state), everyRecords: 7 });
  assert.equal(v.status, 'ok', JSON.stringify(v.breaks));
  // The library takes the key as PEM text or as a KeyObject (public, or a private key's public half).
  const asObject = await verifyAuditLog(dir, { publicKey: createPublicKey(publicKeyOf(state)), everyRecords: 7 });
  assert.equal(asObject.status, 'ok', JSON.stringify(asObject.breaks));
  const lines = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number; i?: number; checkpoint?: { from_seq: number } });
  assert.deepEqual(
    lines.filter((l) => l.i !== undefined).map((l) => l.i),
    Array.from({ length: n }, (_, i) => i),
  );
  assert.deepEqual(
    lines.map((l) => l.seq),
    lines.map((_, i) => i + 1),
  );
  // Each checkpoint covers the records since the one before it, whoever wrote them.
  let from = 1;
  for (const l of lines) {
    if (!l.checkpoint) continue;
    assert.equal(l.checkpoint.from_seq, from, `checkpoint at seq ${l.seq}`);
    from = l.seq + 1;
  }
});

test('a torn write by the other appender is not chained onto: it is sealed, as on any start', async (t) => {
  const state = tempDir(t);
  const [a, b] = appenders(state, 1000);
  await a.open();
  await a.append(batch('a', 0, 3));
  await handOver();
  await b.open();
  await b.append(batch('b', 3, 2));
  b.end();
  // The other writer died in the middle of a line of its next batch: it had announced the batch (two records) in a
  // pending head note, as every key-holding writer does before a batch's bytes, and only part of the line was written.
  const file = join(state, 'audit', 'audit.jsonl');
  const head = JSON.parse(readFileSync(file, 'utf8').trim().split('\n').at(-1) as string) as { seq: number; hash: string };
  const key = loadSigningKey({ stateDir: state });
  const note = new HeadNote(join(state, 'audit.head'), 'audit.jsonl', key.privateKey, key.keyId);
  note.read();
  note.write({ seq: head.seq + 2, hash: 'a'.repeat(64) }, { seq: head.seq, hash: head.hash });
  note.close();
  appendFileSync(file, '{"event_type":"tool.call","i":5,"seq":');
  await handOver();
  await a.append(batch('a', 6, 2));
  await a.append([], { checkpoint: true });
  await a.sync();
  a.end();
  const v = await verifyAuditLog(join(state, 'audit'), { publicKey: publicKeyOf(state) });
  assert.equal(v.status, 'ok', JSON.stringify(v.breaks));
  const text = readFileSync(join(state, 'audit', 'audit.jsonl'), 'utf8');
  assert.match(text, /"event_type":"audit\.torn_sealed"/);
  assert.equal((text.match(/"who":"a"/g) ?? []).length, 5);
  assert.equal((text.match(/"who":"b"/g) ?? []).length, 2);
});
