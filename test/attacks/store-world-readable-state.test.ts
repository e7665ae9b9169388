import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/index.js';

// The state store holds API key hashes (bcrypt imports are crackable offline), approval records,
// token records and wrapped data keys. Another local user must not read it: the file and its -wal/-shm are 0600, even
// when store.path lies in a directory others can list (a packaged /var/lib/gatehouse, a pre-existing GATEHOUSE_HOME).
const mode = (p: string): number => statSync(p).mode & 0o777;

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'gh-store-perm-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a new state database and its WAL and shared-memory files are 0600, in a 0755 directory too', async (t) => {
  const dir = tempDir(t);
  const shared = join(dir, 'var-lib');
  mkdirSync(shared, { mode: 0o755 });
  for (const path of [join(dir, 'fresh', 'state.db'), join(shared, 'state.db')]) {
    const store = new SqliteStore(path);
    try {
      await store.put('authn.apikeys', 'k1', { hash: 'not-a-real-hash' });
      for (const f of [path, `${path}-wal`, `${path}-shm`]) assert.equal(mode(f).toString(8), '600', f);
    } finally {
      await store.close();
    }
  }
  assert.equal(mode(join(dir, 'fresh')).toString(8), '700');
});

test('an existing world-readable state database is tightened to 0600 when opened', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'state.db');
  const first = new SqliteStore(path);
  await first.put('authn.apikeys', 'k1', { hash: 'not-a-real-hash' });
  await first.close();
  chmodSync(path, 0o644);
  writeFileSync(`${path}-wal`, '', { mode: 0o644 });
  chmodSync(`${path}-wal`, 0o644);
  const store = new SqliteStore(path);
  try {
    assert.deepEqual(await store.get('authn.apikeys', 'k1'), { hash: 'not-a-real-hash' });
    for (const f of [path, `${path}-wal`, `${path}-shm`]) assert.equal(mode(f).toString(8), '600', f);
  } finally {
    await store.close();
  }
});
