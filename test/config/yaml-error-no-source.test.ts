/**
 * A YAML syntax error quoted the source text it stopped at: a literal secret written unquoted that YAML reads as a
 * block scalar header (`|…`, `>…`) or a tag (`!a!…`) came back whole in the error that `config check`, `serve`,
 * `doctor` and every config-loading command print (and ACL files the same). Errors now carry the parser's code, the
 * line and column, and a description of ours; never the parser's message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadConfig, ConfigError } from '../../src/config/index.js';
import { parseAclText } from '../../src/authz/index.js';
import type { GatehouseError } from '../../src/core/errors.js';
import { runCliProcess } from '../helpers/process.js';

const plant = (): string => `PLANT${randomBytes(12).toString('hex')}`;
const staticConfig = (token: string): string =>
  `server: { tls: { enabled: false } }\nauth:\n  methods: [static]\n  static:\n    tokens:\n      - principal: ci\n        token: ${token}\n`;

async function problems(text: string): Promise<string[]> {
  try {
    await loadConfig({ text, env: { GATEHOUSE_HOME: '/tmp/gh-yaml-error-home' } });
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return [...e.problems];
  }
  assert.fail('the configuration was accepted');
}

test('a secret read as a block scalar header or a tag is not quoted in the configuration error', async () => {
  for (const shape of [(s: string) => `|${s}`, (s: string) => `>${s}`, (s: string) => `!${s.slice(0, 9)}!${s.slice(9)}`]) {
    const secret = plant();
    const lines = await problems(staticConfig(shape(secret)));
    assert.ok(lines.length > 0);
    for (const l of lines) {
      assert.ok(!l.includes(secret.slice(5)) && !l.includes(secret.slice(-8)), `secret quoted: ${l}`);
      assert.match(l, /^config: line 7, column \d+: YAML [A-Z_]+, /, l);
    }
  }
});

test('other YAML errors still say what and where', async () => {
  assert.match((await problems('a: 1\na: 2\n'))[0] as string, /^config: line 2, column 1: YAML DUPLICATE_KEY, a duplicated key \(map keys must be unique/);
  assert.match((await problems('a: "x\n'))[0] as string, /line 2, column 1: YAML MISSING_CHAR, a missing character/);
  assert.match((await problems('server:\n\ttls: {}\n'))[0] as string, /line 2, column 1: YAML TAB_AS_INDENT/);
});

test('property: no configuration error repeats the text of the line it fails on', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('|', '>', '!', '!x!', '&', '*', '@', '`', '%', '"', "'", '[', '{', '- ', '? ', ': '), fc.stringMatching(/^[A-Za-z0-9]{12,24}$/), async (lead, body) => {
      const secret = `Q${body}`;
      let lines: string[];
      try {
        lines = await problems(staticConfig(`${lead}${secret}`));
      } catch {
        return; // accepted (e.g. a quoted or flow value that parses): not a YAML error
      }
      for (const l of lines) assert.ok(!l.includes(secret.slice(0, 12)), `${lead}: ${l}`);
    }),
    { numRuns: 150 },
  );
});

test('ACL files: the YAML error names the code and position, not the source', () => {
  const secret = plant();
  const text = `apiVersion: felix.io/v1\nkind: ACL\nmetadata: {tenant: a, namespace: b}\nspec:\n  note: |${secret}\n  rules: []\n`;
  assert.throws(() => parseAclText(text, 'acl.yaml', ['stream']), (e: GatehouseError) => {
    assert.ok(!e.message.includes(secret.slice(5)), e.message);
    assert.match(e.message, /YAML error: line 5, column \d+: YAML [A-Z_]+/);
    return true;
  });
});

test('gatehouse config check prints the position, not the secret (real process)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-yaml-error-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const secret = plant();
  writeFileSync(join(dir, 'gh.yaml'), staticConfig(`|${secret}`));
  const r = await runCliProcess(['config', 'check', '--config', join(dir, 'gh.yaml')], { GATEHOUSE_HOME: join(dir, 'state') });
  assert.equal(r.code, 2, r.stderr);
  assert.ok(!(r.stdout + r.stderr).includes(secret.slice(5)), r.stderr);
  assert.match(r.stderr, /GH_CONFIG_INVALID: .*gh\.yaml: line 7, column \d+: YAML UNEXPECTED_TOKEN/);
});
