/**
 * `backup restore` brought the SQLite store (API key hashes, sealed secrets, approvals) back 0644: create recorded the
 * snapshot file's mode (the umask's), replacing the 0600 it planned, and restore applied whatever mode an entry
 * recorded, masked with 0755. The store is now recorded and restored 0600 whatever the umask, and no state file that
 * may hold a secret comes back wider than 0600, whatever its backup says (certificates and public keys keep read).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, createWriteStream, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBackup, restoreBackup, type BackupLayout } from '../../src/backup/index.js';
import { restoredMode } from '../../src/backup/restore.js';
import { ARCHIVE_MAGIC, BACKUP_AAD, backupKeyId, encodeRecord, FORMAT, type FileRecord } from '../../src/backup/format.js';
import { createEncryptStream } from '../../src/crypto/stream.js';
import { generateKey } from '../../src/crypto/primitives.js';
import { openStore } from '../../src/store/index.js';
import { tempDir } from '../audit/helpers.js';
import { runCliProcess } from '../helpers/process.js';

const mode = (p: string): number => statSync(p).mode & 0o777;

test('the store is recorded 0600 and restored 0600 under a 022 umask, as the live store was', async (t) => {
  const dir = tempDir(t, 'gh-restore-mode-');
  const previous = process.umask(0o022);
  t.after(() => process.umask(previous));
  const stateDir = join(dir, 'state');
  mkdirSync(join(dir, 'db'), { mode: 0o755 });
  const layout: BackupLayout = { stateDir, auditDir: join(stateDir, 'audit'), auditFile: 'audit.jsonl', storePath: join(dir, 'db', 'state.db') };
  mkdirSync(stateDir, { mode: 0o700 });
  const store = openStore({ kind: 'sqlite', path: layout.storePath as string });
  await store.put('things', 'a', { n: 1 });
  await store.close();
  chmodSync(layout.storePath as string, 0o600);
  const key = generateKey();
  const out = join(dir, 'b.ghb');
  const r = await createBackup({ ...layout, out, key });
  assert.equal(r.entries.find((e) => e.root === 'store')?.mode, 0o600, 'recorded 0600, not the snapshot file\'s umask mode');

  const target: BackupLayout = { stateDir: join(dir, 'restored'), auditDir: join(dir, 'restored', 'audit'), auditFile: 'audit.jsonl', storePath: join(dir, 'db2', 'state.db') };
  mkdirSync(join(dir, 'db2'), { mode: 0o755 });
  await restoreBackup({ ...target, input: out, key, storeKind: 'sqlite' });
  assert.equal(mode(target.storePath as string), 0o600);
});

/** An archive as an older version (or a loosened state directory) made it: every entry 0644, a script 0755. */
async function looseArchive(path: string, key: Buffer, store: Buffer): Promise<void> {
  const files: [FileRecord, Buffer][] = [
    [{ root: 'store', path: 'store.db', mode: 0o644, size: store.length }, store],
    [{ root: 'state', path: 'secrets/token-keys.json', mode: 0o644, size: 0 }, Buffer.from('{"version":1,"keys":[]}\n')],
    [{ root: 'state', path: 'keys/secrets-master.key', mode: 0o664, size: 0 }, Buffer.from('00'.repeat(32) + '\n')],
    [{ root: 'state', path: 'run.sh', mode: 0o755, size: 0 }, Buffer.from('#!/bin/sh\n')],
    [{ root: 'state', path: 'tls/ca.crt', mode: 0o664, size: 0 }, Buffer.from('-----BEGIN CERTIFICATE-----\n')],
    [{ root: 'state', path: 'audit-signing.pub', mode: 0o644, size: 0 }, Buffer.from('-----BEGIN PUBLIC KEY-----\n')],
  ];
  const parts: Buffer[] = [ARCHIVE_MAGIC, encodeRecord('H', { format: FORMAT, version: 1, created_at: '2026-11-24T00:00:00.000Z', gatehouse_version: 't', source: { state_dir: '/x', audit_dir: '/x/audit', audit_file: 'audit.jsonl', store: '/x/state.db' } })];
  const entries = files.map(([f, data]) => {
    const rec = { ...f, size: data.length };
    parts.push(encodeRecord('F', rec), data);
    return { ...rec, sha256: createHash('sha256').update(data).digest('hex') };
  });
  parts.push(encodeRecord('E', { files: entries.length, bytes: entries.reduce((n, e) => n + e.size, 0), entries }));
  await pipeline(Readable.from(parts), createEncryptStream({ id: backupKeyId(key), algorithm: 'aes-256-gcm', material: key }, { aad: BACKUP_AAD }), createWriteStream(path));
}

