/**
 * Review finding E: records with a correct seq, prev_hash and hash appended while no writer runs. A writer announces
 * each batch in the head note (pending, `to` = the batch's end) before writing its bytes, so verify, reading the note
 * again once it has read the files, knows that records beyond that `to` came from no key holder: a break, not a
 * warning that "a writer may be running". A writer that is running is covered by the re-read and is never reported.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { verifyAuditLog, type VerifyReport } from '../../src/audit/index.js';
import { chainLine } from '../../src/audit/chain.js';
import { canonicalJson } from '../../src/audit/canonical.js';
import { headNotePath } from '../../src/audit/headnote.js';
import { runCli } from '../../src/cli/main.js';
import { openTestLog, publicKeyOf, readLines, seedEvent, tempDir, writeLog } from '../audit/helpers.js';

const kinds = (r: VerifyReport): string[] => [...new Set(r.breaks.map((b) => b.kind))].sort();
const noteOf = (state: string): string => headNotePath(state, 'audit.jsonl');
const keyOf = (state: string) => createPrivateKey(readFileSync(join(state, 'audit-signing.key'), 'utf8'));

function forgeAfter(file: string): number {
  const last = JSON.parse(readLines(file).pop() as string) as { seq: number; hash: string };
  const payload = { approved: true, event_type: 'tool.call', result: 'success', result_status: 'success', risk_level: 'critical', subject: 'alice', timestamp: '2026-01-01T00:00:00.000Z', tool: 'install_package' };
  appendFileSync(file, chainLine(canonicalJson(payload), last.seq + 1, last.hash).line + '\n');
  return last.seq;
}

function sink(): Writable & { text: string } {
  const w = new Writable({ write(chunk: Buffer, _enc, cb) { (w as unknown as { text: string }).text += chunk.toString(); cb(); } }) as Writable & { text: string };
  w.text = '';
  return w;
}

async function cli(argv: string[], state: string): Promise<{ code: number; out: string; err: string }> {
  const stdout = sink();
  const stderr = sink();
  const code = await runCli(argv, { stdout, stderr, stdin: Readable.from(['']), env: { GATEHOUSE_HOME: state }, cwd: process.cwd() });
  return { code, out: stdout.text, err: stderr.text };
}

describe('records appended while no writer runs are a break, not a warning', () => {
  test('verify with the head note (MAC checked, or not) reports them; the CLI exits 1', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 3);
    const head = forgeAfter(join(dir, 'audit.jsonl'));
    for (const opts of [{ headNote: noteOf(state), noteKey: keyOf(state) }, { headNote: noteOf(state) }]) {
      const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state), ...opts });
      assert.equal(r.status, 'broken', JSON.stringify(r));
      assert.deepEqual(kinds(r), ['unvouched']);
      assert.equal(r.breaks[0]?.seq, head + 1);
      assert.match(r.breaks[0]?.message ?? '', new RegExp(`1 record\\(s\\) after seq ${head}, the end of the newest batch the writers announced`));
      assert.ok(!r.warnings.some((w) => /a writer may be running/.test(w)), JSON.stringify(r.warnings));
    }
    const c = await cli(['audit', 'verify'], state);
    assert.equal(c.code, 1, c.out + c.err);
    assert.match(c.err, /unvouched: 1 record\(s\) after seq/);
    // --expect-head is a lower bound an operator kept: records after it are no break.
    const e = await cli(['audit', 'verify', '--expect-head', String(head)], state);
    assert.equal(e.code, 0, e.out + e.err);
  });

  test('a later writer marks them too, and verify keeps reporting them', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 3);
    forgeAfter(join(dir, 'audit.jsonl'));
    await (await openTestLog(state)).close();
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state), headNote: noteOf(state), noteKey: keyOf(state) });
    assert.equal(r.status, 'broken');
    assert.deepEqual(kinds(r), ['unvouched']);
  });

  test('records a running writer writes while verify reads are vouched for by the note read again: never a break', async (t) => {
    const state = tempDir(t);
    // Small writes: verify often meets a batch half-written, whose pending note it reads afterwards.
    const log = await openTestLog(state, {}, { writeChunkBytes: 256 });
    let stop = false;
    const writing = (async () => {
      for (let i = 0; !stop; i++) await Promise.all([log.emit(seedEvent(i)), log.emit(seedEvent(i + 1_000_000))]);
    })();
    try {
      let runs = 0;
      for (const until = Date.now() + 1500; Date.now() < until; runs++) {
        const r = await verifyAuditLog(log.dir, { publicKey: publicKeyOf(state), headNote: noteOf(state), noteKey: keyOf(state) });
        assert.ok(r.status === 'ok' || r.status === 'torn', JSON.stringify(r.breaks));
      }
      assert.ok(runs > 3);
    } finally {
      stop = true;
      await writing;
      await log.close();
    }
    const r = await verifyAuditLog(log.dir, { publicKey: publicKeyOf(state), headNote: noteOf(state), noteKey: keyOf(state) });
    assert.equal(r.status, 'ok', JSON.stringify(r.breaks));
    assert.deepEqual(r.warnings.filter((w) => /after seq/.test(w)), []);
  });
});
