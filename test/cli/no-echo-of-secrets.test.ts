/**
 * CLI messages repeated what they were given verbatim: a key passed where the NAME of its variable or file was
 * expected (`--key-env "$KEY"`, `--key-file "$KEY"`, `secrets rotate-master --new-key-env "$KEY"`) came back in
 * "environment variable <KEY> is not set" or "key file <KEY> does not exist", and an unknown command or subcommand
 * echoed its first 40 characters (an API key pasted one word too early). A name is now repeated only when it is one
 * (a variable name not spelt like a key; a command word), and a path that cannot be opened never is. Real processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliProcess } from '../helpers/process.js';

function home(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'gh-no-echo-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'min.yaml'), `state_dir: ${join(dir, 'state')}\nserver: { tls: { enabled: false } }\n`);
  return { dir, cfg: join(dir, 'min.yaml'), env: { GATEHOUSE_HOME: join(dir, 'state'), USER: 'tester' } };
}

/** The key in every spelling the CLI reads: hex (lower and upper case), base64, base64url, and a passphrase. */
const keys = (): Record<string, string> => {
  const k = randomBytes(32);
  return {
    hex: k.toString('hex'),
    HEX: k.toString('hex').toUpperCase(),
    'hex from a letter': `a${k.toString('hex').slice(1)}`,
    base64: k.toString('base64'),
    base64url: k.toString('base64url'),
    passphrase: `correct horse ${randomBytes(6).toString('hex')}`,
  };
};

const absent = (out: string, value: string): boolean => !out.includes(value) && !out.includes(value.slice(0, 24)) && !out.includes(value.slice(-24));

test('a key given as --key-env, --key-file, --new-key-env or --new-key-file is not printed back', async (t) => {
  const h = home(t);
  for (const [spelling, key] of Object.entries(keys())) {
    const runs = {
      'backup create --key-env': ['backup', 'create', '--config', h.cfg, '--key-env', key, '--out', join(h.dir, 'x.ghb')],
      'backup create --key-file': ['backup', 'create', '--config', h.cfg, '--key-file', key, '--out', join(h.dir, 'x.ghb')],
      'backup verify --key-env': ['backup', 'verify', '--in', join(h.dir, 'x.ghb'), '--key-env', key],
      'encrypt --key-file': ['encrypt', '--key-file', key, '--config', h.cfg],
      'secrets rotate-master --new-key-env': ['secrets', 'rotate-master', '--config', h.cfg, '--new-key-env', key],
      'secrets rotate-master --new-key-file': ['secrets', 'rotate-master', '--config', h.cfg, '--new-key-file', key],
    };
    for (const [what, argv] of Object.entries(runs)) {
      const r = await runCliProcess(argv, h.env, '');
      assert.notEqual(r.code, 0, `${what} (${spelling}) succeeded`);
      assert.ok(absent(r.stdout + r.stderr, key), `${what} (${spelling}) printed the key: ${r.stderr}`);
      assert.match(r.stderr, /^error GH_[A-Z_]+: /, `${what} (${spelling})`);
    }
  }
});

test('a real variable name is still named when it is not set', async (t) => {
  const h = home(t);
  const r = await runCliProcess(['backup', 'create', '--config', h.cfg, '--key-env', 'GH_TEST_BACKUP_KEY_UNSET', '--out', join(h.dir, 'x.ghb')], h.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /environment variable GH_TEST_BACKUP_KEY_UNSET is not set/);
  const rot = await runCliProcess(['secrets', 'rotate-master', '--config', h.cfg, '--new-key-env', 'GH_TEST_NEW_MASTER_UNSET'], h.env);
  assert.equal(rot.code, 2);
  assert.match(rot.stderr, /environment variable GH_TEST_NEW_MASTER_UNSET is not set/);
  const bad = await runCliProcess(['backup', 'create', '--config', h.cfg, '--key-env', 'NOT-A-NAME', '--out', join(h.dir, 'x.ghb')], h.env);
  assert.match(bad.stderr, /environment variable name given is not a name/);
  assert.ok(!bad.stderr.includes('NOT-A-NAME'));
});

test('an unknown command or subcommand is quoted only when it is spelt like a command word', async () => {
  const apiKey = `gh_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}_${randomBytes(24).toString('base64url')}`;
  const env = { GATEHOUSE_HOME: join(tmpdir(), 'gh-no-echo-unused') };
  for (const argv of [[apiKey], ['apikey', apiKey], ['token', apiKey], ['secrets', 'PLANTsecretValue0123456789abcdef']]) {
    const r = await runCliProcess(argv, env);
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.stderr, /^error GH_USAGE: unknown (?:[a-z]+ )?command; run gatehouse/);
    const word = argv[argv.length - 1] as string;
    assert.ok(!r.stderr.includes(word.slice(0, 12)), `echoed: ${r.stderr}`);
  }
  const typo = await runCliProcess(['frobnicate'], env);
  assert.match(typo.stderr, /^error GH_USAGE: unknown command "frobnicate"; run gatehouse --help/);
  const subTypo = await runCliProcess(['apikey', 'craete'], env);
  assert.match(subTypo.stderr, /^error GH_USAGE: unknown apikey command "craete"; run gatehouse apikey --help/);
});
