/**
 * `gatehouse user add|passwd|rm` each read, change and write back the whole users file. Read before the password
 * prompt (which may wait minutes at a terminal) and written back after it, a `passwd` undid whatever another
 * `gatehouse user` run changed in between — the removal of a compromised account among them, both runs exiting 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.js';
import { until } from '../helpers/until.js';

function user(home: string, argv: string[], stdin: PassThrough): Promise<{ code: number; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let err = '';
  stdout.resume();
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  return runCli(['user', ...argv], { stdin, stdout, stderr, env: { GATEHOUSE_HOME: home, USER: 'tester' }, cwd: home }).then((code) => ({ code, err }));
}

const ended = (text = ''): PassThrough => {
  const s = new PassThrough();
  s.end(text);
  return s;
};

const names = (home: string): string[] =>
  (JSON.parse(readFileSync(join(home, 'users.json'), 'utf8')) as { users: { name: string }[] }).users.map((u) => u.name).sort();

test('a user removed while another run waits for a password stays removed (no lost update of the users file)', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'gh-users-race-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  for (const name of ['alice', 'mallory']) {
    const r = await user(home, ['add', name, '--scopes', 'readonly'], ended('correct horse battery\n'));
    assert.equal(r.code, 0, r.err);
  }
  // Operator A changes alice's password and sits at the prompt ...
  const password = new PassThrough();
  const passwd = user(home, ['passwd', 'alice'], password);
  await until('passwd to wait for the password', () => password.listenerCount('data') > 0);
  // ... while operator B removes mallory, whose password leaked.
  const rm = await user(home, ['rm', 'mallory'], ended());
  assert.equal(rm.code, 0, rm.err);
  assert.deepEqual(names(home), ['alice']);
  password.end('a brand new password\n');
  const r = await passwd;
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(names(home), ['alice'], 'the removed user came back');
});

test('two runs adding the same user at once leave one entry, and the second fails', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'gh-users-race-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const first = new PassThrough();
  const second = new PassThrough();
  const a = user(home, ['add', 'bob', '--scopes', 'readonly'], first);
  const b = user(home, ['add', 'bob', '--scopes', 'admin'], second);
  await until('both runs to wait for a password', () => first.listenerCount('data') > 0 && second.listenerCount('data') > 0);
  first.end('first long password\n');
  assert.equal((await a).code, 0);
  second.end('second long password\n');
  const r = await b;
  assert.equal(r.code, 2, 'a duplicate add must fail');
  assert.match(r.err, /exists/);
  // A duplicate name makes the whole file invalid (fail closed): every basic-auth user would be locked out.
  assert.deepEqual(names(home), ['bob']);
});

test('a lock file left behind by a crashed run does not block user changes for ever', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'gh-users-race-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const lock = join(home, 'users.json.lock');
  writeFileSync(lock, '');
  const old = new Date(Date.now() - 120_000);
  utimesSync(lock, old, old);
  const r = await user(home, ['add', 'carol', '--scopes', 'readonly'], ended('correct horse battery\n'));
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(names(home), ['carol']);
  assert.equal(existsSync(lock), false);
});
