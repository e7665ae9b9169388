import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatehouseError } from '../../src/core/errors.js';
import { SqliteStore } from '../../src/store/index.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'gh-sqlite-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const unavailable = (e: unknown): boolean => e instanceof GatehouseError && e.code === 'GH_STORE_UNAVAILABLE' && e.status === 503;

test('a file that is not a database is refused at open with GH_STORE_UNAVAILABLE', (t) => {
  const path = join(tempDir(t), 'state.db');
  writeFileSync(path, 'not a database '.repeat(100), { mode: 0o600 });
  assert.throws(() => new SqliteStore(path), unavailable);
});

test('every read of a database corrupted on disk fails closed with GH_STORE_UNAVAILABLE, not a raw SqliteError', async (t) => {
  const path = join(tempDir(t), 'state.db');
  const seed = new SqliteStore(path);
  for (let i = 0; i < 2000; i++) await seed.put('authn.revoked', `jti-${i}`, { exp: 0, pad: 'x'.repeat(200) });
  await seed.close();
  // Overwrite every page past the first few: the header, the schema and the small tables created first stay intact, so
  // the file still opens and only reads of the revocations hit garbage.
  const fd = openSync(path, 'r+');
  const garbage = Buffer.alloc(4096 * 100, 0xab);
  writeSync(fd, garbage, 0, garbage.length, 4096 * 8);
  closeSync(fd);
  const store = new SqliteStore(path);
  t.after(() => store.close());
  await assert.rejects(store.get('authn.revoked', 'jti-1500'), unavailable);
  await assert.rejects(store.list('authn.revoked'), unavailable);
  await assert.rejects(store.changes('authn.revoked', 0), unavailable);
  await assert.rejects(store.put('authn.revoked', 'jti-1500', { exp: 0 }), unavailable);
});

test('commits are durable: WAL with synchronous=FULL (NORMAL may lose the last commits, a revocation among them, on power loss)', async (t) => {
  const store = new SqliteStore(join(tempDir(t), 'state.db'));
  t.after(() => store.close());
  assert.deepEqual(store.durability, { journal: 'wal', synchronous: 'full' });
});

test('ping reads the store itself: a store whose tables were dropped underneath is unavailable', async (t) => {
  const path = join(tempDir(t), 'state.db');
  const store = new SqliteStore(path);
  t.after(() => store.close());
  await store.ping();
  const { default: Database } = await import('better-sqlite3');
  const other = new Database(path);
  other.exec('DROP TABLE meta');
  other.close();
  await assert.rejects(store.ping(), unavailable);
});
