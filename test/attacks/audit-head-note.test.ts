/**
 * Review findings 1 and 2 (docs/audit.md § The head note): someone who can write the audit directory but does not hold
 * the signing key appends, rewrites or cuts back the chain. The writer must not sign over what it finds silently, and
 * verify must not call the log OK.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { appendFileSync, readFileSync, readdirSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { verifyAuditLog, type VerifyReport } from '../../src/audit/index.js';
import { chainLine } from '../../src/audit/chain.js';
import { canonicalJson } from '../../src/audit/canonical.js';
import { HeadNote, headNotePath } from '../../src/audit/headnote.js';
import { keyId } from '../../src/audit/keys.js';
import { memoryLogger, openTestLog, publicKeyOf, readLines, rechain, seedEvent, tempDir, writeLines, writeLog } from '../audit/helpers.js';

const kinds = (r: VerifyReport): string[] => [...new Set(r.breaks.map((b) => b.kind))].sort();
const noteOf = (state: string): string => headNotePath(state, 'audit.jsonl');
const keyOf = (state: string) => createPrivateKey(readFileSync(join(state, 'audit-signing.key'), 'utf8'));
const alerts = (logger: ReturnType<typeof memoryLogger>) => logger.lines.filter((l) => (l.obj as { alert?: string }).alert === 'audit_unvouched').map((l) => (l.obj as { reason: string }).reason);

/** A record as an attacker without the key writes it: correct seq, prev_hash and hash after the file's last line. */
function forgeAfter(file: string, payload: Record<string, unknown>): void {
  const last = JSON.parse(readLines(file).pop() as string) as { seq: number; hash: string };
  appendFileSync(file, chainLine(canonicalJson(payload), last.seq + 1, last.hash).line + '\n');
}

const forged = { approval: { approver: 'security-lead' }, approved: true, event_type: 'approval.approved', result_status: 'success', subject: 'attacker', timestamp: '2026-01-01T00:00:00.000Z', tool: 'delete_volume' };

describe('records appended by a process without the key are never vouched for', () => {
  test('a running writer marks a forged record appended between its batches; verify reports it, the alert is logged', async (t) => {
    const state = tempDir(t);
    const logger = memoryLogger();
    const log = await openTestLog(state, {}, { logger });
    for (let i = 0; i < 5; i++) await log.emit(seedEvent(i));
    await sleep(60); // the writer's lock lease lapses, as between bursts of requests
    forgeAfter(log.path, forged);
    await log.emit(seedEvent(5));
    await log.close();

    assert.deepEqual(alerts(logger), ['appended']);
    const marker = readLines(log.path).map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r['event_type'] === 'audit.unvouched');
    assert.deepEqual((marker?.['unvouched'] as Record<string, unknown>)['reason'], 'appended');
    const r = await verifyAuditLog(log.dir, { publicKey: publicKeyOf(state) });
    assert.equal(r.status, 'broken');
    assert.deepEqual(kinds(r), ['unvouched']);
    assert.match(r.breaks[0]?.message ?? '', /seq 6–6 were appended/);
  });

  test('a writer that starts after its predecessor died marks a rewritten, rechained unsigned tail', async (t) => {
    const state = tempDir(t);
    const log = await openTestLog(state, { checkpoint: { every_records: 1000 } });
    for (let i = 0; i < 5; i++) await log.emit(seedEvent(i, { subject: 'mallory', approved: false }));
    await sleep(60); // died without a checkpoint: its lease lapses
    const lines = readLines(log.path);
    const rewritten = lines.map((l) => l.replace('"approved":false', '"approved":true').replace(/"mallory"/g, '"ops"'));
    writeLines(log.path, rechain(rewritten, 0));

    const logger = memoryLogger();
    const next = await openTestLog(state, { checkpoint: { every_records: 1000 } }, { logger });
    await next.close();
    assert.deepEqual(alerts(logger), ['rewritten']);
    const r = await verifyAuditLog(log.dir, { publicKey: publicKeyOf(state) });
    assert.equal(r.status, 'broken');
    assert.deepEqual(kinds(r), ['unvouched']);
  });

  test('a forged head note is refused: the writer marks it, verify with the key reports it', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 5);
    writeFileSync(noteOf(state), readFileSync(noteOf(state), 'latin1').replace(/"mac":"[0-9a-f]{4}/g, '"mac":"0000'));
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state), headNote: noteOf(state), noteKey: keyOf(state) });
    assert.equal(r.status, 'broken');
    assert.deepEqual(kinds(r), ['unvouched']);
    const logger = memoryLogger();
    await (await openTestLog(state, {}, { logger })).close();
    assert.deepEqual(alerts(logger), ['note_invalid']);
  });
});

