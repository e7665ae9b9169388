/** `gatehouse audit verify` and the head (docs/audit.md § The head note): the note by default, --expect-head. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.js';
import { readLines, tempDir, writeLines, writeLog } from './helpers.js';

function sink(): Writable & { text: string } {
  const w = new Writable({ write(chunk: Buffer, _enc, cb) { (w as unknown as { text: string }).text += chunk.toString(); cb(); } }) as Writable & { text: string };
  w.text = '';
  return w;
}

async function cli(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = sink();
  const stderr = sink();
  const code = await runCli(argv, { stdout, stderr, stdin: Readable.from(['']), env, cwd: process.cwd() });
  return { code, out: stdout.text, err: stderr.text };
}

describe('gatehouse audit verify checks the head', () => {
  test('the configured log cut back to its first checkpoint: broken by the head note, OK only without an anchor', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 30, { checkpoint: { every_records: 10 } });
    assert.equal((await cli(['audit', 'verify'], { GATEHOUSE_HOME: state })).code, 0);
    const file = join(dir, 'audit.jsonl');
    const lines = readLines(file);
    const head = JSON.parse(lines[lines.length - 1] as string) as { seq: number; hash: string };
    writeLines(file, lines.slice(0, lines.findIndex((l) => l.startsWith('{"checkpoint"')) + 1));

    const byNote = await cli(['audit', 'verify'], { GATEHOUSE_HOME: state });
    assert.equal(byNote.code, 1, byNote.out);
    assert.match(byNote.err, /rolled_back: the log ends at seq 11, but the head note says seq 33 was written/);

    const pub = join(state, 'audit-signing.pub');
    assert.equal((await cli(['audit', 'verify', dir, '--pubkey', pub])).code, 0, 'a copy of the directory has no anchor');
    const expect = await cli(['audit', 'verify', dir, '--pubkey', pub, '--expect-head', `${head.seq}:${head.hash}`]);
    assert.equal(expect.code, 1);
    assert.match(expect.err, /rolled_back: .*--expect-head says seq 33/);
    assert.equal((await cli(['audit', 'verify', dir, '--pubkey', pub, '--expect-head', '11'])).code, 0);
    assert.equal((await cli(['audit', 'verify', dir, '--pubkey', pub, '--expect-head', 'x'])).code, 2);
  });
});
