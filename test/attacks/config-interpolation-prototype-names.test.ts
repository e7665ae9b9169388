/**
 * `${NAME}` read the environment through the prototype chain: `${hasOwnProperty}`, `${constructor}` and the like
 * resolved to Object.prototype members (a 41-byte "function hasOwnProperty() { [native code] }", enough for a
 * 32-byte secret check) instead of "variable not set". Only the environment's own entries count now.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, interpolateString, loadConfig } from '../../src/config/index.js';

const NAMES = ['hasOwnProperty', 'constructor', 'toString', 'valueOf', '__defineGetter__', 'isPrototypeOf', 'propertyIsEnumerable', 'toLocaleString'];

test('Object.prototype names are unset variables, in a plain object and in process.env', () => {
  for (const env of [{}, process.env]) {
    for (const name of NAMES) {
      if (Object.hasOwn(env, name)) continue; // really set in this environment
      const problems: { path: string; variable?: string }[] = [];
      assert.equal(interpolateString(`\${${name}}`, env, 'x', problems), '');
      assert.deepEqual(problems, [{ path: 'x', variable: name }]);
      assert.equal(interpolateString(`\${${name}:-fallback}`, env, 'x', []), 'fallback');
    }
  }
});

test('a secret written as ${hasOwnProperty} is a missing variable, not a 41-byte constant', async () => {
  await assert.rejects(loadConfig({ text: 'auth:\n  token:\n    secret: ${hasOwnProperty}\n', env: { GATEHOUSE_HOME: '/tmp/gh-test-home' } }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.code, 'GH_CONFIG_MISSING_VAR');
    assert.match(e.message, /environment variable hasOwnProperty is not set/);
    return true;
  });
});

test('an own variable of that name is still used', () => {
  assert.equal(interpolateString('${constructor}', { constructor: 'set-by-operator' } as NodeJS.ProcessEnv, 'x', []), 'set-by-operator');
});