describe('a head that went backwards is noticed', () => {
  test('a running writer whose file was cut back to a checkpoint issues no seq twice, alerts and marks it', async (t) => {
    const state = tempDir(t);
    const logger = memoryLogger();
    const log = await openTestLog(state, { checkpoint: { every_records: 10 } }, { logger });
    for (let i = 0; i < 25; i++) await log.emit(seedEvent(i));
    const before = log.stats().seq;
    await sleep(60);
    const lines = readLines(log.path);
    const firstCheckpoint = lines.findIndex((l) => l.startsWith('{"checkpoint"'));
    writeLines(log.path, lines.slice(0, firstCheckpoint + 1));
    await log.emit(seedEvent(99));
    await log.close();

    assert.deepEqual(alerts(logger), ['rolled_back']);
    const seqs = readLines(log.path).map((l) => (JSON.parse(l) as { seq: number }).seq);
    const after = seqs.slice(firstCheckpoint + 1);
    assert.ok(after.every((s) => s > before), `seqs after the cut ${after.join(',')} reuse ones up to ${before}`);
    const r = await verifyAuditLog(log.dir, { publicKey: publicKeyOf(state), everyRecords: 10 });
    assert.equal(r.status, 'broken');
    assert.deepEqual(kinds(r), ['deleted', 'unvouched']);
  });

  test('a restarted writer notices that the newest files were deleted', async (t) => {
    const state = tempDir(t);
    const cfg = { checkpoint: { every_records: 5 }, rotation: { max_size: 3000 }, compress: false };
    const dir = await writeLog(state, 40, cfg);
    const rotated = readdirSync(dir).filter((n) => /^audit\.\d+\.jsonl$/.test(n)).sort();
    assert.ok(rotated.length >= 3);
    unlinkSync(join(dir, 'audit.jsonl'));
    unlinkSync(join(dir, rotated[rotated.length - 1] as string));
    const logger = memoryLogger();
    await (await openTestLog(state, cfg, { logger })).close();
    assert.deepEqual(alerts(logger), ['rolled_back']);
    assert.equal((await verifyAuditLog(dir, { publicKey: publicKeyOf(state), everyRecords: 5 })).status, 'broken');
  });

  test('verify checks the chain against the head note: a log cut back to a checkpoint after the writer closed is broken', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 30, { checkpoint: { every_records: 10 } });
    const file = join(dir, 'audit.jsonl');
    const lines = readLines(file);
    const headSeq = lines.length;
    writeLines(file, lines.slice(0, lines.findIndex((l) => l.startsWith('{"checkpoint"')) + 1));
    const opts = { publicKey: publicKeyOf(state), everyRecords: 10 };
    // Without an anchor the cut is invisible (docs/audit.md says so) …
    assert.equal((await verifyAuditLog(dir, opts)).status, 'ok');
    // … with the note (MAC checked with the key, or not) or an expected head it is not.
    for (const extra of [{ headNote: noteOf(state), noteKey: keyOf(state) }, { headNote: noteOf(state) }, { expectHead: { seq: headSeq } }]) {
      const r = await verifyAuditLog(dir, { ...opts, ...extra });
      assert.equal(r.status, 'broken', JSON.stringify(extra));
      assert.deepEqual(kinds(r), ['rolled_back']);
    }
    // Truncating it mid-line and back again changes nothing: the note names the last record's hash.
    truncateSync(file, 0);
    assert.equal((await verifyAuditLog(dir, { ...opts, headNote: noteOf(state), noteKey: keyOf(state) })).status, 'broken');
  });
});

