import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commands, loadCommands } from '../../src/cli/commands.js';
import type { Command } from '../../src/cli/types.js';
import { cli } from '../helpers/cli.js';

test('gatehouse --help lists every command', async () => {
  const r = await cli(['--help']);
  assert.equal(r.code, 0);
  for (const c of commands) assert.match(r.stdout, new RegExp(`\\b${c.name}\\b`));
});

test('every command and subcommand explains itself with --help', async () => {
  const walk = async (path: string[], cmd: Command): Promise<void> => {
    const r = await cli([...path, '--help']);
    assert.equal(r.code, 0, `${path.join(' ')} --help`);
    assert.match(r.stdout, /Usage: gatehouse/, path.join(' '));
    for (const sub of cmd.subcommands ?? []) await walk([...path, sub.name], sub);
  };
  for (const c of await loadCommands()) await walk([c.name], c);
});

test('an unknown command is a usage error with exit status 2', async () => {
  const r = await cli(['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /GH_USAGE/);
});

test('an unknown option is a usage error with exit status 2', async () => {
  const r = await cli(['config', 'check', '--bogus']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /GH_USAGE/);
});

test('config check prints the effective config with secrets redacted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-cli-'));
  try {
    writeFileSync(join(dir, 'g.yaml'), 'server:\n  listen: 127.0.0.1:9443\n');
    const r = await cli(['config', 'check', '--config', join(dir, 'g.yaml')], { env: { GATEHOUSE_HOME: dir } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /listen: 127\.0\.0\.1:9443/);
    assert.match(r.stdout, /# profile: development/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('config errors exit with status 2, one line per problem', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-cli-'));
  try {
    writeFileSync(join(dir, 'bad.yaml'), 'servre: {}\nserver:\n  listen: 5\n');
    const r = await cli(['config', 'check', '--config', join(dir, 'bad.yaml')], { env: { GATEHOUSE_HOME: dir } });
    assert.equal(r.code, 2);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 2, r.stderr);
    assert.ok(lines.some((l) => l.includes('servre: unknown key (did you mean "server"?)')));
    assert.ok(lines.every((l) => l.startsWith('error GH_CONFIG_INVALID: ')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('config check in production names each refused setting', async () => {
  const r = await cli(['config', 'check'], { env: { GATEHOUSE_HOME: '/tmp/gh-none', GATEHOUSE_ENV: 'production' } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /dev CA/);
  assert.match(r.stderr, /demo/);
});

test('each registry entry loads the command of its own name', async () => {
  for (const c of commands) assert.equal((await c.load()).name, c.name);
});

test('an unknown option is refused with exit status 2, naming the nearest valid option', async () => {
  const r = await cli(['token', 'mint', '--agnet', 'x', '--scopes', 'logs:read']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^error GH_USAGE: unknown option --agnet \(did you mean --agent\?\)$/m);
  const far = await cli(['token', 'mint', '--zzzzzzzz']);
  assert.equal(far.code, 2);
  assert.match(far.stderr, /^error GH_USAGE: unknown option --zzzzzzzz; run gatehouse token mint --help$/m);
});

test('a flag value that reads --help or -h is not a request for help: a revoke with it fails instead of exiting 0 undone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-cli-'));
  try {
    const env = { GATEHOUSE_HOME: dir, USER: 'tester' };
    // A script passing a reason (or tenant, or subject) it did not write: the value must never turn the command into help.
    for (const argv of [
      ['token', 'revoke', 'abcdefgh12345678', '--reason', '--help'],
      ['token', 'revoke', 'abcdefgh12345678', '--reason', '-h'],
      ['keys', 'shred', '--tenant', '--help', '--yes'],
    ]) {
      const r = await cli(argv, { env, cwd: dir });
      assert.equal(r.code, 2, `${argv.join(' ')}: exit ${r.code}, stdout ${r.stdout.slice(0, 80)}`);
      assert.doesNotMatch(r.stdout, /Usage:/);
      assert.match(r.stderr, /GH_USAGE/);
    }
    // The unambiguous spelling of such a value does what it says; a real --help still shows help.
    const revoked = await cli(['token', 'revoke', 'abcdefgh12345678', '--reason=--help'], { env, cwd: dir });
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /^revoked the token id given$/m);
    for (const argv of [['token', 'revoke', '--help'], ['token', 'revoke', 'x', '-h'], ['keys', 'shred', '--tenant', 't', '--help']]) {
      const help = await cli(argv, { env, cwd: dir });
      assert.equal(help.code, 0, argv.join(' '));
      assert.match(help.stdout, /Usage: gatehouse/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a reader that stops early (| head -1) ends the command quietly: exit 0, no EPIPE stack trace', async () => {
  const { spawn } = await import('node:child_process');
  const { BIN, ROOT } = await import('../helpers/process.js');
  // `redact` writes a line per input line: after the first chunk the reader is gone and every later write hits EPIPE.
  const child = spawn(process.execPath, [BIN, 'redact'], { cwd: ROOT, env: { PATH: process.env['PATH'] }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.once('data', () => child.stdout.destroy());
  const lines = Array.from({ length: 20_000 }, (_, i) => `line ${i} token=abc${i}`).join('\n');
  child.stdin.on('error', () => {});
  child.stdin.end(lines);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /EPIPE|Unhandled 'error'/);
});
