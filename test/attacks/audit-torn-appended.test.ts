/**
 * Review finding A: someone who can write the audit directory (not the state directory or the keys) appends a forged
 * record as JSON without a trailing newline. It must not pass for a crash's torn line: a key holder announces every
 * batch in the head note (pending) before writing its bytes, so bytes after the head a settled note vouches for were
 * written by nobody holding the key. The writer still seals them (and keeps working), but marks them `appended` and
 * alerts; verify reports them, before and after the seal. A genuine crash mid-batch still seals quietly.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { queryAuditLog, verifyAuditLog, type VerifyReport } from '../../src/audit/index.js';
import { chainLine } from '../../src/audit/chain.js';
import { canonicalJson } from '../../src/audit/canonical.js';
import { HeadNote, headNotePath } from '../../src/audit/headnote.js';
import { keyId } from '../../src/audit/keys.js';
import { isSealPiece, tornShape } from '../../src/audit/recover.js';
import { cli } from '../helpers/cli.js';
import { memoryLogger, openTestLog, publicKeyOf, readLines, seedEvent, tempDir, writeLog } from '../audit/helpers.js';

const kinds = (r: VerifyReport): string[] => [...new Set(r.breaks.map((b) => b.kind))].sort();
const noteOf = (state: string): string => headNotePath(state, 'audit.jsonl');
const keyOf = (state: string) => createPrivateKey(readFileSync(join(state, 'audit-signing.key'), 'utf8'));
const unvouchedAlerts = (logger: ReturnType<typeof memoryLogger>) => logger.lines.filter((l) => (l.obj as { alert?: string }).alert === 'audit_unvouched').map((l) => (l.obj as { reason: string }).reason);
const records = (file: string) => readLines(file).flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; } });

/** The forged line of the report: a complete, plausible record without a chain trailer, and without a newline. */
const FORGED = JSON.stringify({ approval: { approver: 'alice', id: 'apr_0000000000000000', required: true }, approved: true, args: { package_name: 'backdoor' }, event_type: 'tool.call', principal: 'ops-automation', result: 'success', result_status: 'success', risk_level: 'critical', subject: 'ops-automation', timestamp: '2026-01-01T00:00:00.000Z', tool: 'install_package' });

