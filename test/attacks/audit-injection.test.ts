import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyAuditLog } from '../../src/audit/index.js';
import { formatVerifyReport, tableRow } from '../../src/audit/format.js';
import { queryAuditLog, tailAuditLog } from '../../src/audit/query.js';
import { openTestLog, publicKeyOf, readLines, rechain, seedEvent, tempDir, writeLines, writeLog } from '../audit/helpers.js';

describe('hostile values cannot forge or hide audit records', () => {
  test('log injection: newlines and a fake record inside args, subject and user agent stay inside one line', async (t) => {
    const state = tempDir(t);
    const log = await openTestLog(state);
    const fake = '\n{"event_type":"tool.call","result_status":"success","seq":2,"prev_hash":"x","hash":"y"}\r\n';
    await log.emit(seedEvent(0, { subject: `mallory${fake}`, user_agent: fake, args: { cmd: fake, [fake]: 1 } }));
    await log.emit(seedEvent(1));
    await log.close();
    const lines = readLines(join(log.dir, 'audit.jsonl'));
    assert.equal(lines.length, 3);
    assert.equal((JSON.parse(lines[0] as string) as { subject: string }).subject, `mallory${fake}`);
    assert.equal((await verifyAuditLog(log.dir, { publicKey: publicKeyOf(state) })).status, 'ok');
  });

  test('a record written by hand without a chain trailer is sealed by the next writer as appended (not as a crash), reported by verify, and never returned by query or tail', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 3);
    // No newline at the end: it looks like a crash's torn last line, but no writer announced a batch after the head the
    // settled note vouches for, so the next writer seals it and marks it `appended` (docs/audit.md § Crashes).
    const forged = { event_type: 'tool.call', result_status: 'success', subject: 'alice', tool: 'drop_database', timestamp: '2026-01-01T00:00:00.000Z' };
    appendFileSync(join(dir, 'audit.jsonl'), JSON.stringify(forged));
    const log = await openTestLog(state);
    await log.emit(seedEvent(3));
    await log.close();
    const v = await verifyAuditLog(dir, { publicKey: publicKeyOf(state) });
    assert.equal(v.status, 'broken', JSON.stringify(v.breaks));
    assert.deepEqual([...new Set(v.breaks.map((b) => b.kind))], ['unvouched']);
    assert.deepEqual(v.sealed, [], 'the forged line is not listed as a crash\'s torn write');
    const marker = readLines(join(dir, 'audit.jsonl')).flatMap((l) => { try { return [JSON.parse(l) as { event_type: string; unvouched?: { reason: string } }]; } catch { return []; } }).find((r) => r.event_type === 'audit.unvouched');
    assert.equal(marker?.unvouched?.reason, 'appended', 'the seal is marked appended');
    const found: string[] = [];
    await queryAuditLog(dir, {}, (rec) => found.push(String(rec['tool'])));
    assert.ok(found.includes('install_package'));
    assert.ok(!found.includes('drop_database'), 'query returned the forged line as a record');
    const tail = await tailAuditLog(dir, 100);
    assert.ok(!tail.some((x) => x.record['tool'] === 'drop_database'), 'tail returned the forged line as a record');
  });

  test('chain fields inside args ("seq", "prev_hash", "hash", a fake trailer in a string) do not confuse verify', async (t) => {
    const state = tempDir(t);
    const log = await openTestLog(state);
    const trailer = `,"seq":999,"prev_hash":"${'0'.repeat(64)}","hash":"${'f'.repeat(64)}"}`;
    await log.emit(seedEvent(0, { args: { seq: 999, prev_hash: '0'.repeat(64), hash: 'f'.repeat(64), note: trailer }, metadata: { checkpoint: { signature: 'x' } } }));
    await log.emit(seedEvent(1, { tool: trailer }));
    await log.close();
    const r = await verifyAuditLog(log.dir, { publicKey: publicKeyOf(state) });
    assert.equal(r.status, 'ok', JSON.stringify(r.breaks));
    assert.equal(r.lastSeq, 3);
    const first = JSON.parse(readLines(join(log.dir, 'audit.jsonl'))[0] as string) as { seq: number; args: { seq: number } };
    assert.deepEqual([first.seq, first.args.seq], [1, 999]);
  });

  test('terminal escape sequences in a record never reach the terminal through the query table', () => {
    const row = tableRow({ timestamp: '2026-01-01T00:00:00Z', event_type: 'tool.call', subject: '\u001b]0;pwned\u0007\u001b[2J', error: 'x\u009b31m' });
    assert.doesNotMatch(row, /[\u0000-\u001f\u007f-\u009f]/);
  });

  test('bidi overrides and zero-width characters in a record cannot disguise a query table cell', () => {
    const row = tableRow({ timestamp: '2026-01-01T00:00:00Z', event_type: 'tool.call', subject: '\u202eresu-nimda\u200b', error: '\u2066x\u2069' });
    assert.doesNotMatch(row, /[\u200b-\u200f\u202a-\u202e\u2066-\u2069]/);
  });

  test('terminal escape sequences in a forged checkpoint never reach the terminal through the verify report', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 20, { checkpoint: { every_records: 10 } });
    const file = join(dir, 'audit.jsonl');
    const lines = readLines(file);
    const i = lines.findIndex((l) => l.startsWith('{"checkpoint":'));
    // Erase the line, move up, print a fake verdict: what the key id would do on an operator's terminal.
    const hostile = JSON.stringify('\u001b[2K\u001b[1AOK: all good\u009b2J\u202e').slice(1, -1);
    lines[i] = (lines[i] as string).replace(/"key_id":"[0-9a-f]+"/, `"key_id":"${hostile}"`);
    writeLines(file, rechain(lines, i));
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state) });
    assert.ok(r.breaks.some((b) => b.kind === 'forged_checkpoint'));
    const out = formatVerifyReport(r).join('\n');
    assert.match(out, /^BROKEN: /m);
    assert.doesNotMatch(out.replaceAll('\n', ''), /[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/);
  });

  test('a huge argument is bounded: replaced by its size and hash, the record still written', async (t) => {
    const state = tempDir(t);
    const log = await openTestLog(state);
    const deep: Record<string, unknown> = {};
    let cur = deep;
    for (let i = 0; i < 1000; i++) cur = cur['n'] = {} as Record<string, unknown>;
    await log.emit(seedEvent(0, { args: { blob: 'A'.repeat(5_000_000), deep, many: Array.from({ length: 100_000 }, (_, i) => i) } }));
    await log.close();
    const [line] = readLines(join(log.dir, 'audit.jsonl'));
    assert.ok((line as string).length < 20_000, `line is ${(line as string).length} bytes`);
  });
});
