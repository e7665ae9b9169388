/** secrets.kms_master_key: the encryption master key kept apart from the state directory (docs/doctor.md). */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { writeKeyFile } from '../../src/crypto/keyfile.js';
import { check, config, doctor, tempDir } from './helpers.js';

let dir: { path: string; remove(): void };
let state: string;
let master: string;
before(() => {
  dir = tempDir('gh-doctor-kms-');
  state = join(dir.path, 'state');
  master = join(dir.path, 'master.key');
  writeKeyFile(master, randomBytes(32));
});
after(() => dir.remove());

const kmsCheck = async (kms: Record<string, unknown>, profile: 'production' | 'development' = 'production', enabled = true) =>
  check(await doctor(config({ encryption: { enabled, kms } }, profile, state)), 'secrets.kms_master_key');

test('skipped with encryption off', async () => {
  assert.equal((await kmsCheck({}, 'production', false)).status, 'skip');
});

test('a master key generated beside the state fails in production and warns in development', async () => {
  const prod = await kmsCheck({});
  assert.equal(prod.status, 'fail');
  assert.match(prod.detail, /generated into .*keys\/kms/);
  const dev = await kmsCheck({}, 'development');
  assert.equal(dev.status, 'warn');
  assert.match(dev.detail, /refused in production/);
});

test('a key_dir or key_file inside state_dir fails in production', async () => {
  assert.equal((await kmsCheck({ key_file: master, key_dir: join(state, 'kms') })).status, 'fail');
  mkdirSync(state, { recursive: true, mode: 0o700 });
  const inside = join(state, 'master.key');
  writeKeyFile(inside, randomBytes(32));
  assert.match((await kmsCheck({ key_file: inside })).detail, /encryption\.kms\.key_file .* is inside state_dir/);
});

test('an external key passes, saying whether master rotation has somewhere outside the state to write', async () => {
  const noDir = await kmsCheck({ key_file: master });
  assert.equal(noDir.status, 'pass');
  assert.match(noDir.detail, /rotate --master` is refused until encryption\.kms\.key_dir/);
  const withDir = await kmsCheck({ key_file: master, key_dir: join(dir.path, 'kms') });
  assert.equal(withDir.status, 'pass');
  assert.match(withDir.detail, /writes to .*kms/);
});

test('master keys an earlier rotation left in <state_dir>/keys/kms fail in production', async () => {
  mkdirSync(join(state, 'keys', 'kms'), { recursive: true, mode: 0o700 });
  writeKeyFile(join(state, 'keys', 'kms', 'master-1.key'), randomBytes(32));
  const r = await kmsCheck({ key_file: master });
  assert.equal(r.status, 'fail');
  assert.match(r.detail, /holds master keys from an earlier rotation/);
});
