/**
 * audit.dir may point outside state_dir. In a directory another local account can write, that account could swap or
 * truncate the log files, or plant a file under the active log's name before the first start. audit.dir is judged as
 * state_dir is: the audit log does not open there, and the gateway does not start.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isGatehouseError } from '../../src/core/errors.js';
import { openTestLog, seedEvent, tempDir } from '../audit/helpers.js';

const posix = process.platform === 'win32' ? 'file modes are not judged on Windows' : false;
const notRoot = process.getuid?.() === 0 ? false : 'needs root to make a directory owned by another user (uid 65534), as CI runs';

const refused = (pattern: RegExp) => (e: unknown): boolean => {
  assert.ok(isGatehouseError(e), String(e));
  assert.equal(e.code, 'GH_CONFIG_INVALID');
  assert.match(e.message, pattern);
  return true;
};

describe('audit.dir others can write', { skip: posix }, () => {
  for (const mode of [0o1777, 0o777, 0o770]) {
    test(`an audit.dir of mode ${mode.toString(8).padStart(4, '0')} is refused before a record is written there`, async (t) => {
      const root = tempDir(t);
      const shared = join(root, 'shared-audit');
      mkdirSync(shared);
      chmodSync(shared, mode);
      await assert.rejects(openTestLog(join(root, 'state'), { dir: shared }), refused(/audit\.dir .*shared-audit is writable by group or others/));
      assert.deepEqual(readdirSync(shared), []);
    });
  }

  test('an audit.dir owned by another user is refused', { skip: notRoot }, async (t) => {
    const root = tempDir(t);
    const theirs = join(root, 'theirs');
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, 65534, 65534);
    await assert.rejects(openTestLog(join(root, 'state'), { dir: theirs }), refused(/audit\.dir .*theirs is owned by another user \(uid 65534\)/));
  });

  test('the default audit.dir (<state_dir>/audit) and a private one outside state_dir open as before', async (t) => {
    const root = tempDir(t);
    const own = join(root, 'var-log-gatehouse');
    mkdirSync(own, { mode: 0o750 });
    for (const cfg of [{}, { dir: own }]) {
      const log = await openTestLog(join(root, 'state'), cfg);
      await log.emit(seedEvent(1));
      await log.close();
      assert.ok(existsSync(log.path));
    }
  });
});
