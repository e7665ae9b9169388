/**
 * `gatehouse backup` on a gateway whose store is PostgreSQL (docs/backup.md): the store lives in its database, so a
 * backup holds none and says so, a restore says it did not bring it back, and a backup holding a SQLite store is not
 * restored into a PostgreSQL configuration as if nothing were lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/store/index.js';
import { cli } from '../helpers/cli.js';

test('backup create and restore with store.kind postgres: the store is named as not included, a SQLite store is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-pgbackup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const key = join(dir, 'backup.key');
  const home = join(dir, 'state');
  const pgConfig = join(dir, 'pg.yaml');
  // No server is needed: backups never open a PostgreSQL store.
  writeFileSync(pgConfig, 'store:\n  kind: postgres\n  postgres:\n    url: postgres://gatehouse@127.0.0.1:5432/gh\n    schema: gh_prod\n');
  const env = { GATEHOUSE_HOME: home };
  assert.equal((await cli(['keys', 'generate', '--out', key], { env })).code, 0);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  writeFileSync(join(home, 'marker.json'), '{}', { mode: 0o600 });

  const made = await cli(['backup', 'create', '--config', pgConfig, '--out', join(dir, 'pg.ghb'), '--key-file', key], { env });
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stdout, /store: NOT included: store\.kind is postgres; back up schema gh_prod with pg_dump/);
  const listed = await cli(['backup', 'verify', '--in', join(dir, 'pg.ghb'), '--key-file', key, '--list'], { env });
  assert.equal(listed.code, 0, listed.stderr);
  assert.doesNotMatch(listed.stdout, /^ {2}store\//m);

  const restoredHome = join(dir, 'restored');
  const restored = await cli(['backup', 'restore', '--config', pgConfig, '--in', join(dir, 'pg.ghb'), '--key-file', key], { env: { GATEHOUSE_HOME: restoredHome } });
  assert.equal(restored.code, 0, restored.stderr);
  assert.match(restored.stdout, /store: NOT restored: store\.kind is postgres; restore schema gh_prod from its pg_dump/);

  // A backup of a SQLite gateway, restored where the configuration says postgres: refused, not silently half-done.
  const sqliteHome = join(dir, 'sqlite-state');
  const sqlite = openStore({ kind: 'sqlite', path: join(sqliteHome, 'state.db') });
  await sqlite.put('authn.revoked', 'jti-1', { revoked_at: 1 });
  await sqlite.close();
  const sqliteBackup = await cli(['backup', 'create', '--out', join(dir, 'sqlite.ghb'), '--key-file', key], { env: { GATEHOUSE_HOME: sqliteHome } });
  assert.equal(sqliteBackup.code, 0, sqliteBackup.stderr);
  const refused = await cli(['backup', 'restore', '--config', pgConfig, '--in', join(dir, 'sqlite.ghb'), '--key-file', key], { env: { GATEHOUSE_HOME: join(dir, 'elsewhere') } });
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /GH_BACKUP_INVALID.*store\.kind is postgres here: it cannot be restored into PostgreSQL/);
});
