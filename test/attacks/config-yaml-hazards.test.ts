import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { cli } from '../helpers/cli.js';

const env = { GATEHOUSE_HOME: '/tmp/gh-test-home' };

async function refused(text: string): Promise<ConfigError> {
  try {
    await loadConfig({ text, env });
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${(e as Error).name}: ${(e as Error).message}`);
    return e;
  }
  assert.fail('expected the config to be refused');
}

// Nine levels of nine aliases: 9^7 strings once expanded ("billion laughs").
const BILLION_LAUGHS = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
  .concat(['b', 'c', 'd', 'e', 'f', 'g'].map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdef'[i]}`).join(',')}]`))
  .join('\n');

describe('config YAML hazards', () => {
  test('billion laughs: alias expansion is refused as a config error (GH_CONFIG_INVALID), not an internal error', async () => {
    const err = await refused(BILLION_LAUGHS);
    assert.equal(err.code, 'GH_CONFIG_INVALID');
    assert.match(err.problems[0] as string, /alias/i);
  });

  test('billion laughs through `gatehouse config check` exits 2 with GH_CONFIG_INVALID', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-yaml-'));
    try {
      writeFileSync(join(dir, 'bomb.yaml'), BILLION_LAUGHS);
      const r = await cli(['config', 'check', '--config', join(dir, 'bomb.yaml')], { env: { GATEHOUSE_HOME: dir } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /GH_CONFIG_INVALID/);
      assert.doesNotMatch(r.stderr, /GH_INTERNAL/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a __proto__ key is refused with its path, never turned into a prototype (records included)', async () => {
    for (const [text, path] of [
      ['encryption:\n  keyrings:\n    __proto__:\n      type: chacha20poly1305\n', 'encryption.keyrings.__proto__'],
      ['approval:\n  tools:\n    __proto__: deny\n', 'approval.tools.__proto__'],
      ['audit:\n  sinks:\n    - type: http\n      url: https://logs.example/\n      headers:\n        __proto__: x\n', 'audit.sinks[0].headers.__proto__'],
    ] as const) {
      const err = await refused(text);
      assert.equal(err.code, 'GH_CONFIG_INVALID');
      assert.ok(err.problems.some((p) => p.startsWith(`${path}:`)), `${path} not named in: ${err.message}`);
    }
  });

  test('merge keys are not YAML 1.2: "<<" is an unknown key, not a silent merge', async () => {
    const err = await refused('server:\n  <<: {listen: "0.0.0.0:1"}\n');
    assert.match(err.problems[0] as string, /^server\.<<: unknown key/);
  });
});

describe('*_file detection follows the schema, not the spelling of a key', () => {
  test('a tool named read_file / write_file can have an approval mode (its value is not a path)', async () => {
    const cfg = await loadConfig({ text: 'approval:\n  tools:\n    read_file: queue\n    write_file: deny\n', env });
    assert.equal(cfg.approval.tools['read_file'], 'queue');
    assert.equal(cfg.approval.tools['write_file'], 'deny');
  });

  test('declared file fields inside lists, records and sink variants are still resolved and checked', async () => {
    for (const [text, path] of [
      ['audit:\n  sinks:\n    - type: syslog\n      transport: tls\n      ca_file: /nonexistent/gh-ca.pem\n', 'audit.sinks[0].ca_file'],
      ['encryption:\n  keyrings:\n    orders:\n      key_file: /nonexistent/gh-key\n', 'encryption.keyrings.orders.key_file'],
      ['auth:\n  basic:\n    users_file: /nonexistent/gh-users.json\n', 'auth.basic.users_file'],
    ] as const) {
      const err = await refused(text);
      assert.equal(err.code, 'GH_CONFIG_FILE_UNREADABLE', err.message);
      assert.deepEqual(err.problems, [`${path}: file does not exist`]);
    }
  });
});
