/**
 * The doctor on a PostgreSQL store: store.postgres (TLS off a remote host is a production refusal, credentials, pool
 * size), its TLS block judged with the other outbound clients' (tls.outbound_clients), its password file's mode
 * (files.secret_permissions) and its password_env (config.env_vars). Never the password itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { check, checkOf, config, doctor, fileWriter, tempDir } from './helpers.js';

const store = (postgres: Record<string, unknown>) => ({ store: { kind: 'postgres', postgres } });
const REMOTE = 'postgres://gatehouse@db.internal:5432/gh';
const LOCAL = 'postgres://gatehouse@127.0.0.1:5432/gh';

test('store.postgres is skipped for the other kinds', async () => {
  assert.equal((await checkOf('store.postgres', {})).status, 'skip');
  assert.equal((await checkOf('store.postgres', { store: { kind: 'memory' } })).status, 'skip');
});

test('a remote database without TLS fails in production (the refusal, by its path) and warns in development', async () => {
  const raw = store({ url: REMOTE, password_env: 'PGPASS' });
  const prod = await checkOf('store.postgres', raw);
  assert.equal(prod.status, 'fail');
  assert.match(prod.detail, /^store\.postgres\.url names db\.internal, not loopback, and store\.postgres\.tls\.enabled is false/);
  assert.equal((await checkOf('store.postgres', raw, { profile: 'development' })).status, 'warn');
  const tls = await checkOf('store.postgres', store({ url: REMOTE, password_env: 'PGPASS', tls: { enabled: true } }));
  assert.equal(tls.status, 'pass', tls.detail);
  assert.match(tls.detail, /on db\.internal \(another host\), over TLS verified against the system roots, password from \$PGPASS/);
  assert.match(tls.detail, /pg_dump/);
});

test('loopback over TCP without any credential warns (the server must trust the host); with one it passes', async () => {
  const none = await checkOf('store.postgres', store({ url: LOCAL }));
  assert.equal(none.status, 'warn');
  assert.match(none.detail, /no password_file, password_env or tls\.cert_file/);
  const dir = tempDir();
  try {
    const pass = fileWriter(dir.path)('pg.pass', 'correct-horse-battery-staple');
    const ok = await checkOf('store.postgres', store({ url: LOCAL, password_file: pass }));
    assert.equal(ok.status, 'pass', ok.detail);
    assert.match(ok.detail, /schema gatehouse in database gh on loopback, without TLS, password from password_file, 10 connections per process/);
    // A Unix socket: peer authentication is the usual thing there.
    assert.equal((await checkOf('store.postgres', store({ url: 'postgres://gatehouse@%2Fvar%2Frun%2Fpostgresql/gh' }))).status, 'pass');
  } finally {
    dir.remove();
  }
});

test('pool_size × workers past PostgreSQL\'s default max_connections warns', async () => {
  const c = await checkOf('store.postgres', { ...store({ url: LOCAL, password_env: 'PGPASS', pool_size: 30 }), server: { workers: 4 } });
  assert.equal(c.status, 'warn');
  assert.match(c.detail, /store\.postgres\.pool_size 30 × 4 workers = 120 connections/);
});

test('the store\'s TLS block is judged with the outbound clients: insecure_skip_verify fails there, by its path', async () => {
  const report = await doctor(config(store({ url: REMOTE, password_env: 'PGPASS', tls: { enabled: true, insecure_skip_verify: true } })));
  const outbound = check(report, 'tls.outbound_clients');
  assert.equal(outbound.status, 'fail');
  assert.match(outbound.detail, /store\.postgres\.tls\.insecure_skip_verify is true/);
  const own = check(report, 'store.postgres');
  assert.doesNotMatch(own.detail, /insecure_skip_verify is true/);
  assert.match(own.detail, /certificate not verified/);
});

test('password_file readable by others fails files.secret_permissions; an unset password_env warns in config.env_vars; the password never shows', async () => {
  const dir = tempDir();
  try {
    const secret = 'correct-horse-battery-staple-7';
    const pass = fileWriter(dir.path)('pg.pass', secret);
    chmodSync(pass, 0o644);
    const files = await checkOf('files.secret_permissions', store({ url: LOCAL, password_file: pass }));
    assert.equal(files.status, 'fail');
    assert.match(files.detail, /store\.postgres\.password_file is readable by others/);
    const env = await checkOf('config.env_vars', store({ url: LOCAL, password_env: 'GH_PG_PASSWORD' }), { env: {} });
    assert.equal(env.status, 'warn');
    assert.match(env.detail, /store\.postgres\.password_env names GH_PG_PASSWORD, which is not set/);
    const report = await doctor(config(store({ url: LOCAL, password_env: 'GH_PG_PASSWORD' })), { env: { GH_PG_PASSWORD: secret } });
    assert.ok(!JSON.stringify(report).includes(secret));
  } finally {
    dir.remove();
  }
});
