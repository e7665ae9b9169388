/**
 * Encrypted backups (src/backup): a real SQLite store, a real hash-chained audit log, real key files; the archive
 * reader fed hostile archives; restore that never lets a byte land outside its staging directory and never leaves a
 * half-restored target behind.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { createHash } from 'node:crypto';
import { appendFileSync, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBackup, restoreBackup, verifyBackup, type BackupLayout } from '../../src/backup/index.js';
import { ARCHIVE_MAGIC, ArchiveReader, BACKUP_AAD, backupKeyId, encodeRecord, FORMAT, type FileRecord } from '../../src/backup/format.js';
import { GatehouseError } from '../../src/core/errors.js';
import { createEncryptStream } from '../../src/crypto/stream.js';
import { generateKey } from '../../src/crypto/primitives.js';
import { openStore } from '../../src/store/index.js';
import { openTestLog, seedEvent, tempDir, writeLog } from '../audit/helpers.js';
import { rejectionCode } from '../helpers/error-code.js';

/** A state directory as a gateway leaves it: keys, a store with data, an audit trail, and things never backed up. */
async function makeState(root: string, opts: { auditOutside?: boolean; storeOutside?: boolean } = {}): Promise<BackupLayout> {
  const stateDir = join(root, 'state');
  mkdirSync(join(stateDir, 'secrets'), { recursive: true, mode: 0o700 });
  mkdirSync(join(stateDir, 'tls'), { recursive: true, mode: 0o700 });
  writeFileSync(join(stateDir, 'secrets', 'token-keys.json'), '{"version":1,"keys":[]}\n', { mode: 0o600 });
  writeFileSync(join(stateDir, 'tls', 'ca.crt'), '-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n', { mode: 0o644 });
  writeFileSync(join(stateDir, 'big.bin'), Buffer.alloc(200_000, 7), { mode: 0o600 });
  writeFileSync(join(stateDir, 'token-keys.json.lock'), '123');
  writeFileSync(join(stateDir, '.users.json.abc.tmp'), 'half-written');
  symlinkSync('/etc/passwd', join(stateDir, 'linked'));
  const auditDir = opts.auditOutside ? join(root, 'audit-elsewhere') : join(stateDir, 'audit');
  const storePath = opts.storeOutside ? join(root, 'db', 'gatehouse.db') : join(stateDir, 'state.db');
  mkdirSync(join(root, 'db'), { recursive: true, mode: 0o700 });
  const store = openStore({ kind: 'sqlite', path: storePath });
  await store.put('things', 'a', { n: 1 });
  await store.put('things', 'b', { n: 2 });
  await store.close();
  await writeLog(stateDir, 30, opts.auditOutside ? { dir: auditDir } : {});
  return { stateDir, auditDir, auditFile: 'audit.jsonl', storePath };
}