describe('backward compatibility and legitimate writers', () => {
  test('a log without a head note verifies as before; a new writer adopts it once, with a warning, not a break', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 12);
    unlinkSync(noteOf(state)); // as written by a version without head notes
    const pub = publicKeyOf(state);
    assert.equal((await verifyAuditLog(dir, { publicKey: pub })).status, 'ok');
    const logger = memoryLogger();
    const log = await openTestLog(state, {}, { logger });
    await log.emit(seedEvent(1));
    await log.close();
    assert.deepEqual(alerts(logger), []);
    assert.ok(logger.lines.some((l) => (l.obj as { alert?: string }).alert === 'audit_head_unanchored'));
    const r = await verifyAuditLog(dir, { publicKey: pub, headNote: noteOf(state), noteKey: keyOf(state) });
    assert.equal(r.status, 'ok', JSON.stringify(r.breaks));
    assert.equal(r.warnings.filter((w) => /no valid head note/.test(w)).length, 1);
  });

  test('writers that hold the key and take turns vouch for each other: no marker, no warning', async (t) => {
    const state = tempDir(t);
    const logger = memoryLogger();
    const a = await openTestLog(state, { checkpoint: { every_records: 7 } }, { logger, lockIdleMs: 1 });
    const b = await openTestLog(state, { checkpoint: { every_records: 7 } }, { logger, lockIdleMs: 1 });
    for (let i = 0; i < 6; i++) {
      await Promise.all([a.emit(seedEvent(i)), b.emit(seedEvent(100 + i))]);
      await sleep(5);
    }
    await a.close();
    await b.close();
    assert.deepEqual(logger.lines.filter((l) => (l.obj as { alert?: string }).alert !== undefined), []);
    const r = await verifyAuditLog(a.dir, { publicKey: publicKeyOf(state), everyRecords: 7, headNote: noteOf(state), noteKey: keyOf(state) });
    assert.equal(r.status, 'ok', JSON.stringify(r.breaks));
    assert.deepEqual(r.warnings, []);
  });
});

describe('the head note\'s slots: erased or copied back to make a pending note the newest', () => {
  /** The note's two 512-byte slots, and which holds the newer (larger n) note. */
  const slots = (state: string) => {
    const bytes = readFileSync(noteOf(state));
    const parse = (b: Buffer) => JSON.parse(b.toString('latin1').trim()) as { n: number; from_seq: number; to_seq: number };
    return { bytes, a: parse(bytes.subarray(0, 512)), b: parse(bytes.subarray(512, 1024)) };
  };

  test('a blank slot beside a later note is evidence: verify and the next writer refuse the note', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 5);
    const { bytes, a, b } = slots(state);
    // Blank the newer (settled) slot: the older one is then the newest note there is.
    const newer = a.n > b.n ? 0 : 512;
    bytes.fill(0x20, newer, newer + 511);
    writeFileSync(noteOf(state), bytes);
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state), headNote: noteOf(state), noteKey: keyOf(state) });
    assert.equal(r.status, 'broken');
    assert.deepEqual(kinds(r), ['unvouched']);
    const logger = memoryLogger();
    await (await openTestLog(state, {}, { logger })).close();
    assert.deepEqual(alerts(logger), ['note_invalid']);
  });

  test('a pending note left newest (a crash mid-batch, or an older slot copied back) is never an unqualified OK', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 4);
    const lines = readLines(join(dir, 'audit.jsonl'));
    const head = JSON.parse(lines.at(-1) as string) as { seq: number; hash: string };
    // What a writer killed mid-batch leaves: a pending note announcing two more records than reached the disk.
    const key = keyOf(state);
    const note = new HeadNote(noteOf(state), 'audit.jsonl', key, keyId(createPublicKey(key)));
    note.read();
    note.write({ seq: head.seq + 2, hash: 'a'.repeat(64) }, head);
    note.close();
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state), headNote: noteOf(state), noteKey: key });
    assert.equal(r.status, 'ok', JSON.stringify(r.breaks));
    assert.ok(r.warnings.some((w) => /interrupted/.test(w) && /2 record\(s\) of it are lost/.test(w)), JSON.stringify(r.warnings));
    // The next writer adopts the head, marks it (a warning, not an alert), and verify says so afterwards too.
    const logger = memoryLogger();
    await (await openTestLog(state, {}, { logger })).close();
    assert.deepEqual(alerts(logger), []);
    assert.ok(logger.lines.some((l) => (l.obj as { alert?: string }).alert === 'audit_batch_interrupted'));
    const after = await verifyAuditLog(dir, { publicKey: publicKeyOf(state), headNote: noteOf(state), noteKey: key });
    assert.equal(after.status, 'ok', JSON.stringify(after.breaks));
    assert.ok(after.warnings.some((w) => /inside a batch its writer was writing when it stopped/.test(w)), JSON.stringify(after.warnings));
  });
});