/** `gatehouse audit verify` on the configured log (the state directory's), in-process: the head note is checked, with its MAC. */
async function cliVerify(state: string): Promise<{ code: number; out: string; err: string }> {
  const r = await cli(['audit', 'verify'], { env: { GATEHOUSE_HOME: state }, stdin: '', cwd: process.cwd() });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

/** Verify with the note and its MAC key, with the note unchecked, and from the files alone. */
const verifyAll = async (state: string, dir: string) => ({
  keyed: await verifyAuditLog(dir, { publicKey: publicKeyOf(state), headNote: noteOf(state), noteKey: keyOf(state) }),
  unchecked: await verifyAuditLog(dir, { publicKey: publicKeyOf(state), headNote: noteOf(state) }),
  files: await verifyAuditLog(dir, { publicKey: publicKeyOf(state) }),
});

async function assertMarkedAndReported(state: string, dir: string, logger: ReturnType<typeof memoryLogger>): Promise<void> {
  assert.deepEqual(unvouchedAlerts(logger), ['appended']);
  assert.ok(logger.lines.some((l) => l.level === 'error' && /ALERT: .*line without its newline/.test(l.msg ?? '') && (l.obj as { torn?: boolean }).torn === true), JSON.stringify(logger.lines));
  const file = join(dir, 'audit.jsonl');
  const all = records(file);
  const sealAt = all.findIndex((r) => r['event_type'] === 'audit.torn_sealed');
  const marker = all[sealAt + 1];
  assert.ok(sealAt >= 0 && marker?.['event_type'] === 'audit.unvouched', 'the seal is followed by an unvouched marker');
  const u = marker['unvouched'] as { reason: string; found_seq: number; noted_seq: number };
  assert.equal(u.reason, 'appended');
  assert.equal(u.found_seq, u.noted_seq, 'nothing but the torn bytes after the noted head');
  const v = await verifyAll(state, dir);
  for (const r of [v.keyed, v.unchecked, v.files]) {
    assert.equal(r.status, 'broken', JSON.stringify(r.breaks));
    assert.deepEqual(kinds(r), ['unvouched']);
    assert.deepEqual(r.sealed, [], 'the sealed line is not listed as a crash\'s');
    assert.match(r.breaks[0]?.message ?? '', /line without its newline .*not a torn write from a crash/);
  }
  const cli = await cliVerify(state);
  assert.equal(cli.code, 1, cli.out + cli.err);
  assert.doesNotMatch(cli.out + cli.err, /from a crash, sealed/);
  const found: string[] = [];
  await queryAuditLog(dir, {}, (rec) => found.push(String((rec['args'] as { package_name?: string } | undefined)?.package_name)));
  assert.ok(!found.includes('backdoor'), 'query returned the forged line');
}

describe('a forged record planted without its newline is not sealed as crash debris', () => {
  test('after the writer closed: verify (API and CLI) reports it before any writer runs, not as torn', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 5);
    appendFileSync(join(dir, 'audit.jsonl'), FORGED);
    const v = await verifyAll(state, dir);
    for (const r of [v.keyed, v.unchecked]) {
      assert.equal(r.status, 'broken', JSON.stringify(r));
      assert.deepEqual(kinds(r), ['unvouched']);
      assert.match(r.breaks[0]?.message ?? '', /without a newline after seq \d+, outside any batch the writers announced/);
      assert.equal(r.torn, undefined);
    }
    // From the files alone nothing tells a planted line from a crash's: torn, as documented.
    assert.equal(v.files.status, 'torn');
    const cli = await cliVerify(state);
    assert.equal(cli.code, 1, cli.out + cli.err);
    assert.match(cli.err, /BROKEN/);
  });

  test('the writer restarted: it seals the line, marks it appended, alerts and keeps working; verify stays broken', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 5);
    appendFileSync(join(dir, 'audit.jsonl'), FORGED);
    const logger = memoryLogger();
    const log = await openTestLog(state, {}, { logger });
    await log.emit(seedEvent(99)); // not refused: anyone who can write the directory could otherwise stop the gateway
    await log.close();
    assert.ok(logger.lines.some((l) => /sealing a last line without its newline that no writer was writing/.test(l.msg ?? '')));
    await assertMarkedAndReported(state, dir, logger);
    assert.ok(records(join(dir, 'audit.jsonl')).some((r) => (r['args'] as { i?: number } | undefined)?.i === 99));
  });

  test('a running writer between bursts (its lock lease lapsed) marks it at its next batch', async (t) => {
    const state = tempDir(t);
    const logger = memoryLogger();
    const log = await openTestLog(state, {}, { logger });
    for (let i = 0; i < 3; i++) await log.emit(seedEvent(i));
    await sleep(60);
    appendFileSync(log.path, FORGED);
    for (let i = 10; i < 13; i++) await log.emit(seedEvent(i));
    await log.close();
    await assertMarkedAndReported(state, log.dir, logger);
  });

  test('a running writer that keeps its lock lease (steady traffic) marks it at its next batch, not a second later', async (t) => {
    const state = tempDir(t);
    const logger = memoryLogger();
    // A lease that outlives the gaps between batches: the writer never gives the lock back, so nothing but the size of
    // the file tells it someone appended.
    const log = await openTestLog(state, {}, { logger, lockIdleMs: 60_000 });
    for (let i = 0; i < 3; i++) await log.emit(seedEvent(i));
    appendFileSync(log.path, FORGED);
    for (let i = 10; i < 13; i++) await log.emit(seedEvent(i));
    await log.close();
    await assertMarkedAndReported(state, log.dir, logger);
  });

  test('after a pending note whose batch reached the disk whole (killed before the settled note), bytes after it are appended too', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 5);
    const file = join(dir, 'audit.jsonl');
    const lines = readLines(file);
    const head = JSON.parse(lines.at(-1) as string) as { seq: number; hash: string };
    const before = JSON.parse(lines.at(-3) as string) as { seq: number; hash: string };
    const key = keyOf(state);
    const note = new HeadNote(noteOf(state), 'audit.jsonl', key, keyId(createPublicKey(key)));
    note.read();
    note.write({ seq: head.seq, hash: head.hash }, { seq: before.seq, hash: before.hash });
    note.close();
    appendFileSync(file, FORGED);
    assert.equal((await verifyAuditLog(dir, { publicKey: publicKeyOf(state), headNote: noteOf(state), noteKey: key })).status, 'broken');
    const logger = memoryLogger();
    await (await openTestLog(state, {}, { logger })).close();
    await assertMarkedAndReported(state, dir, logger);
  });

  test('a forged record with a valid chain trailer and no newline: completed as a record, marked appended', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 5);
    const file = join(dir, 'audit.jsonl');
    const last = JSON.parse(readLines(file).at(-1) as string) as { seq: number; hash: string };
    appendFileSync(file, chainLine(canonicalJson(JSON.parse(FORGED) as Record<string, unknown>), last.seq + 1, last.hash).line);
    assert.equal((await verifyAuditLog(dir, { publicKey: publicKeyOf(state), headNote: noteOf(state), noteKey: keyOf(state) })).status, 'broken');
    const logger = memoryLogger();
    await (await openTestLog(state, {}, { logger })).close();
    assert.deepEqual(unvouchedAlerts(logger), ['appended']);
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state), headNote: noteOf(state), noteKey: keyOf(state) });
    assert.equal(r.status, 'broken');
    assert.deepEqual(kinds(r), ['unvouched']);
    assert.match(r.breaks[0]?.message ?? '', new RegExp(`records seq ${last.seq + 1}–${last.seq + 1} were appended`));
  });
});