describe('backup create / verify / restore', () => {
  test('round trip: every file, its mode, the store and the audit chain come back; locks, temp files and links do not', async (t) => {
    const dir = tempDir(t, 'gh-backup-');
    const layout = await makeState(dir);
    // A torn last line (a writer caught mid-write) is left out: the backup ends at the last complete record.
    appendFileSync(join(layout.auditDir, 'audit.jsonl'), '{"seq":31,"torn');
    const key = generateKey();
    const out = join(dir, 'b.ghb');
    const r = await createBackup({ ...layout, out, key });
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.equal(r.key_id, backupKeyId(key));
    assert.match(r.sha256, /^[0-9a-f]{64}$/);
    const names = r.entries.map((e) => `${e.root}/${e.path}`).sort();
    assert.deepEqual(names.filter((n) => !n.startsWith('audit/')), ['state/audit-signing.key', 'state/audit-signing.pub', 'state/big.bin', 'state/secrets/token-keys.json', 'state/tls/ca.crt', 'store/store.db']);
    assert.ok(names.includes('audit/audit.jsonl'));
    assert.deepEqual(r.skipped, ['state/linked: a symbolic link']);
    assert.ok(!readFileSync(out).includes(Buffer.from('token-keys')), 'file names are inside the encryption');

    const check = await verifyBackup({ input: out, key });
    assert.equal(check.store, 'ok');
    assert.equal(check.audit?.ok, true);
    assert.equal(check.audit?.records, 31, '30 events and the closing checkpoint');
    assert.equal(check.audit?.signaturesChecked, true);

    const target: BackupLayout = { stateDir: join(dir, 'restored'), auditDir: join(dir, 'restored', 'audit'), auditFile: 'audit.jsonl', storePath: join(dir, 'restored', 'state.db') };
    const restored = await restoreBackup({ ...target, input: out, key });
    assert.deepEqual(restored.movedAside, []);
    for (const rel of ['secrets/token-keys.json', 'tls/ca.crt', 'big.bin', 'audit-signing.key']) {
      assert.deepEqual(readFileSync(join(target.stateDir, rel)), readFileSync(join(layout.stateDir, rel)), rel);
      assert.equal(statSync(join(target.stateDir, rel)).mode & 0o777, statSync(join(layout.stateDir, rel)).mode & 0o777, rel);
    }
    assert.equal(statSync(target.stateDir).mode & 0o777, 0o700);
    const original = readFileSync(join(layout.auditDir, 'audit.jsonl'), 'utf8');
    assert.equal(readFileSync(join(target.auditDir, 'audit.jsonl'), 'utf8'), original.slice(0, original.lastIndexOf('\n') + 1));
    for (const gone of ['token-keys.json.lock', '.users.json.abc.tmp', 'linked']) assert.equal(existsSync(join(target.stateDir, gone)), false, gone);
    const store = openStore({ kind: 'sqlite', path: target.storePath as string });
    assert.deepEqual(await store.get('things', 'b'), { n: 2 });
    await store.close();
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes('.restore-')), [], 'no staging directory is left');
  });

  test('an audit directory and a store outside the state directory are backed up and restored to their own places', async (t) => {
    const dir = tempDir(t, 'gh-backup-');
    const layout = await makeState(dir, { auditOutside: true, storeOutside: true });
    const key = generateKey();
    const out = join(dir, 'b.ghb');
    await createBackup({ ...layout, out, key });
    const target: BackupLayout = { stateDir: join(dir, 'n', 'state'), auditDir: join(dir, 'n', 'audit'), auditFile: 'audit.jsonl', storePath: join(dir, 'n', 'db', 'x.db') };
    // A WAL left beside the old store file would be replayed into the restored one: it is moved aside.
    mkdirSync(join(dir, 'n', 'db'), { recursive: true });
    writeFileSync(`${target.storePath}-wal`, 'stale wal');
    const r = await restoreBackup({ ...target, input: out, key, force: true });
    assert.deepEqual(r.restored.map((x) => x.root), ['state', 'audit', 'store']);
    assert.equal(existsSync(`${target.storePath}-wal`), false);
    assert.equal(r.movedAside.length, 1);
    assert.match(r.movedAside[0] as string, /x\.db-wal\.pre-restore-/);
    assert.deepEqual(readdirSync(join(dir, 'n', 'db')).filter((n) => n.includes('.restore-')), [], 'nothing of the staging is left beside the store');
    assert.equal(readFileSync(join(target.auditDir, 'audit.jsonl'), 'utf8'), readFileSync(join(layout.auditDir, 'audit.jsonl'), 'utf8'));
    const store = openStore({ kind: 'sqlite', path: target.storePath as string });
    assert.deepEqual(await store.get('things', 'a'), { n: 1 });
    await store.close();
  });

  test('a backup taken while the audit log is being written verifies (it ends at a complete record)', async (t) => {
    const dir = tempDir(t, 'gh-backup-');
    const layout = await makeState(dir);
    const log = await openTestLog(layout.stateDir);
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) await Promise.all(Array.from({ length: 20 }, (_, j) => log.emit(seedEvent(i * 20 + j))));
    })();
    const key = generateKey();
    try {
      for (let i = 0; i < 3; i++) {
        const out = join(dir, `live-${i}.ghb`);
        await createBackup({ ...layout, out, key });
        const check = await verifyBackup({ input: out, key });
        assert.equal(check.audit?.ok, true);
        assert.ok((check.audit?.records ?? 0) >= 30);
      }
    } finally {
      writing = false;
      await writer;
      await log.close();
    }
  });

  test('a wrong key, a flipped byte, a cut file: refused with a stable code, and restore leaves nothing behind', async (t) => {
    const dir = tempDir(t, 'gh-backup-');
    const layout = await makeState(dir);
    const key = generateKey();
    const out = join(dir, 'b.ghb');
    await createBackup({ ...layout, out, key });
    assert.equal(await rejectionCode(verifyBackup({ input: out, key: generateKey() })), 'GH_BACKUP_KEY_MISMATCH');
    const whole = readFileSync(out);
    const cases: [string, Buffer][] = [
      ['a byte flipped in the first segment', Buffer.from(whole.map((b, i) => (i === 200 ? b ^ 1 : b)))],
      ['a byte flipped in the last segment', Buffer.from(whole.map((b, i) => (i === whole.length - 3 ? b ^ 0x80 : b)))],
      // The stream header is 7 bytes + the key id + a 16-byte salt + a 7-byte nonce prefix; each full segment is
      // 64 KiB + a 16-byte tag. Cut right after the first segment.
      ['cut at a segment boundary', whole.subarray(0, 7 + backupKeyId(key).length + 23 + 65536 + 16)],
      ['cut inside a segment', whole.subarray(0, whole.length - 100)],
      ['empty', Buffer.alloc(0)],
    ];
    for (const [what, bytes] of cases) {
      const bad = join(dir, 'bad.ghb');
      writeFileSync(bad, bytes);
      assert.equal(await rejectionCode(verifyBackup({ input: bad, key })), 'GH_BACKUP_INVALID', what);
      const target = join(dir, 'never');
      const c = await rejectionCode(restoreBackup({ stateDir: target, auditDir: join(target, 'audit'), auditFile: 'audit.jsonl', storePath: join(target, 'state.db'), input: bad, key }));
      assert.equal(c, 'GH_BACKUP_INVALID', what);
      assert.equal(existsSync(target), false, `${what}: no target`);
      assert.deepEqual(readdirSync(dir).filter((n) => n.includes('.restore-')), [], `${what}: no staging left`);
    }
  });

  test('a backup whose audit trail was tampered with before it was taken fails verification and is not restored', async (t) => {
    const dir = tempDir(t, 'gh-backup-');
    const layout = await makeState(dir);
    const file = join(layout.auditDir, 'audit.jsonl');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"auto_approve":true,"i":3,"package_name":"nginx"', '"auto_approve":true,"i":3,"package_name":"evil"'));
    assert.match(readFileSync(file, 'utf8'), /"package_name":"evil"/);
    const key = generateKey();
    const out = join(dir, 'b.ghb');
    await createBackup({ ...layout, out, key });
    await assert.rejects(verifyBackup({ input: out, key }), (e: GatehouseError) => e.code === 'GH_BACKUP_INVALID' && /audit trail in the backup does not verify: modified/.test(e.message));
    const target = join(dir, 'restored');
    assert.equal(await rejectionCode(restoreBackup({ stateDir: target, auditDir: join(target, 'audit'), auditFile: 'audit.jsonl', storePath: join(target, 'state.db'), input: out, key })), 'GH_BACKUP_INVALID');
    assert.equal(existsSync(target), false);
  });

  test('restore refuses a target holding state unless forced; forced, the old state is moved aside, not deleted', async (t) => {
    const dir = tempDir(t, 'gh-backup-');
    const layout = await makeState(dir);
    const key = generateKey();
    const out = join(dir, 'b.ghb');
    await createBackup({ ...layout, out, key });
    writeFileSync(join(layout.stateDir, 'after-backup.txt'), 'newer');
    assert.equal(await rejectionCode(restoreBackup({ ...layout, input: out, key })), 'GH_BACKUP_TARGET_EXISTS');
    const r = await restoreBackup({ ...layout, input: out, key, force: true });
    assert.equal(r.movedAside.length, 1);
    assert.equal(readFileSync(join(r.movedAside[0] as string, 'after-backup.txt'), 'utf8'), 'newer');
    assert.equal(existsSync(join(layout.stateDir, 'after-backup.txt')), false);
    // An empty directory is not "state": no --force needed.
    const empty = join(dir, 'empty');
    mkdirSync(empty, { mode: 0o700 });
    await restoreBackup({ stateDir: empty, auditDir: join(empty, 'audit'), auditFile: 'audit.jsonl', storePath: join(empty, 'state.db'), input: out, key });
    assert.ok(existsSync(join(empty, 'state.db')));
  });

  test('a swap that fails half-way puts the old state back where it was (nothing left renamed aside)', async (t) => {
    const dir = tempDir(t, 'gh-backup-');
    const layout = await makeState(dir, { auditOutside: true, storeOutside: true });
    const key = generateKey();
    const out = join(dir, 'b.ghb');
    await createBackup({ ...layout, out, key });
    writeFileSync(join(layout.stateDir, 'current.txt'), 'the state before the restore');
    const auditBefore = readFileSync(join(layout.auditDir, 'audit.jsonl'));
    // The audit directory's move into place fails after the state directory's succeeded (a full disk, say).
    const real = fs.renameSync;
    t.mock.method(fs, 'renameSync', (from: fs.PathLike, to: fs.PathLike) => {
      if (String(from).startsWith(`${layout.auditDir}.restore-`)) throw Object.assign(new Error('no space'), { code: 'ENOSPC' });
      real(from, to);
    });
    syncBuiltinESMExports();
    t.after(() => {
      t.mock.restoreAll();
      syncBuiltinESMExports();
    });
    await assert.rejects(restoreBackup({ ...layout, input: out, key, force: true }), (e: GatehouseError) => e.code === 'GH_BACKUP_FAILED' && /ENOSPC/.test(e.message));
    t.mock.restoreAll();
    syncBuiltinESMExports();
    assert.equal(readFileSync(join(layout.stateDir, 'current.txt'), 'utf8'), 'the state before the restore');
    assert.deepEqual(readFileSync(join(layout.auditDir, 'audit.jsonl')), auditBefore);
    assert.ok(existsSync(layout.storePath as string));
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes('.pre-restore-') || n.includes('.restore-')), []);
    assert.deepEqual(readdirSync(join(dir, 'db')).filter((n) => n.includes('restore')), []);
  });

  test('restore refuses while another process holds the store open (a running gateway)', async (t) => {
    const dir = tempDir(t, 'gh-backup-');
    const layout = await makeState(dir);
    const key = generateKey();
    const out = join(dir, 'b.ghb');
    await createBackup({ ...layout, out, key });
    const holder = spawn(process.execPath, ['-e', `require('fs').openSync(${JSON.stringify(layout.storePath)}, 'r'); console.log('open'); setInterval(() => {}, 1000)`], { stdio: ['ignore', 'pipe', 'ignore'] });
    t.after(() => holder.kill('SIGKILL'));
    await new Promise<void>((r) => holder.stdout.once('data', () => r()));
    await assert.rejects(restoreBackup({ ...layout, input: out, key, force: true }), (e: GatehouseError) => e.code === 'GH_BACKUP_TARGET_BUSY' && e.message.includes(String(holder.pid)));
    assert.equal(readdirSync(layout.stateDir).includes('big.bin'), true, 'nothing moved');
  });

  test('create refuses to write the backup inside the state directory, and to replace a file unless forced', async (t) => {
    const dir = tempDir(t, 'gh-backup-');
    const layout = await makeState(dir);
    const key = generateKey();
    assert.equal(await rejectionCode(createBackup({ ...layout, out: join(layout.stateDir, 'b.ghb'), key })), 'GH_USAGE');
    const out = join(dir, 'b.ghb');
    writeFileSync(out, 'precious');
    assert.equal(await rejectionCode(createBackup({ ...layout, out, key })), 'GH_USAGE');
    assert.equal(readFileSync(out, 'utf8'), 'precious');
    await createBackup({ ...layout, out, key, force: true });
    assert.notEqual(readFileSync(out, 'utf8'), 'precious');
    assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.tmp')), []);
  });

  test('a store that is not a SQLite database fails the backup (GH_BACKUP_FAILED) and leaves no partial file', async (t) => {
    const dir = tempDir(t, 'gh-backup-');
    const layout = await makeState(dir);
    writeFileSync(layout.storePath as string, 'not a database '.repeat(100));
    const out = join(dir, 'b.ghb');
    assert.equal(await rejectionCode(createBackup({ ...layout, out, key: generateKey() })), 'GH_BACKUP_FAILED');
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes('b.ghb')), []);
  });
});

