/**
 * `uniqueKeys` refused a repeated key, but compared keys as YAML scalars: `1:` and `"1":`, `true:` and `"true":`, `~:`
 * and `"":` were different keys to it and the same property once converted, so the last one silently won. In a map
 * keyed by operator-chosen names (headers, tenants, tools) a reviewer sees two entries and only one applies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config/index.js';

const env = { GATEHOUSE_HOME: '/tmp/gh-test-home' };

async function refusal(text: string): Promise<ConfigError> {
  try {
    await loadConfig({ text, env });
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e;
  }
  assert.fail(`loaded: ${text}`);
}

const headers = (a: string, b: string) => `auth:\n  header:\n    headers:\n      ${a}: "${'a'.repeat(20)}"\n      ${b}: "${'b'.repeat(20)}"\n`;

test('keys that differ only in scalar type are duplicates', async () => {
  for (const [a, b] of [['1', '"1"'], ['true', '"true"'], ['"1"', '1.0'], ['0x1', '"1"'], ['~', '""'], ['null', '~']]) {
    const err = await refusal(headers(a, b));
    assert.equal(err.code, 'GH_CONFIG_INVALID');
    assert.match(err.problems.join('\n'), /unique/i, `${a} / ${b}`);
  }
});

test('plain duplicates are still refused, distinct keys still load', async () => {
  await refusal(headers('X-A', 'X-A'));
  const cfg = await loadConfig({ text: headers('X-A', 'X-B'), env });
  assert.deepEqual(Object.keys(cfg.auth.header.headers), ['X-A', 'X-B']);
});
