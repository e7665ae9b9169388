// Polynomial backtracking through bounded repetitions: each of a{0,64}a{0,64}a{0,64}a{0,64}b is "short", yet together
// they try 65⁴ splits at every start (0.3 s on 100 characters, about a minute on 200). The safety check must refuse
// them when the configuration or a --rules file is loaded, before anything is compiled or run.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.js';
import { loadConfig } from '../../src/config/index.js';
import { GatehouseError } from '../../src/core/errors.js';
import { checkPatternSafety, createRedactor, UnsafePatternError } from '../../src/redact/index.js';

const POLYNOMIAL = [
  'a{0,64}a{0,64}a{0,64}a{0,64}b',
  '[a-z]{1,64}[a-z]{1,64}[a-z]{1,64}[a-z]{1,64}!',
  '[\\s\\S]{1,64}[\\s\\S]{1,64}[\\s\\S]{1,64}!',
  '\\w{1,64}\\d{1,64}\\w{1,64}\\d{1,64}!',
  'a{0,15}a{0,15}b', // 256 splits: about a second per MB
  'a?a?a?a?a?a?a?a?a?a?a?a?aaaaaaaaaaaa', // 2^12 splits, exponential in the count of "a?"
  '(?:a?){30}a{30}',
  'x\\w+_\\w+;', // the "_" between them is a \w too: quadratic after the anchor
  'x\\w+\\w{0,64}!',
];

const REASONABLE = [
  '\\bACME-[0-9]{6}\\b', 'secret_[A-Za-z0-9]{32}', 'TICKET-[0-9]{6}', 'sess=([a-z0-9]{16,64})', 'password: changeme-[0-9]{1,4}',
  'int_[a-f0-9]{32}', 'TICKET-\\d{4,12};', '\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}', 'sk_(?:live|test)_[A-Za-z0-9]{24,99}', 'k=[a-z]{1,8}[0-9]{1,8}',
];

describe('bounded repetitions that meet on the same characters', () => {
  test('the safety check refuses them', () => {
    for (const p of POLYNOMIAL) assert.throws(() => checkPatternSafety(p), UnsafePatternError, p);
  });

  test('reasonable rules and the redactor\'s defaults are still accepted', () => {
    for (const p of REASONABLE) assert.doesNotThrow(() => checkPatternSafety(p), p);
    assert.doesNotThrow(() => createRedactor({ rules: REASONABLE.map((pattern, i) => ({ name: `r${i}`, pattern })) }));
    assert.equal(createRedactor({ isolated: true }).redactText('password=hunter2'), 'password=[REDACTED]');
  });

  test('a configuration holding one is refused when its redactor is built (GH_REDACT_RULE_UNSAFE naming the rule)', async () => {
    for (const pattern of POLYNOMIAL.slice(0, 3)) {
      const cfg = await loadConfig({ text: `redact:\n  rules:\n    - name: ok\n      pattern: 'TICKET-[0-9]{6}'\n    - name: evil\n      pattern: '${pattern}'\n`, env: {} });
      assert.throws(
        () => createRedactor(cfg.redact),
        (e: unknown) => e instanceof GatehouseError && e.code === 'GH_REDACT_RULE_UNSAFE' && e.message.includes('redact.rules[1]'),
        pattern,
      );
    }
  });

  test('gatehouse redact --rules FILE refuses one (exit 2) before reading any input', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-redos-'));
    try {
      writeFileSync(join(dir, 'rules.json'), JSON.stringify({ rules: [{ name: 'evil', pattern: POLYNOMIAL[0] }] }));
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      const err: string[] = [];
      stderr.on('data', (c: Buffer) => err.push(c.toString()));
      const code = await runCli(['redact', '--rules', 'rules.json'], { stdin: Readable.from([Buffer.from('a'.repeat(60))]), stdout, stderr, env: {}, cwd: dir });
      assert.equal(code, 2);
      assert.match(err.join(''), /GH_REDACT_RULE_UNSAFE: rules\.json: redact\.rules\[0\] is not safe to run/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
