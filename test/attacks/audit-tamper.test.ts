import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { appendFileSync, readFileSync, readdirSync, renameSync, truncateSync, unlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { verifyAuditLog, type VerifyReport } from '../../src/audit/index.js';
import { checkpointMessage } from '../../src/audit/checkpoint.js';
import { publicKeyOf, readLines, rechain, tempDir, writeLines, writeLog } from '../audit/helpers.js';

const kinds = (r: VerifyReport): string[] => [...new Set(r.breaks.map((b) => b.kind))].sort();

async function setup(t: { after(fn: () => void): void }, n = 60, cfg: Record<string, unknown> = { checkpoint: { every_records: 10 } }) {
  const state = tempDir(t);
  const dir = await writeLog(state, n, cfg);
  const file = join(dir, 'audit.jsonl');
  const verify = () => verifyAuditLog(dir, { publicKey: publicKeyOf(state), everyRecords: 10 });
  return { state, dir, file, verify, lines: readLines(file) };
}

describe('audit chain tampering is detected', () => {
  test('an untouched log verifies, with every checkpoint signature checked', async (t) => {
    const { verify, lines } = await setup(t);
    const r = await verify();
    assert.equal(r.status, 'ok');
    assert.equal(r.records, lines.length);
    assert.ok(r.checkpoints >= 6);
    assert.equal(r.signaturesChecked, true);
    assert.deepEqual(r.breaks, []);
  });

  test('deleted log: a directory whose every audit file was removed is broken, not "OK: 0 records"', async (t) => {
    const { dir, verify } = await setup(t);
    for (const f of readdirSync(dir)) if (f.startsWith('audit')) unlinkSync(join(dir, f));
    const r = await verify();
    assert.equal(r.status, 'broken');
    assert.deepEqual(kinds(r), ['missing_log']);
  });

  test('modified record: changing a field without rehashing', async (t) => {
    const { file, lines, verify } = await setup(t);
    lines[4] = (lines[4] as string).replace('"nginx"', '"netcat"');
    writeLines(file, lines);
    const r = await verify();
    assert.equal(r.status, 'broken');
    assert.deepEqual(kinds(r), ['modified']);
    assert.equal(r.breaks[0]?.line, 5);
    assert.equal(r.breaks[0]?.seq, 5);
  });

  test('modified record rehashed: the next record no longer links to it', async (t) => {
    const { file, lines, verify } = await setup(t);
    lines[4] = (lines[4] as string).replace('"nginx"', '"netcat"');
    writeLines(file, rechain(lines, 4).slice(0, 5).concat(lines.slice(5)));
    const r = await verify();
    assert.deepEqual(kinds(r), ['chain']);
    assert.equal(r.breaks[0]?.seq, 6);
  });

  test('deleted record', async (t) => {
    const { file, lines, verify } = await setup(t);
    lines.splice(12, 1);
    writeLines(file, lines);
    const r = await verify();
    assert.deepEqual(kinds(r), ['deleted']);
    assert.match(r.breaks[0]?.message ?? '', /seq 13 is missing/);
  });

  test('inserted record: a forged record with a valid hash claiming the next seq', async (t) => {
    const { file, lines, verify } = await setup(t);
    const forged = rechain([...lines.slice(0, 20), (lines[19] as string).replace('"nginx"', '"backdoor"')], 20)[20] as string;
    lines.splice(20, 0, forged);
    writeLines(file, lines);
    const r = await verify();
    assert.ok(kinds(r).includes('inserted'));
    assert.equal(r.breaks.find((b) => b.kind === 'inserted')?.seq, 21);
  });

  test('inserted line that is not a record at all', async (t) => {
    const { file, lines, verify } = await setup(t);
    lines.splice(3, 0, '{"timestamp":"2026-01-01T00:00:00Z","tool":"install_package","result_status":"success"}');
    writeLines(file, lines);
    const r = await verify();
    assert.deepEqual(kinds(r), ['malformed']);
    assert.equal(r.breaks[0]?.line, 4);
  });

  test('reordered records', async (t) => {
    const { file, lines, verify } = await setup(t);
    [lines[7], lines[8]] = [lines[8] as string, lines[7] as string];
    writeLines(file, lines);
    const r = await verify();
    assert.deepEqual(kinds(r), ['reordered']);
  });

  test('truncated mid-line: reported as torn, not as tampering', async (t) => {
    const { file, verify } = await setup(t);
    truncateSync(file, statSync(file).size - 40);
    const r = await verify();
    assert.equal(r.ok, true);
    assert.equal(r.status, 'torn');
    assert.ok(r.torn);
    assert.deepEqual(r.breaks, []);
  });

  test('truncated rotated file: a closed file must end with a checkpoint', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 200, { checkpoint: { every_records: 10 }, rotation: { max_size: 8000 }, compress: false });
    const files = readdirSync(dir).filter((f) => /\.\d{12}\.jsonl$/.test(f)).sort();
    assert.ok(files.length >= 2);
    const victim = join(dir, files[0] as string);
    const lines = readLines(victim);
    writeLines(victim, lines.slice(0, -2));
    assert.ok(!(lines[lines.length - 3] as string).startsWith('{"checkpoint"'));
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state) });
    assert.ok(kinds(r).includes('truncated'));
    assert.ok(kinds(r).includes('deleted'));
  });

  test('forged checkpoint: signed with another key', async (t) => {
    const { file, lines, verify } = await setup(t);
    const other = generateKeyPairSync('ed25519');
    const i = lines.findIndex((l) => l.startsWith('{"checkpoint":'));
    lines[i] = (lines[i] as string).replace(/"signature":"[^"]+"/, `"signature":"${sign(null, Buffer.from('x'), other.privateKey).toString('base64')}"`);
    writeLines(file, rechain(lines, i));
    const r = await verify();
    assert.ok(kinds(r).includes('forged_checkpoint'));
  });

  test('rewritten history: an attacker without the key re-chains and drops the checkpoints', async (t) => {
    const { file, lines, verify } = await setup(t);
    const kept = lines.filter((l, i) => i < 5 || !l.startsWith('{"checkpoint":'));
    kept[4] = (kept[4] as string).replace('"nginx"', '"netcat"');
    writeLines(file, rechain(kept, 4));
    const r = await verify();
    assert.deepEqual(kinds(r), ['missing_checkpoint']);
  });

  test('rewritten history behind a kept checkpoint whose unsigned every_records was raised', async (t) => {
    const { file, lines, verify } = await setup(t);
    // Keep the first checkpoint (its signature covers seq, prev_hash, timestamp, from_seq and key id, so it still
    // verifies), raise the every_records it declares, drop the later checkpoints and rewrite a record after it.
    const i = lines.findIndex((l) => l.startsWith('{"checkpoint":'));
    const kept = [...lines.slice(0, i + 1), ...lines.slice(i + 1).filter((l) => !l.startsWith('{"checkpoint":'))];
    kept[i] = (kept[i] as string).replace('"every_records":10,', '"every_records":1000000,');
    kept[i + 5] = (kept[i + 5] as string).replace('"nginx"', '"netcat"');
    writeLines(file, rechain(kept, i));
    const r = await verify();
    assert.equal(r.status, 'broken');
    assert.ok(kinds(r).includes('forged_checkpoint') || kinds(r).includes('missing_checkpoint'), JSON.stringify(r.breaks));
  });

  test('a log signed with v1 checkpoints (before every_records was signed) still verifies; its declared every_records does not bound the tail', async (t) => {
    const { state, file, lines, verify } = await setup(t);
    const key = createPrivateKey(readFileSync(join(state, 'audit-signing.key'), 'utf8'));
    const v1 = (ls: string[]): string[] => {
      // Re-signed in the v1 message, each line re-chained after the one before it (a signature is in its hash).
      const out: string[] = [];
      for (const line of ls) {
        const prev = out.length ? (JSON.parse(out[out.length - 1] as string) as { hash: string }).hash : '0'.repeat(64);
        const rec = JSON.parse(line) as { seq: number; timestamp: string; checkpoint?: { from_seq: number; key_id: string; signature: string } };
        const sig = rec.checkpoint ? sign(null, checkpointMessage(rec.seq, prev, rec.timestamp, rec.checkpoint.from_seq, rec.checkpoint.key_id), key).toString('base64') : '';
        out.push(rechain([...out, rec.checkpoint ? line.replace(/"signature":"[^"]+"/, `"signature":"${sig}"`) : line], out.length)[out.length] as string);
      }
      return out;
    };
    writeLines(file, v1(lines));
    assert.equal((await verify()).status, 'ok');
    const i = lines.findIndex((l) => l.startsWith('{"checkpoint":'));
    const kept = [...lines.slice(0, i + 1), ...lines.slice(i + 1).filter((l) => !l.startsWith('{"checkpoint":'))];
    kept[i] = (kept[i] as string).replace('"every_records":10,', '"every_records":1000000,');
    writeLines(file, v1(rechain(kept, i)));
    assert.deepEqual(kinds(await verify()), ['missing_checkpoint']);
  });

  test('missing checkpoint: deleting one checkpoint record', async (t) => {
    const { file, lines, verify } = await setup(t);
    const i = lines.findIndex((l) => l.startsWith('{"checkpoint":'));
    lines.splice(i, 1);
    writeLines(file, lines);
    const r = await verify();
    assert.deepEqual(kinds(r), ['deleted', 'missing_checkpoint']);
  });

  test('without the public key, a re-signed forgery is not caught — and verify says so', async (t) => {
    const { dir } = await setup(t);
    const r = await verifyAuditLog(dir);
    assert.equal(r.signaturesChecked, false);
    assert.ok(r.warnings.some((w) => w.includes('--pubkey')));
  });

  test('a record moved from one file into the next', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 200, { checkpoint: { every_records: 10 }, rotation: { max_size: 8000 }, compress: false });
    const files = readdirSync(dir).filter((f) => /\.\d{12}\.jsonl$/.test(f)).sort();
    const a = join(dir, files[0] as string);
    const b = join(dir, files[1] as string);
    const la = readLines(a);
    const moved = la.splice(la.length - 5, 1);
    writeLines(a, la);
    writeLines(b, [...moved, ...readLines(b)]);
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state) });
    assert.equal(r.status, 'broken');
    assert.ok(kinds(r).includes('reordered') || kinds(r).includes('truncated'));
  });

  test('the oldest file deleted without a retention record', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 200, { checkpoint: { every_records: 10 }, rotation: { max_size: 8000 } });
    const files = readdirSync(dir).filter((f) => /\.\d{12}\.jsonl\.gz$/.test(f)).sort();
    unlinkSync(join(dir, files[0] as string));
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state) });
    assert.deepEqual(kinds(r), ['missing_start']);
  });

  test('the oldest files deleted and a forged audit.retention record appended after the last checkpoint', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 200, { checkpoint: { every_records: 10 }, rotation: { max_size: 8000 }, compress: false });
    const files = readdirSync(dir).filter((f) => /\.\d{12}\.jsonl$/.test(f)).sort();
    assert.ok(files.length >= 2);
    const doomed = join(dir, files[0] as string);
    const last = JSON.parse(readLines(doomed).at(-1) as string) as { seq: number; hash: string };
    unlinkSync(doomed);
    // Unsigned records may follow the last checkpoint; this one claims retention removed the deleted file.
    const file = join(dir, 'audit.jsonl');
    const lines = readLines(file);
    const retention = { removed_files: [files[0]], removed_through_seq: last.seq, removed_through_hash: last.hash };
    const forged = `${JSON.stringify({ event_type: 'audit.retention', retention, timestamp: '2026-01-01T00:00:00.000Z' }).slice(0, -1)},"seq":0,"prev_hash":"","hash":""}`;
    writeLines(file, rechain([...lines, forged], lines.length));
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state) });
    assert.equal(r.status, 'broken');
    assert.deepEqual(kinds(r), ['missing_start']);
  });

  test('a rotated file renamed to hide where it belongs', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 200, { checkpoint: { every_records: 10 }, rotation: { max_size: 8000 }, compress: false });
    const files = readdirSync(dir).filter((f) => /\.\d{12}\.jsonl$/.test(f)).sort();
    renameSync(join(dir, files[1] as string), join(dir, 'audit.000000999999.jsonl'));
    const r = await verifyAuditLog(dir, { publicKey: publicKeyOf(state) });
    assert.equal(r.status, 'broken');
  });

  test('garbage appended after the last record of a closed log', async (t) => {
    const { file, verify } = await setup(t);
    appendFileSync(file, '{"tool":"x"}\n{"tool":"y"}\n{"tool":"z"}\n');
    const r = await verify();
    assert.deepEqual(kinds(r), ['malformed']);
  });
});
