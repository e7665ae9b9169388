/**
 * At start the gateway warns, once per trusted directory, when an ancestor lets another user replace it (writable by
 * group or others without the sticky bit, or owned by a user other than this one and root), naming the ancestor and
 * why — and starts anyway: only the directory itself is refused (`gatehouse doctor` flags the ancestor).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/index.js';
import { startGateway } from '../../src/gateway/start.js';
import { memoryLogger } from '../helpers/gateway.js';

const posix = process.platform === 'win32' ? 'file modes are not judged on Windows' : false;

const config = (stateDir: string) =>
  validateConfig({ state_dir: stateDir, server: { tls: { enabled: false } }, auth: { methods: ['token'], token: { secret: 'ancestor-dirs-token-secret-Zq8v4N2mKp' } }, routes: [{ name: 'api', prefix: '/api', upstream: 'http://127.0.0.1:9' }] }, { env: {} });

const warnings = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['level'] === 'warn' && /through an ancestor directory/.test(String(l['msg'])));

describe('gateway start: ancestors of the state directory', { skip: posix }, () => {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'gh-start-ancestors-')));
  after(() => rmSync(root, { recursive: true, force: true }));

  test('a state_dir under a 0777 parent starts, with one warning per directory naming the parent', async () => {
    const shared = join(root, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    const state = join(shared, 'gatehouse');
    const log = memoryLogger();
    const gw = await startGateway(config(state), { listen: '127.0.0.1:0', logger: log });
    await gw.close(2000);
    const found = warnings(log.lines);
    // state_dir and audit.dir (<state_dir>/audit); store.path lies in state_dir itself.
    assert.deepEqual(found.map((w) => w['setting']), ['state_dir', 'audit.dir']);
    const first = found[0] ?? {};
    assert.match(String(first['msg']), new RegExp(`^state_dir ${state} can be replaced by another user through an ancestor directory: ${shared} is writable by group or others without the sticky bit \\(mode 0777, owner uid \\d+\\)`));
    assert.deepEqual((first['ancestors'] as { path: string }[]).map((a) => a.path), [shared]);
  });

  test('a 0755 parent: no such warning', async () => {
    const plain = join(root, 'plain');
    mkdirSync(plain, { mode: 0o755 });
    chmodSync(plain, 0o755);
    const log = memoryLogger();
    const gw = await startGateway(config(join(plain, 'gatehouse')), { listen: '127.0.0.1:0', logger: log });
    await gw.close(2000);
    assert.deepEqual(warnings(log.lines), []);
  });
});
