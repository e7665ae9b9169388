/** auth.token.rotation: automatic rotation of the state directory's token signing keys. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { tokenRotationPolicy } from '../../src/authn/index.js';
import { configRefusal, TEST_ENV } from './helpers.js';

const H = 3_600_000;
const D = 24 * H;
const rotation = (body: string, extra = ''): string => `auth:\n  token:\n${extra}    rotation:\n${body}`;

test('absent by default: no automatic rotation, no overlap of its own', async () => {
  const cfg = await loadConfig({ text: '{}', env: TEST_ENV });
  assert.deepEqual(cfg.auth.token.rotation, {});
  assert.equal(tokenRotationPolicy(cfg), undefined);
});

test('every and overlap are durations; the overlap defaults to auth.token.max_ttl.default', async () => {
  const monthly = await loadConfig({ text: rotation('      every: 30d\n'), env: TEST_ENV });
  assert.equal(monthly.auth.token.rotation.every, 30 * D);
  assert.equal(monthly.auth.token.rotation.overlap, undefined);
  assert.deepEqual(tokenRotationPolicy(monthly), { everyMs: 30 * D, overlapMs: 90 * D });
  const shortTokens = await loadConfig({ text: rotation('      every: 1d\n', '    max_ttl: { default: 24h }\n'), env: TEST_ENV });
  assert.deepEqual(tokenRotationPolicy(shortTokens), { everyMs: D, overlapMs: D });
  const explicit = await loadConfig({ text: rotation('      every: 7d\n      overlap: 14d\n'), env: TEST_ENV });
  assert.deepEqual(tokenRotationPolicy(explicit), { everyMs: 7 * D, overlapMs: 14 * D });
  // An overlap alone changes nothing: no rotation without every.
  const overlapOnly = await loadConfig({ text: rotation('      overlap: 14d\n'), env: TEST_ENV });
  assert.equal(tokenRotationPolicy(overlapOnly), undefined);
});

test('every is at least 1h and at most 365d; the overlap is at least 1s', async () => {
  assert.deepEqual((await configRefusal(rotation('      every: 30m\n', '    max_ttl: { default: 1h }\n'))).problems, ['auth.token.rotation.every: at least 1h']);
  assert.deepEqual((await configRefusal(rotation('      every: 400d\n'))).problems, ['auth.token.rotation.every: at most 365d']);
  assert.match((await configRefusal(rotation('      every: 30d\n      overlap: 0\n'))).problems.join('\n'), /^auth\.token\.rotation\.overlap: at least 1s/);
  assert.match((await configRefusal(rotation('      every: often\n'))).problems.join('\n'), /^auth\.token\.rotation\.every: /);
  await assert.doesNotReject(loadConfig({ text: rotation('      every: 1h\n      overlap: 1d\n'), env: TEST_ENV }));
  await assert.doesNotReject(loadConfig({ text: rotation('      every: 365d\n'), env: TEST_ENV }));
});

test('every so short that more than 128 keys would verify at once is refused, naming where the overlap comes from', async () => {
  const hourly = await configRefusal(rotation('      every: 1h\n'));
  assert.equal(hourly.problems.length, 1);
  assert.match(hourly.problems[0] as string, /^auth\.token\.rotation\.every: every 1h with an overlap of 90d \(auth\.token\.max_ttl\.default\) keeps more than 128 earlier keys verifying/);
  const explicit = await configRefusal(rotation('      every: 1h\n      overlap: 30d\n'));
  assert.match(explicit.problems[0] as string, /\(auth\.token\.rotation\.overlap\)/);
  // 90 keys: daily rotation with 90-day tokens is fine.
  await assert.doesNotReject(loadConfig({ text: rotation('      every: 1d\n'), env: TEST_ENV }));
});

test('rotation.every with a secret from configuration is refused: the gateway cannot rotate it', async () => {
  const inline = await configRefusal(rotation('      every: 30d\n', '    secret: a-configured-secret-of-32-bytes!!\n'));
  assert.equal(inline.problems.length, 1);
  assert.match(inline.problems[0] as string, /^auth\.token\.rotation\.every: the signing secret comes from configuration \(auth\.token\.secret\)/);
  assert.ok(!(inline.problems[0] as string).includes('a-configured-secret'), 'the secret is never in a message');
  const dir = mkdtempSync(join(tmpdir(), 'gh-config-'));
  try {
    const file = join(dir, 'token-secret');
    writeFileSync(file, 'a-configured-secret-of-32-bytes!!\n', { mode: 0o600 });
    const fromFile = await configRefusal(rotation('      every: 30d\n', `    secret_file: ${file}\n`));
    assert.match(fromFile.problems[0] as string, /^auth\.token\.rotation\.every: .*\(auth\.token\.secret_file\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // previous_secrets alone is no configured signing secret.
  await assert.doesNotReject(loadConfig({ text: rotation('      every: 30d\n'), env: TEST_ENV }));
});

test('an unknown key under rotation names its path and the nearest valid key', async () => {
  const err = await configRefusal(rotation('      evry: 30d\n'));
  assert.deepEqual(err.problems, ['auth.token.rotation.evry: unknown key (did you mean "every"?)']);
});