describe('what a crash leaves is still sealed quietly', () => {
  test('a pending note and a torn line inside its batch, then a seal of it cut short: a warning, no alert, verify OK', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 4);
    const file = join(dir, 'audit.jsonl');
    const head = JSON.parse(readLines(file).at(-1) as string) as { seq: number; hash: string };
    // What a writer killed mid-batch leaves: the batch announced (two records), a piece of its first line on disk.
    const key = keyOf(state);
    const note = new HeadNote(noteOf(state), 'audit.jsonl', key, keyId(createPublicKey(key)));
    note.read();
    note.write({ seq: head.seq + 2, hash: 'a'.repeat(64) }, head);
    note.close();
    appendFileSync(file, '{"event_type":"tool.call","args":{"pa');
    const opts = { publicKey: publicKeyOf(state), headNote: noteOf(state), noteKey: key };
    const torn = await verifyAuditLog(dir, opts);
    assert.equal(torn.status, 'torn', JSON.stringify(torn.breaks));
    assert.equal((await cliVerify(state)).code, 3);
    // The next writer's seal cut short in turn (no note is written before a marker batch).
    appendFileSync(file, '\n{"event_type":"audit.torn_sealed","timest');
    assert.equal((await verifyAuditLog(dir, opts)).status, 'torn');

    const logger = memoryLogger();
    const log = await openTestLog(state, {}, { logger });
    await log.emit(seedEvent(9));
    await log.close();
    assert.deepEqual(unvouchedAlerts(logger), []);
    assert.ok(!logger.lines.some((l) => l.level === 'error'), JSON.stringify(logger.lines));
    assert.ok(logger.lines.some((l) => /sealing a torn last line left by a crash/.test(l.msg ?? '')));
    const r = await verifyAuditLog(dir, opts);
    assert.equal(r.status, 'ok', JSON.stringify(r.breaks));
    assert.equal(r.sealed.length, 1);
    assert.equal((await cliVerify(state)).code, 0);
  });
});

describe('pieces of a seal are only what a seal write cut short leaves', () => {
  test('every prefix of a real seal line is a piece; a line that only starts like one is not', () => {
    const bytes = Buffer.from('x\n');
    const torn = { bytes: bytes.length, offset: 1234, sha256: createHash('sha256').update(bytes).digest('hex') };
    const seal = chainLine(canonicalJson({ event_type: 'audit.torn_sealed', timestamp: '2026-01-01T00:00:00.000Z', torn }), 42, 'b'.repeat(64)).line;
    for (let n = 1; n <= seal.length; n++) assert.equal(isSealPiece(Buffer.from(seal.slice(0, n))), true, seal.slice(0, n));
    assert.equal(isSealPiece(Buffer.from(seal + 'x')), false);
    const planted = Buffer.from('{"event_type":"audit.torn_sealed","approved":true,"args":{"package_name":"backdoor"},"tool":"install_package"}');
    assert.equal(isSealPiece(planted), false);
    assert.equal(isSealPiece(Buffer.from('{"event_type":"audit.torn_sealed","timestamp":"2026-01-01T00:00:00.000Z","tool":"x"')), false);
    assert.equal(tornShape([planted, Buffer.from('{"par')], Buffer.from('{"event_type":"audit.torn_sealed",')), false);
  });

  test('complete lines planted to look like seal pieces are damage: the writer refuses them, verify says broken', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 5);
    const file = join(dir, 'audit.jsonl');
    appendFileSync(file, '{"par\n{"event_type":"audit.torn_sealed","approved":true,"tool":"install_package"}\n{"event_type":"audit.torn_sealed",');
    await assert.rejects(openTestLog(state), { code: 'GH_AUDIT_CHAIN_BROKEN' });
    assert.equal((await verifyAuditLog(dir, { publicKey: publicKeyOf(state) })).status, 'broken');
  });
});
