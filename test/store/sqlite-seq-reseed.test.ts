/**
 * The change feed (revocations, API keys, approvals) is read by watchers that remember the last seq they saw. A lost
 * meta row (a restore of a partial copy, a manual repair) must restart the counter at the highest seq written, as the
 * PostgreSQL store does: restarted at 0, new changes get seqs a watcher has already passed, and it never sees them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { readChanges } from '../../src/core/store.js';
import { SqliteStore } from '../../src/store/index.js';

test('a lost sequence counter is re-seeded from the highest seq: a watcher sees a revocation written after it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-sqlite-seq-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'state.db');
  let store = new SqliteStore(path);
  for (let i = 0; i < 5; i++) await store.put('authn.revoked', `old-${i}`, { i });
  const watcherSeq = await readChanges(store, 'authn.revoked', 0, () => {});
  assert.equal(watcherSeq, 5);
  await store.close();

  const raw = new Database(path);
  raw.prepare("DELETE FROM meta WHERE name = 'seq'").run();
  raw.close();

  store = new SqliteStore(path);
  t.after(() => store.close());
  await store.put('authn.revoked', 'stolen', { reason: 'compromised' });
  const seen: string[] = [];
  await readChanges(store, 'authn.revoked', watcherSeq, (c) => seen.push(`${c.key}@${c.seq}`));
  assert.deepEqual(seen, ['stolen@6']);
  assert.equal(await store.headSeq('authn.revoked'), 6);
});

test('an empty store still starts its counter at 0, and an existing counter is kept as it is', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-sqlite-seq-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'state.db');
  let store = new SqliteStore(path);
  assert.equal(await store.headSeq('authn.revoked'), 0);
  await store.put('authn.revoked', 'a', {});
  await store.delete('authn.revoked', 'a');
  await store.close();
  // The counter (2, the tombstone's seq) carries over a reopen.
  store = new SqliteStore(path);
  t.after(() => store.close());
  await store.put('authn.revoked', 'b', {});
  assert.equal(await store.headSeq('authn.revoked'), 3);
});
