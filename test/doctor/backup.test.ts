/** state.backup: seed 003 §5 "Configure regular database backups" — the marker `gatehouse backup create` leaves. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createBackup, recordLastBackup } from '../../src/backup/index.js';
import { generateKey } from '../../src/crypto/primitives.js';
import { ManualClock } from '../../src/core/clock.js';
import { checkOf, DAY, NOW, tempDir } from './helpers.js';

const ID = 'state.backup';

test('no backup recorded: production warns, development skips', async () => {
  const state = tempDir('gh-doctor-backup-');
  try {
    const prod = await checkOf(ID, {}, { stateDir: state.path });
    assert.equal(prod.status, 'warn');
    assert.match(prod.detail, /no backup recorded in .*: gatehouse backup create has not run here/);
    const dev = await checkOf(ID, {}, { stateDir: state.path, profile: 'development' });
    assert.equal(dev.status, 'skip');
  } finally {
    state.remove();
  }
});

test('a backup made by createBackup is recorded; fresh passes, eight days old warns in production', async () => {
  const state = tempDir('gh-doctor-backup-');
  const out = tempDir('gh-doctor-backup-out-');
  try {
    writeFileSync(join(state.path, 'some-key.json'), '{}', { mode: 0o600 });
    const layout = { stateDir: state.path, auditDir: join(state.path, 'audit'), auditFile: 'audit.jsonl' };
    const fresh = await createBackup({ ...layout, out: join(out.path, 'a.ghb'), key: generateKey(), clock: new ManualClock(NOW - DAY) });
    recordLastBackup(state.path, fresh);
    const ok = await checkOf(ID, {}, { stateDir: state.path });
    assert.equal(ok.status, 'pass', ok.detail);
    assert.match(ok.detail, /last backup 2031-05-31T12:00:00\.000Z \(a\.ghb\), 1 days ago/);
    const old = await createBackup({ ...layout, out: join(out.path, 'b.ghb'), key: generateKey(), clock: new ManualClock(NOW - 8 * DAY) });
    recordLastBackup(state.path, old);
    const stale = await checkOf(ID, {}, { stateDir: state.path });
    assert.equal(stale.status, 'warn');
    assert.match(stale.detail, /8 days ago: older than 7 days/);
    assert.equal((await checkOf(ID, {}, { stateDir: state.path, profile: 'development' })).status, 'pass');
  } finally {
    state.remove();
    out.remove();
  }
});

test('a damaged marker warns that the last backup is unknown', async () => {
  const state = tempDir('gh-doctor-backup-');
  try {
    writeFileSync(join(state.path, 'last-backup.json'), '{"created_at":"yesterday"}');
    const c = await checkOf(ID, {}, { stateDir: state.path });
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /holds no backup time/);
  } finally {
    state.remove();
  }
});