test('a backup recording loose modes is restored owner-only, certificates and public keys readable', async (t) => {
  const dir = tempDir(t, 'gh-restore-loose-');
  const dbPath = join(dir, 'src.db');
  const store = openStore({ kind: 'sqlite', path: dbPath });
  await store.put('things', 'a', { n: 1 });
  await store.close();
  const key = generateKey();
  const out = join(dir, 'loose.ghb');
  await looseArchive(out, key, readFileSync(dbPath));
  const stateDir = join(dir, 'restored');
  await restoreBackup({ stateDir, auditDir: join(stateDir, 'audit'), auditFile: 'audit.jsonl', storePath: join(stateDir, 'state.db'), input: out, key, storeKind: 'sqlite' });
  assert.equal(mode(join(stateDir, 'state.db')), 0o600, 'store');
  assert.equal(mode(join(stateDir, 'secrets', 'token-keys.json')), 0o600, 'token keys');
  assert.equal(mode(join(stateDir, 'keys', 'secrets-master.key')), 0o600, 'master key');
  assert.equal(mode(join(stateDir, 'run.sh')), 0o600, 'nothing executable');
  assert.equal(mode(join(stateDir, 'tls', 'ca.crt')), 0o644, 'a certificate stays readable, never group-writable');
  assert.equal(mode(join(stateDir, 'audit-signing.pub')), 0o644);
});

test('restoredMode: never wider than 0600 but for public files and audit files, never write or execute for others', () => {
  for (let m = 0; m <= 0o777; m++) {
    assert.equal(restoredMode({ root: 'store', path: 'store.db', mode: m }), 0o600);
    assert.equal(restoredMode({ root: 'state', path: 'users.json', mode: m }) & ~0o600, 0);
    assert.equal(restoredMode({ root: 'state', path: 'tls/server.crt', mode: m }) & ~0o644, 0);
    assert.equal(restoredMode({ root: 'audit', path: 'audit.jsonl', mode: m }) & ~0o644, 0);
  }
});

test('gatehouse backup restore (real process) brings the store back 0600', async (t) => {
  const dir = tempDir(t, 'gh-restore-cli-');
  mkdirSync(join(dir, 'db'), { mode: 0o755 });
  writeFileSync(join(dir, 'backup.key'), `${generateKey().toString('hex')}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'gh.yaml'), `state_dir: ${join(dir, 'state')}\nserver: { tls: { enabled: false } }\nstore: { path: ${join(dir, 'db', 'state.db')} }\n`);
  const env = { GATEHOUSE_HOME: join(dir, 'state'), USER: 'tester' };
  const run = (...args: string[]) => runCliProcess([...args, '--config', join(dir, 'gh.yaml')], env);
  const created = await run('apikey', 'create', '--name', 'k', '--scopes', 'readonly');
  assert.equal(created.code, 0, created.stderr);
  const b = await run('backup', 'create', '--key-file', join(dir, 'backup.key'), '--out', join(dir, 'b.ghbak'));
  assert.equal(b.code, 0, b.stderr);
  const moved = await run('backup', 'restore', '--in', join(dir, 'b.ghbak'), '--key-file', join(dir, 'backup.key'), '--force');
  assert.equal(moved.code, 0, moved.stderr);
  assert.equal(mode(join(dir, 'db', 'state.db')), 0o600);
});