/** Encrypts a hand-made archive with `key`, as createBackup would. */
async function sealArchive(path: string, parts: Buffer[], key: Buffer): Promise<void> {
  await pipeline(Readable.from(parts), createEncryptStream({ id: backupKeyId(key), algorithm: 'aes-256-gcm', material: key }, { aad: BACKUP_AAD }), createWriteStream(path));
}

const head = encodeRecord('H', { format: FORMAT, version: 1, created_at: '2026-11-24T00:00:00.000Z', gatehouse_version: 't', source: { state_dir: '/x', audit_dir: '/x/audit', store: null } });
const file = (f: Partial<FileRecord> & { path: string }, data = Buffer.from('hi')) => [encodeRecord('F', { root: 'state', mode: 0o600, size: data.length, ...f }), data];
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function rawRecord(type: string, json: string): Buffer {
  const body = Buffer.from(json);
  const h = Buffer.alloc(5);
  h[0] = type.charCodeAt(0);
  h.writeUInt32BE(body.length, 1);
  return Buffer.concat([h, body]);
}

/** Runs the reader over `parts` split into 1-byte pushes too (the parser must not care how chunks fall). */
function read(parts: Buffer[]): { files: string[]; error?: string } {
  const files: string[] = [];
  const results: { files: string[]; error?: string }[] = [];
  for (const split of [false, true]) {
    files.length = 0;
    const reader = new ArchiveReader({ head: () => {}, begin: (f) => files.push(`${f.root}/${f.path}`), data: () => {}, end: () => {} });
    try {
      const all = Buffer.concat(parts);
      if (split) for (let i = 0; i < all.length; i++) reader.push(all.subarray(i, i + 1));
      else reader.push(all);
      reader.finish();
      results.push({ files: [...files] });
    } catch (e) {
      results.push({ files: [...files], error: (e as GatehouseError).code });
    }
  }
  assert.deepEqual(results[0], results[1], 'chunking changes nothing');
  return results[0] as { files: string[]; error?: string };
}

