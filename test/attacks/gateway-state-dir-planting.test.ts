/**
 * The state directory holds what the gateway trusts: token signing keys, the dev CA key, the users file, the store
 * (API keys, approvals), the audit keys. Pointed at a directory other users can write (GATEHOUSE_HOME=/tmp/gh, a
 * shared mount, a group-writable checkout), anyone could plant those files before the first start, or swap them
 * later: the gateway must refuse such a directory rather than trust what is in it.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/index.js';
import { isGatehouseError } from '../../src/core/errors.js';
import { startGateway } from '../../src/gateway/start.js';
import { cli } from '../helpers/cli.js';
import { memoryLogger } from '../helpers/gateway.js';

describe('state directory others can write is refused', () => {
  const root = mkdtempSync(join(tmpdir(), 'gh-state-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  const config = (stateDir: string) =>
    validateConfig(
      { state_dir: stateDir, server: { tls: { enabled: false } }, routes: [{ name: 'echo', prefix: '/echo', upstream: 'demo:echo', auth_required: false }] },
      { env: {} },
    );
  const start = (stateDir: string) => startGateway(config(stateDir), { listen: '127.0.0.1:0', logger: memoryLogger() });
  const refusedNaming = (e: unknown): boolean => {
    assert.ok(isGatehouseError(e), String(e));
    assert.equal(e.code, 'GH_CONFIG_INVALID');
    assert.match(e.message, /state_dir/);
    return true;
  };

  for (const [name, mode] of [
    ['world-writable (0777)', 0o777],
    ['world-writable with the sticky bit, like /tmp (1777)', 0o1777],
    ['group-writable (0770)', 0o770],
  ] as const) {
    test(`a ${name} state directory is refused before anything is written into it`, async () => {
      const dir = join(root, `mode-${mode.toString(8)}`);
      mkdirSync(dir);
      chmodSync(dir, mode);
      await assert.rejects(start(dir), refusedNaming);
      assert.equal(existsSync(join(dir, 'secrets')), false, 'token signing keys were written into a directory others can write');
    });
  }

  test('a symlink to a world-writable directory is judged by the directory it points to', async () => {
    const target = join(root, 'shared');
    mkdirSync(target);
    chmodSync(target, 0o777);
    const link = join(root, 'home-link');
    symlinkSync(target, link);
    await assert.rejects(start(link), refusedNaming);
  });

  test('CLI commands refuse it too, before reading or writing a key there (token mint, key rotation, approvals)', async () => {
    const dir = join(root, 'cli-shared');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    const env = { GATEHOUSE_HOME: dir };
    for (const argv of [['token', 'mint', '--agent', 'a', '--scopes', 'readonly', '--ttl', '1h'], ['token', 'rotate-secret'], ['approvals', 'list'], ['keys', 'rotate', '--keyring', 'orders']]) {
      const r = await cli(argv, { env });
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /state_dir .* is writable by group or others/, argv.join(' '));
    }
    assert.equal(existsSync(join(dir, 'secrets')), false, 'a token signing key was written into a directory others can write');
    assert.equal(existsSync(join(dir, 'state.db')), false, 'the store was created in a directory others can write');
  });

  test('a state_dir that is an existing file is refused as a configuration problem', async () => {
    const file = join(root, 'not-a-dir');
    writeFileSync(file, 'x');
    await assert.rejects(start(file), refusedNaming);
  });

  test('a fresh state directory is created 0700 and serves; an existing 0700 or 0755 one is used as is', async () => {
    for (const [dir, mode] of [
      [join(root, 'fresh', 'nested'), undefined],
      [join(root, 'private'), 0o700],
      [join(root, 'readable'), 0o755],
    ] as const) {
      if (mode !== undefined) {
        mkdirSync(dir);
        chmodSync(dir, mode);
      }
      const gw = await start(dir);
      try {
        assert.equal(statSync(dir).mode & 0o7777, mode ?? 0o700);
        const res = await fetch(`${gw.url}/healthz`);
        assert.equal(res.status, 200);
      } finally {
        await gw.close(1000);
      }
    }
  });
});
