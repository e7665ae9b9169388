/**
 * A genuine crash mid-batch (docs/audit.md § Crashes): a writer process killed (SIGKILL) while its batch's bytes were
 * only partly written leaves a pending head note and a torn last line. Verify calls it torn (exit 3), not tampering,
 * and the next writer seals it quietly: a warning, an `interrupted` marker, no `audit_unvouched` alert — also when the
 * kill cut the batch exactly before a record's final newline (a complete JSON record without its newline).
 *
 * The kill is real and lands where the test says: the child wraps fs.write (the appender's write(2)), writes part of
 * the batch itself and SIGKILLs itself before returning.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyAuditLog } from '../../src/audit/index.js';
import { headNotePath, readHeadNote } from '../../src/audit/headnote.js';
import { cli } from '../helpers/cli.js';
import { memoryLogger, openTestLog, publicKeyOf, readLines, seedEvent, tempDir } from './helpers.js';

const ROOT = new URL('../..', import.meta.url).pathname;

/** The child: 4 records in their own batches, then a batch of 3 whose write is cut at `cut` and the process killed. */
const CHILD = `
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
const [stateDir, cut] = process.argv.slice(1);
const realWrite = fs.write;
let armed = false;
fs.write = function (fd, buf, off, len, pos, cb) {
  if (armed && Buffer.isBuffer(buf) && typeof cb === 'function') {
    const bytes = buf.subarray(off, off + len);
    const lastStart = bytes.lastIndexOf(10, bytes.length - 2) + 1;
    // 'mid-line': half of the batch's last line; 'no-newline': the whole batch but its final newline.
    const n = cut === 'no-newline' ? bytes.length - 1 : lastStart + Math.floor((bytes.length - lastStart) / 2);
    fs.writeSync(fd, bytes, 0, n);
    process.kill(process.pid, 'SIGKILL');
    return;
  }
  return realWrite.apply(this, arguments);
};
syncBuiltinESMExports();
const { auditSection } = await import(${JSON.stringify(join(ROOT, 'src/config/schema/audit.ts'))});
const { openAuditLog } = await import(${JSON.stringify(join(ROOT, 'src/audit/index.ts'))});
const logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, child() { return logger; } };
const log = await openAuditLog(auditSection.parse({}), { stateDir, logger });
const ev = (i) => ({ event_type: 'tool.call', result_status: 'success', subject: 'ops', tool: 'list_containers', risk_level: 'low', args: { i } });
for (let i = 0; i < 4; i++) await log.emit(ev(i));
await new Promise((r) => setTimeout(r, 30));
armed = true;
await Promise.all([log.emit(ev(10)), log.emit(ev(11)), log.emit(ev(12))]);
process.stdout.write('not killed\\n');
`;

async function crashChild(state: string, cut: 'mid-line' | 'no-newline'): Promise<NodeJS.Signals | null> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD, state, cut], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code, signal] = (await new Promise((resolve) => child.on('exit', (c, s) => resolve([c, s])))) as [number | null, NodeJS.Signals | null];
  assert.equal(signal, 'SIGKILL', `child exited ${code}: ${err}`);
  return signal;
}

/** `gatehouse audit verify` on the configured log (the state directory's), in-process: the head note is checked, with its MAC. */
async function cliVerify(state: string): Promise<{ code: number; out: string; err: string }> {
  const r = await cli(['audit', 'verify'], { env: { GATEHOUSE_HOME: state }, stdin: '', cwd: ROOT });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

const alertsOf = (logger: ReturnType<typeof memoryLogger>): string[] => logger.lines.map((l) => (l.obj as { alert?: string }).alert).filter((a): a is string => a !== undefined);

describe('a writer killed mid-batch: the torn line is a crash, sealed quietly', () => {
  for (const cut of ['mid-line', 'no-newline'] as const) {
    test(`SIGKILL with the batch cut ${cut === 'mid-line' ? 'inside a line' : 'just before its final newline (a complete JSON record)'}: verify says torn, the restart seals it with a warning only`, async (t) => {
      const state = tempDir(t);
      await crashChild(state, cut);
      const dir = join(state, 'audit');
      const file = join(dir, 'audit.jsonl');
      const bytes = readFileSync(file);
      assert.notEqual(bytes[bytes.length - 1], 0x0a, 'the kill left a torn last line');
      if (cut === 'no-newline') assert.doesNotThrow(() => JSON.parse(bytes.toString('utf8').split('\n').pop() as string), 'the torn line is a complete JSON record');
      const key = createPrivateKey(readFileSync(join(state, 'audit-signing.key'), 'utf8'));
      const note = readHeadNote(headNotePath(state, 'audit.jsonl'), 'audit.jsonl', undefined);
      assert.ok(note.status === 'unchecked' && note.note.from.seq < note.note.to.seq, 'the kill left a pending head note');

      const opts = { publicKey: publicKeyOf(state), headNote: headNotePath(state, 'audit.jsonl'), noteKey: key };
      const before = await verifyAuditLog(dir, opts);
      assert.equal(before.status, 'torn', JSON.stringify(before.breaks));
      assert.deepEqual(before.breaks, []);
      const cli = await cliVerify(state);
      assert.equal(cli.code, 3, cli.out + cli.err);

      const logger = memoryLogger();
      const log = await openTestLog(state, {}, { logger });
      await log.emit(seedEvent(20));
      await log.close();
      assert.ok(!logger.lines.some((l) => l.level === 'error'), JSON.stringify(logger.lines));
      if (cut === 'mid-line') {
        assert.ok(logger.lines.some((l) => l.level === 'warn' && /sealing a torn last line left by a crash/.test(l.msg ?? '')), JSON.stringify(logger.lines));
        assert.deepEqual(alertsOf(logger), ['audit_batch_interrupted']);
      } else {
        // The record was written whole: its line is completed (a second record with its seq would follow a seal).
        assert.ok(logger.lines.some((l) => l.level === 'warn' && /completing the last record/.test(l.msg ?? '')), JSON.stringify(logger.lines));
        // Interrupted when the batch held more records than the one cut; none of it when that was its last.
        assert.ok(alertsOf(logger).every((a) => a === 'audit_batch_interrupted'), JSON.stringify(alertsOf(logger)));
      }

      for (const o of [opts, { publicKey: publicKeyOf(state) }]) {
        const after = await verifyAuditLog(dir, o);
        assert.equal(after.status, 'ok', JSON.stringify(after.breaks));
        assert.equal(after.sealed.length, cut === 'mid-line' ? 1 : 0);
      }
      assert.equal((await cliVerify(state)).code, 0);
      assert.equal(readLines(file).some((l) => l.includes('"event_type":"audit.torn_sealed"')), cut === 'mid-line');
      const seqs = readLines(file).flatMap((l) => { try { return [(JSON.parse(l) as { seq: number }).seq]; } catch { return []; } });
      assert.deepEqual(seqs, seqs.map((_, i) => i + 1), 'one chain, no seq twice');
    });
  }
});