describe('the archive reader refuses hostile archives', () => {
  const data = Buffer.from('hi');
  const end = (entries: object[]) => encodeRecord('E', { files: entries.length, bytes: entries.reduce((n, e) => n + (e as { size: number }).size, 0), entries });
  const entry = (path: string, root = 'state') => ({ root, path, mode: 0o600, size: 2, sha256: sha(data) });

  test('a well-formed archive reads', () => {
    assert.deepEqual(read([ARCHIVE_MAGIC, head, ...file({ path: 'a/b.json' }), end([entry('a/b.json')])]), { files: ['state/a/b.json'] });
  });

  const hostile: [string, Buffer[]][] = [
    ['path traversal', [ARCHIVE_MAGIC, head, ...file({ path: '../escape' })]],
    ['traversal in the middle', [ARCHIVE_MAGIC, head, ...file({ path: 'a/../../escape' })]],
    ['an absolute path', [ARCHIVE_MAGIC, head, ...file({ path: '/etc/passwd' })]],
    ['a backslash', [ARCHIVE_MAGIC, head, ...file({ path: 'a\\..\\b' })]],
    ['a NUL byte', [ARCHIVE_MAGIC, head, ...file({ path: 'a\u0000b' })]],
    ['an empty segment', [ARCHIVE_MAGIC, head, ...file({ path: 'a//b' })]],
    ['an unknown root', [ARCHIVE_MAGIC, head, ...file({ path: 'x', root: 'etc' as 'state' })]],
    ['a store entry under another name', [ARCHIVE_MAGIC, head, ...file({ path: 'other.db', root: 'store' })]],
    ['a mode with setuid', [ARCHIVE_MAGIC, head, ...file({ path: 'x', mode: 0o4755 })]],
    ['a negative size', [ARCHIVE_MAGIC, head, encodeRecord('F', { root: 'state', path: 'x', mode: 0o600, size: -1 })]],
    ['the same path twice', [ARCHIVE_MAGIC, head, ...file({ path: 'x' }), ...file({ path: 'x' })]],
    ['a path through a file', [ARCHIVE_MAGIC, head, ...file({ path: 'x' }), ...file({ path: 'x/y' })]],
    ['no head record', [ARCHIVE_MAGIC, ...file({ path: 'x' })]],
    ['a second head', [ARCHIVE_MAGIC, head, head]],
    ['another format', [ARCHIVE_MAGIC, encodeRecord('H', { format: 'tar', version: 1 })]],
    ['a newer version', [ARCHIVE_MAGIC, encodeRecord('H', { format: FORMAT, version: 2, created_at: 'x', gatehouse_version: 'x', source: {} })]],
    ['bad magic', [Buffer.from('GHBK\x02'), head]],
    ['an unknown record type', [ARCHIVE_MAGIC, head, Buffer.from([0x5a, 0, 0, 0, 2]), Buffer.from('{}')]],
    ['a record larger than its bound', [ARCHIVE_MAGIC, head, Buffer.from([0x46, 0, 0x10, 0, 1])]],
    ['JSON that is not an object', [ARCHIVE_MAGIC, head, encodeRecord('F', [1, 2])]],
    ['a size only on __proto__', [ARCHIVE_MAGIC, head, rawRecord('F', '{"__proto__":{"size":2},"root":"state","path":"x","mode":384}'), data]],
    ['no end record', [ARCHIVE_MAGIC, head, ...file({ path: 'x' })]],
    ['an end record with another digest', [ARCHIVE_MAGIC, head, ...file({ path: 'x' }), end([{ ...entry('x'), sha256: 'a'.repeat(64) }])]],
    ['an end record with fewer files', [ARCHIVE_MAGIC, head, ...file({ path: 'x' }), ...file({ path: 'y' }), end([entry('x')])]],
    ['bytes after the end', [ARCHIVE_MAGIC, head, ...file({ path: 'x' }), end([entry('x')]), Buffer.from('x')]],
    ['data shorter than its size', [ARCHIVE_MAGIC, head, encodeRecord('F', { root: 'state', path: 'x', mode: 0o600, size: 10 }), Buffer.from('short')]],
  ];
  for (const [what, parts] of hostile) {
    test(what, () => {
      assert.equal(read(parts).error, 'GH_BACKUP_INVALID');
    });
  }

  test('restoring an archive that names ../ writes nothing outside the staging directory', async (t) => {
    const dir = tempDir(t, 'gh-backup-');
    const key = generateKey();
    const bad = join(dir, 'evil.ghb');
    await sealArchive(bad, [ARCHIVE_MAGIC, head, ...file({ path: 'ok.txt' }), ...file({ path: '../../escaped.txt' })], key);
    const target = join(dir, 'target', 'state');
    assert.equal(await rejectionCode(restoreBackup({ stateDir: target, auditDir: join(target, 'audit'), auditFile: 'audit.jsonl', input: bad, key })), 'GH_BACKUP_INVALID');
    assert.equal(existsSync(join(dir, 'escaped.txt')), false);
    assert.equal(existsSync(join(dir, 'target', 'escaped.txt')), false);
    assert.equal(existsSync(target), false);
    assert.deepEqual(readdirSync(join(dir, 'target')), []);
  });

  test('an archive truncated to a record boundary inside a valid stream is refused (no end record)', async (t) => {
    const dir = tempDir(t, 'gh-backup-');
    const key = generateKey();
    const bad = join(dir, 'short.ghb');
    await sealArchive(bad, [ARCHIVE_MAGIC, head, ...file({ path: 'x' })], key);
    await assert.rejects(verifyBackup({ input: bad, key }), (e: GatehouseError) => e.code === 'GH_BACKUP_INVALID' && /ends before its end record/.test(e.message));
  });
});
