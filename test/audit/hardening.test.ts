/**
 * Review findings 5, 6 and 7: records too large for readers, hostile non-regular files, and a checkpoint naming an
 * algorithm verify does not implement.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { verifyAuditLog } from '../../src/audit/index.js';
import { MAX_RECORD_BYTES, serializePayload } from '../../src/audit/record.js';
import { readLines as readFileLines } from '../../src/audit/files.js';
import { auditSection } from '../../src/config/schema/audit.js';
import { openTestLog, publicKeyOf, readLines, rechain, tempDir, writeLines, writeLog } from './helpers.js';

/** Fails instead of hanging when a reader blocks on a FIFO (a guard, not a timing assertion). */
function notHanging<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} hangs`)), 10_000)));
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

describe('record size (finding 5)', () => {
  test('max_args_bytes is capped at 1mb', () => {
    assert.throws(() => auditSection.parse({ max_args_bytes: '64mb' }), /at most 1mb/);
    assert.equal(auditSection.parse({ max_args_bytes: '1mb' }).max_args_bytes, 1024 * 1024);
  });

  test('args are bounded in UTF-8 bytes, not UTF-16 units; a library caller above the cap is held to it', () => {
    const euro = '€'.repeat(400_000); // 400 000 units, 1 200 000 bytes
    const text = serializePayload({ args: { v: euro }, event_type: 'tool.call' }, 1024 * 1024);
    assert.match(text, /"_truncated":true/);
    const huge = serializePayload({ args: { v: 'a'.repeat(3_000_000) }, event_type: 'tool.call' }, 64 * 1024 * 1024);
    assert.ok(Buffer.byteLength(huge) < MAX_RECORD_BYTES);
    assert.match(huge, /"_truncated":true/);
  });
});

describe('hostile files (finding 6)', () => {
  test('a FIFO named audit.jsonl: verify reports it instead of hanging, the writer refuses to open it', async (t) => {
    const state = tempDir(t);
    const dir = join(state, 'audit');
    mkdirSync(dir, { recursive: true });
    execFileSync('mkfifo', [join(dir, 'audit.jsonl')]);
    const r = await notHanging(verifyAuditLog(dir), 'verify');
    assert.equal(r.status, 'broken');
    assert.match(r.breaks[0]?.message ?? '', /not a regular file/);
    await assert.rejects(notHanging(openTestLog(state), 'the writer'));
  });

  test('a long gzipped line is read whole, once', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'audit.000000000001.jsonl.gz');
    const line = 'x'.repeat(3 * 1024 * 1024);
    writeFileSync(path, gzipSync(`${line}\nshort\n`));
    const seen: number[] = [];
    await readFileLines({ path, gzip: true }, (_b, s, e) => void seen.push(e - s));
    assert.deepEqual(seen, [line.length, 5]);
  });
});

describe('checkpoint algorithm (finding 7)', () => {
  test('a checkpoint whose alg is not Ed25519 is refused, even rehashed', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 5);
    const file = join(dir, 'audit.jsonl');
    const lines = readLines(file);
    const i = lines.length - 1;
    assert.ok(lines[i]?.startsWith('{"checkpoint"'));
    lines[i] = (lines[i] as string).replace('"alg":"Ed25519"', '"alg":"none"');
    writeLines(file, rechain(lines, i));
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state) });
    assert.equal(r.status, 'broken');
    assert.deepEqual([...new Set(r.breaks.map((b) => b.kind))], ['forged_checkpoint']);
    assert.match(r.breaks[0]?.message ?? '', /only Ed25519/);
  });
});
