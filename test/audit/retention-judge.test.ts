/** rotate.ts judgeClosedFile: how retention tells a rotated file it may age and count from one it must leave alone. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { listAuditFiles, type AuditFile } from '../../src/audit/files.js';
import { judgeClosedFile } from '../../src/audit/rotate.js';
import { openTestLog, seedEvent, tempDir } from './helpers.js';

describe('audit retention: judging a rotated file', () => {
  test('judgeClosedFile: a gzipped rotated file is aged by its signed closing checkpoint; other keys and the read bound refuse it', async (t) => {
    const state = tempDir(t);
    const start = Date.UTC(2026, 0, 1);
    const clock = new ManualClock(start);
    const log = await openTestLog(state, { rotation: { max_age: '1h' }, compress: true }, { clock });
    await log.emit(seedEvent(0));
    clock.advance(61 * 60_000);
    await log.emit(seedEvent(1));
    await log.close();
    const f = listAuditFiles(log.dir).find((x) => !x.active) as AuditFile;
    assert.ok(f?.gzip, JSON.stringify(f));
    const key = createPublicKey(readFileSync(join(state, 'audit-signing.pub'), 'utf8'));
    const v = await judgeClosedFile(f, key);
    assert.ok(v.ok, JSON.stringify(v));
    if (v.ok) {
      assert.equal(v.closed.closedAt, start + 61 * 60_000);
      assert.equal(v.closed.firstSeq, 1);
    }
    const other = generateKeyPairSync('ed25519').publicKey;
    assert.deepEqual(await judgeClosedFile(f, other), { ok: false, reason: 'its closing checkpoint is signed by another key' });
    const cut = await judgeClosedFile(f, key, 100);
    assert.ok(!cut.ok && /longer than 100 bytes/.test(cut.reason), JSON.stringify(cut));
  });
});
