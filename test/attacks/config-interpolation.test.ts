import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { interpolateString, loadConfig } from '../../src/config/index.js';
import type { InterpolationProblem } from '../../src/config/interpolate.js';
import { configRefusal, TEST_ENV } from '../config/helpers.js';

// A `${...}` the interpolator does not understand used to stay in the value as literal text. For a secret that is a
// string anyone reading the config (or the repository it lives in) knows, and it passes "at least 16 characters".

const env = TEST_ENV;

const refused = configRefusal;

describe('config interpolation: malformed references', () => {
  test('a nested default ${A:-${B}} is refused, never kept as the literal text "${B}"', async () => {
    const err = await refused('auth:\n  token:\n    secret: "${GH_TEST_UNSET_A:-${GH_TEST_FALLBACK_SECRET}}"\n');
    for (const p of err.problems) assert.match(p, /^auth\.token\.secret: /);
    assert.ok(err.problems.some((p) => /malformed/.test(p)), err.message);
  });

  test('${A:default} (missing "-") and ${A-B} (not a name) are refused rather than used verbatim as a secret', async () => {
    for (const ref of ['${GH_TEST_TOKEN_SECRET:fallback-value}', '${GH-TEST-TOKEN-SECRET-VAR}', '${GH_TEST_TOKEN_SECRET', '${}']) {
      const err = await refused(`auth:\n  token:\n    secret: "${ref}xxxxxxxxxxxxxxxx"\n`);
      assert.match(err.problems[0] as string, /^auth\.token\.secret: .*malformed/, ref);
    }
  });

  test('the problem names the field, never the text around the reference', async () => {
    const err = await refused('auth:\n  token:\n    secret: "inline-part-of-secret-${A:x}"\n');
    assert.doesNotMatch(err.message, /inline-part-of-secret/);
  });

  test('well-formed references, $${ escapes and a $ inside a default still work', async () => {
    const cfg = await loadConfig({ text: 'server:\n  listen: "${GH_TEST_UNSET_H:-127.0.0.1}:${GH_TEST_PORT}"\nlog:\n  file: "/a$${b"\n', env: { ...env, GH_TEST_PORT: '9443' } });
    assert.equal(cfg.server.listen, '127.0.0.1:9443');
    assert.equal(cfg.log.file, '/a${b');
    const p: InterpolationProblem[] = [];
    assert.equal(interpolateString('${GH_TEST_UNSET_X:-pa$word}', {}, 'x', p), 'pa$word');
    assert.equal(interpolateString('$${NOT_A_REF}', {}, 'x', p), '${NOT_A_REF}');
    assert.deepEqual(p, []);
  });

  test('a variable whose value holds ${...} is not expanded again', () => {
    const p: InterpolationProblem[] = [];
    assert.equal(interpolateString('${GH_TEST_OUTER}', { GH_TEST_OUTER: '${GH_TEST_INNER}', GH_TEST_INNER: 'leak' }, 'x', p), '${GH_TEST_INNER}');
    assert.deepEqual(p, []);
  });

  test('a long run of unclosed "${A:-" is scanned in linear time (no quadratic rescans)', () => {
    const long = '${A:-'.repeat(60_000); // 300 kB: quadratic rescanning takes tens of seconds here
    const started = performance.now();
    interpolateString(long, {}, 'x', []);
    assert.ok(performance.now() - started < 2000, `took ${Math.round(performance.now() - started)} ms`);
  });
});
