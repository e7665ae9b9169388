/**
 * auth.bcrypt_hashes: Basic users and API keys on imported bcrypt hashes warn (each verification costs a bcrypt
 * worker thread, and they answer 429 under load), never fail; the store is read without writing a byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createApiKey, importApiKey, revokeApiKey, writeUsersFile } from '../../src/authn/index.js';
import { openStore } from '../../src/store/index.js';
import { checkOf, tempDir } from './helpers.js';

const ID = 'auth.bcrypt_hashes';
// Shaped as bcrypt hashes (never verified here).
const BCRYPT_A = `$2a$12$${'A'.repeat(53)}`;
const BCRYPT_B = `$2b$12$${'b'.repeat(53)}`;
const BCRYPT_Y = `$2y$10$${'c'.repeat(53)}`;
const ARGON2 = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';

test('Basic users in the configuration with bcrypt hashes ($2a$, $2b$, $2y$) warn, naming them; argon2id users pass', async () => {
  const users = [
    { name: 'alice', password_hash: BCRYPT_A, scopes: ['readonly'] },
    { name: 'bob', password_hash: BCRYPT_Y, scopes: ['readonly'] },
    { name: 'carol', password_hash: ARGON2, scopes: ['readonly'] },
  ];
  const c = await checkOf(ID, { auth: { methods: ['basic'], basic: { users } } });
  assert.equal(c.status, 'warn', 'a warning, not a failure, even evaluated as production');
  assert.match(c.detail, /auth\.basic\.users holds 2 users with a bcrypt hash \(alice, bob\)/);
  assert.match(c.detail, /429/);
  assert.ok(!c.detail.includes('carol'));
  assert.ok(!c.detail.includes(BCRYPT_A) && !c.detail.includes('AAAA'), 'no hash in the report');
  assert.match(c.fix, /argon2id/);
  const ok = await checkOf(ID, { auth: { methods: ['basic'], basic: { users: [users[2]] } } });
  assert.equal(ok.status, 'pass', ok.detail);
});

test('the users file: bcrypt entries warn, naming the file and the users (the default file in the state directory)', async () => {
  const dir = tempDir();
  try {
    writeUsersFile(join(dir.path, 'users.json'), [
      { name: 'felix', password_hash: BCRYPT_B, scopes: [] },
      { name: 'dora', password_hash: ARGON2, scopes: [] },
    ]);
    const c = await checkOf(ID, { auth: { methods: ['basic'] } }, { stateDir: dir.path });
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /the users file .*users\.json holds 1 user with a bcrypt hash \(felix\)/);
    assert.ok(!c.detail.includes('dora'));
  } finally {
    dir.remove();
  }
});

test('API keys imported with bcrypt hashes warn (live ones named); revoked ones are only mentioned; the store is read without writing', async () => {
  const dir = tempDir();
  try {
    const path = join(dir.path, 'state.db');
    const store = openStore({ kind: 'sqlite', path });
    await importApiKey(store, { name: 'felix-legacy', scopes: ['stream:read'], hash: BCRYPT_B, now: 1 });
    const revoked = await importApiKey(store, { name: 'old-import', scopes: [], hash: BCRYPT_A, now: 1 });
    await revokeApiKey(store, revoked.id, 2);
    await createApiKey(store, { name: 'modern', scopes: [], now: 1 });
    await store.close();
    const before = readdirSync(dir.path).map((f) => [f, statSync(join(dir.path, f)).mtimeMs, readFileSync(join(dir.path, f)).length]);

    const c = await checkOf(ID, { auth: { methods: ['api_key'] } }, { stateDir: dir.path });
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /the API key store holds 1 live key with a bcrypt hash \(felix-legacy\) \(and 1 revoked or expired one\)/);
    assert.ok(!c.detail.includes('modern'));
    assert.ok(!c.detail.includes(BCRYPT_B));
    const after = readdirSync(dir.path).map((f) => [f, statSync(join(dir.path, f)).mtimeMs, readFileSync(join(dir.path, f)).length]);
    assert.deepEqual(after, before, 'no -wal or -shm created, the file untouched');

    // The same store open in a gateway (WAL files present): read through a read-only connection, recent writes included.
    const live = openStore({ kind: 'sqlite', path });
    try {
      await importApiKey(live, { name: 'second-legacy', scopes: [], hash: BCRYPT_Y, now: 3 });
      const open = await checkOf(ID, { auth: { methods: ['api_key'] } }, { stateDir: dir.path });
      assert.match(open.detail, /2 live keys with a bcrypt hash \(felix-legacy, second-legacy\)/);
    } finally {
      await live.close();
    }
  } finally {
    dir.remove();
  }
});

test('no bcrypt key left but revoked ones: a pass that says so; no store yet: a pass', async () => {
  const dir = tempDir();
  try {
    const c0 = await checkOf(ID, { auth: { methods: ['api_key', 'basic'] } }, { stateDir: dir.path });
    assert.equal(c0.status, 'pass', c0.detail);
    assert.equal(readdirSync(dir.path).length, 0, 'no store file created');
    const store = openStore({ kind: 'sqlite', path: join(dir.path, 'state.db') });
    const k = await importApiKey(store, { name: 'retired', scopes: [], hash: BCRYPT_B, now: 1 });
    await revokeApiKey(store, k.id, 2);
    await store.close();
    const c = await checkOf(ID, { auth: { methods: ['api_key'] } }, { stateDir: dir.path });
    assert.equal(c.status, 'pass', c.detail);
    assert.match(c.detail, /no live API key has a bcrypt hash \(and 1 revoked or expired one\)/);
  } finally {
    dir.remove();
  }
});

test('skipped without basic or api_key; a PostgreSQL store is not contacted', async () => {
  assert.equal((await checkOf(ID, { auth: { methods: ['token'] } })).status, 'skip');
  const c = await checkOf(ID, { auth: { methods: ['api_key'] }, store: { kind: 'postgres', postgres: { url: 'postgres://gh@127.0.0.1:1/gh' } } }, { profile: 'development' });
  assert.equal(c.status, 'pass');
  assert.match(c.detail, /not read/);
});
