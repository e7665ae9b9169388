import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config/index.js';

export const TEST_ENV = { GATEHOUSE_HOME: '/tmp/gh-test-home' };

/** Loads `text` and returns the ConfigError it must be refused with (fails the test when it loads). */
export async function configRefusal(text: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<ConfigError> {
  try {
    await loadConfig({ text, env: { ...TEST_ENV, ...extraEnv } });
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the config to be refused');
}
