import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { verifyAuditLog } from '../../src/audit/index.js';
import { tableRow } from '../../src/audit/format.js';
import { openTestLog, publicKeyOf, readLines, seedEvent, tempDir } from '../audit/helpers.js';

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
