/**
 * The operational log file (log.file): private (0600, its directory 0700), and reopened at its path on request
 * (SIGHUP after logrotate renamed it). Real files in a temporary directory.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { type PathLike, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, privateLogFile, reopenLogFiles } from '../../src/redact/logger.js';
import { validateConfig } from '../../src/config/index.js';
import { startGateway } from '../../src/gateway/start.js';

const mode = (path: string): number => statSync(path).mode & 0o777;
const lines = (path: string): string[] => readFileSync(path, 'utf8').split('\n').filter(Boolean);

describe('log.file', () => {
  const root = mkdtempSync(join(tmpdir(), 'gh-logfile-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  test('is created 0600 in a directory created 0700, whatever the umask', () => {
    const file = join(root, 'new', 'logs', 'gatehouse.log');
    const umask = process.umask(0o000);
    try {
      const log = createLogger({ file });
      log.info('first line');
    } finally {
      process.umask(umask);
    }
    assert.equal(mode(file), 0o600);
    assert.equal(mode(join(root, 'new', 'logs')), 0o700);
    assert.match(readFileSync(file, 'utf8'), /first line/);
  });

  test('an existing file that group or others can read is made 0600, with a warning in it', () => {
    const file = join(root, 'shared.log');
    writeFileSync(file, '{"msg":"an old line"}\n', { mode: 0o644 });
    assert.equal(mode(file), 0o644);
    const log = createLogger({ file });
    log.info('after');
    assert.equal(mode(file), 0o600);
    const text = readFileSync(file, 'utf8');
    assert.match(text, /an old line/, 'appended to, not truncated');
    assert.match(text, /log\.file was readable or writable by group or others: made it 0600/);
    // A private file is left as it is, and says nothing.
    assert.equal(privateLogFile(file), 'private');
    assert.equal(privateLogFile(join(root, 'absent.log')), 'absent');
    // A device is not chmodded (log.file: /dev/stdout is a fine choice).
    assert.equal(privateLogFile('/dev/null'), 'not a regular file');
  });

  test('reopen after a rename: new lines go to a new private file at the path, the renamed file keeps the old ones', () => {
    const file = join(root, 'rotate', 'gatehouse.log');
    const log = createLogger({ file });
    log.info('before rotation');
    renameSync(file, `${file}.1`);
    log.info('written after the rename, before the reopen');
    const report = reopenLogFiles();
    assert.ok(report.reopened.includes(file), JSON.stringify(report));
    assert.equal(existsSync(file), true, 'a new file at the original path');
    log.info('after rotation');
    assert.equal(mode(file), 0o600);
    const old = lines(`${file}.1`).join('\n');
    const fresh = lines(file).join('\n');
    assert.match(old, /before rotation/);
    assert.match(old, /written after the rename, before the reopen/);
    assert.doesNotMatch(old, /after rotation"/);
    assert.match(fresh, /after rotation/);
    assert.doesNotMatch(fresh, /before rotation/);
  });

  test('a new file created group-readable (logrotate `create 0640`) is made 0600 when reopened', () => {
    const file = join(root, 'create', 'gatehouse.log');
    const log = createLogger({ file });
    renameSync(file, `${file}.1`);
    writeFileSync(file, '', { mode: 0o640 });
    const report = reopenLogFiles();
    assert.ok(report.madePrivate.includes(file) && report.reopened.includes(file), JSON.stringify(report));
    log.info('into the new file');
    assert.equal(mode(file), 0o600);
    assert.match(readFileSync(file, 'utf8'), /into the new file/);
  });

  test('a file that cannot be reopened keeps the one it has (no line lost, no crash); a later reopen works', async () => {
    const file = join(root, 'broken', 'gatehouse.log');
    const log = createLogger({ file });
    renameSync(file, `${file}.1`);
    mkdirSync(file); // the path is now a directory: open fails (EISDIR)
    const report = reopenLogFiles();
    const failed = report.failed.find((f) => f.file === file);
    assert.ok(failed, JSON.stringify(report));
    assert.match(failed.reason, /EISDIR/);
    log.info('still to the old file');
    assert.match(readFileSync(`${file}.1`, 'utf8'), /still to the old file/);

    rmdirSync(file);
    const again = reopenLogFiles();
    assert.ok(again.reopened.includes(file), JSON.stringify(again));
    log.info('to the new file');
    // The old descriptor is closed on a later tick; writing goes on, and a failed reopen left no 'error' behind.
    await new Promise((r) => setTimeout(r, 50));
    log.info('still writing');
    assert.match(readFileSync(file, 'utf8'), /to the new file[\s\S]*still writing/);
  });

  test('an open that fails inside pino\'s destination (a race with the rename) neither ends the process nor leaks', async () => {
    const file = join(root, 'race', 'gatehouse.log');
    const log = createLogger({ file });
    renameSync(file, `${file}.1`);
    // Only sonic-boom (CommonJS, fs.openSync at call time) sees the failure; the check before it has succeeded.
    const real = fs.openSync;
    fs.openSync = ((path: PathLike, ...rest: unknown[]) => {
      if (path === file) throw Object.assign(new Error('simulated'), { code: 'EMFILE' });
      return (real as (...a: unknown[]) => number)(path, ...rest);
    }) as typeof fs.openSync;
    let report;
    try {
      report = reopenLogFiles();
    } finally {
      fs.openSync = real;
    }
    assert.match(report.failed.find((f) => f.file === file)?.reason ?? '', /EMFILE/, JSON.stringify(report));
    // pino rethrows a destination's 'error' event: it would surface here, a tick later, as an uncaught exception.
    await new Promise((r) => setTimeout(r, 20));
    log.info('still to the old file');
    assert.match(readFileSync(`${file}.1`, 'utf8'), /still to the old file/);
    assert.ok(reopenLogFiles().reopened.includes(file));
    await new Promise((r) => setTimeout(r, 20));
    log.info('to the new file');
    assert.match(readFileSync(file, 'utf8'), /to the new file/);
  });

  test('the gateway creates its log file 0600 (log.file in the configuration)', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'gh-logfile-gw-'));
    const file = join(root, 'gateway', 'gatehouse.log');
    try {
      const cfg = validateConfig({ state_dir: stateDir, server: { tls: { enabled: false } }, log: { file }, routes: [] }, { env: {} });
      const gw = await startGateway(cfg, { listen: '127.0.0.1:0' });
      await (await fetch(`${gw.url}/nowhere`)).arrayBuffer();
      await gw.close(2000);
      assert.equal(mode(file), 0o600);
      assert.match(readFileSync(file, 'utf8'), /"svc":"gatehouse".*"path":"\/nowhere"/);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
