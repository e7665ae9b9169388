/**
 * Review finding 3: complete, newline-terminated junk in place of signed records is not a torn write. The writer must
 * refuse it (GH_AUDIT_CHAIN_BROKEN) rather than seal it, and verify must not report such a seal as a crash.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyAuditLog, type VerifyReport } from '../../src/audit/index.js';
import { chainLine } from '../../src/audit/chain.js';
import { canonicalJson } from '../../src/audit/canonical.js';
import { createHash, createPrivateKey } from 'node:crypto';
import { headNotePath } from '../../src/audit/headnote.js';
import { tornShape } from '../../src/audit/recover.js';
import { lastRecordOf, openTestLog, publicKeyOf, readLines, seedEvent, tempDir, writeHeadNote, writeLines, writeLog } from '../audit/helpers.js';

const kinds = (r: VerifyReport): string[] => [...new Set(r.breaks.map((b) => b.kind))].sort();

describe('complete damaged lines are not sealed as a torn write', () => {
  test('the last record and its checkpoint replaced by two junk lines: the writer refuses to start, verify says broken', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 5);
    const file = join(dir, 'audit.jsonl');
    const lines = readLines(file);
    writeLines(file, [...lines.slice(0, -2), 'x', 'y']);

    await assert.rejects(openTestLog(state), { code: 'GH_AUDIT_CHAIN_BROKEN' });
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state) });
    assert.equal(r.status, 'broken');
    assert.deepEqual(kinds(r), ['malformed']);
    assert.equal(readLines(file).length, lines.length, 'nothing was sealed over the junk');
  });

  test('one complete junk line at the end is damage too (a crash leaves no newline after its partial write)', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 5);
    appendFileSync(join(dir, 'audit.jsonl'), '{"event_type":"tool.call","subject":"mallory"}\n');
    await assert.rejects(openTestLog(state), { code: 'GH_AUDIT_CHAIN_BROKEN' });
    assert.equal((await verifyAuditLog(dir, { publicKey: publicKeyOf(state) })).status, 'broken');
  });

  test('a seal of two complete junk lines (as the old writer wrote one) is reported as damage, not as sealed', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 5);
    const file = join(dir, 'audit.jsonl');
    const lines = readLines(file).slice(0, -2);
    const last = JSON.parse(lines[lines.length - 1] as string) as { seq: number; hash: string };
    const junk = Buffer.from('x\ny\n');
    const torn = { bytes: junk.length, offset: 0, sha256: createHash('sha256').update(junk).digest('hex') };
    const seal = chainLine(canonicalJson({ event_type: 'audit.torn_sealed', timestamp: '2026-01-01T00:00:00.000Z', torn }), last.seq + 1, last.hash).line;
    writeLines(file, [...lines, 'x', 'y', seal]);
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state) });
    assert.deepEqual(r.sealed, []);
    assert.equal(r.status, 'broken');
  });

  test('what a crash does leave is still recovered: a torn line, and a seal of it cut short in turn', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 5);
    const file = join(dir, 'audit.jsonl');
    const head = lastRecordOf(file);
    // A writer killed mid-batch: it announced the batch (two records) in a pending head note, then only a piece of
    // the batch's first line reached the disk.
    writeHeadNote(state, { seq: head.seq + 2, hash: 'a'.repeat(64) }, head);
    appendFileSync(file, '{"event_type":"tool.call","args":{"pa');
    // The next writer's seal cut short in turn (no note is written before a marker batch).
    appendFileSync(file, '\n{"event_type":"audit.torn_sealed","timest');
    const key = createPrivateKey(readFileSync(join(state, 'audit-signing.key'), 'utf8'));
    const keyed = { publicKey: publicKeyOf(state), headNote: headNotePath(state, 'audit.jsonl'), noteKey: key };
    assert.equal((await verifyAuditLog(dir, { publicKey: publicKeyOf(state) })).status, 'torn');
    assert.equal((await verifyAuditLog(dir, keyed)).status, 'torn');
    const log = await openTestLog(state);
    await log.emit(seedEvent(9));
    await log.close();
    for (const opts of [{ publicKey: publicKeyOf(state) }, keyed]) {
      const r = await verifyAuditLog(dir, opts);
      assert.equal(r.status, 'ok', JSON.stringify(r.breaks));
      assert.equal(r.sealed.length, 1);
    }
  });

  test('tornShape: only bytes after the last newline, plus seal attempts cut short', () => {
    const b = (s: string) => Buffer.from(s);
    assert.equal(tornShape([], b('{"par')), true);
    assert.equal(tornShape([], undefined), true);
    assert.equal(tornShape([b('{"partial')], b('{"event_type":"audit.torn_s')), true);
    assert.equal(tornShape([b('{"event_type":"audit.to'), b('{"partial')], b('{"ev')), true);
    assert.equal(tornShape([b('x')], undefined), false);
    assert.equal(tornShape([b('x')], b('y')), false);
    assert.equal(tornShape([b('y'), b('x')], b('{"event_type":"audit.torn_sealed",')), false);
  });
});
