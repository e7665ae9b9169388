/**
 * store.kind: postgres (docs/store.md § PostgreSQL): the store.postgres block, its refusals at load (a password in the
 * URL, query parameters, a missing URL, a SQLite path beside it, a schema name that is not a plain identifier), the
 * production refusal of a remote database without TLS, and `config check`, which never shows the password.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parsePostgresUrl, type GatehouseConfig } from '../../src/config/index.js';
import { productionRefusals } from '../../src/gateway/production.js';
import { openStore } from '../../src/store/index.js';
import { cli } from '../helpers/cli.js';
import { configRefusal, TEST_ENV } from './helpers.js';

const PASSWORD = 'Tr0ub4dor-and-3-horses';
const pgStore = (postgres: string, extra = '') => `store:\n  kind: postgres\n${extra}  postgres:\n${postgres.replace(/^/gm, '    ')}\n`;
const problems = async (text: string): Promise<string> => (await configRefusal(text)).problems.join('\n');

/** `gatehouse config check --config FILE` on `text`, in a temporary directory. */
async function configCheck(text: string, env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-pgcfg-'));
  try {
    writeFileSync(join(dir, 'gatehouse.yaml'), text);
    return await cli(['config', 'check', '--config', join(dir, 'gatehouse.yaml')], { env: { ...TEST_ENV, ...env } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('store.postgres at load', () => {
  test('a URL with the defaults: pool of 10, schema gatehouse, 5s timeouts, TLS off, no SQLite path', async () => {
    const cfg = await loadConfig({ text: pgStore('url: postgres://gatehouse@db.internal:6432/gh'), env: TEST_ENV });
    assert.equal(cfg.store.kind, 'postgres');
    assert.equal(cfg.store.path, undefined);
    assert.deepEqual(cfg.store.postgres, {
      url: 'postgres://gatehouse@db.internal:6432/gh',
      pool_size: 10,
      schema: 'gatehouse',
      connect_timeout: 5000,
      statement_timeout: 5000,
      tls: { enabled: false, min_version: 'tls12', insecure_skip_verify: false },
    });
  });

  test('a password in the URL is refused, and the message does not repeat it (nor the URL)', async () => {
    for (const url of [`postgres://gatehouse:${PASSWORD}@db.internal/gh`, `postgresql://gatehouse:${PASSWORD}/x@db.internal/gh`, 'postgres://gatehouse:@db.internal/gh']) {
      const e = await configRefusal(pgStore(`url: "${url}"`));
      const text = e.problems.join('\n') + e.message;
      assert.match(text, /store\.postgres\.url: the URL holds a password/);
      assert.ok(!text.includes(PASSWORD), 'the password was echoed');
      assert.ok(!text.includes('db.internal'), 'the URL was echoed');
    }
  });

  test('query parameters are refused: sslmode and the like would override store.postgres.tls', async () => {
    assert.match(await problems(pgStore('url: postgres://gatehouse@db.internal/gh?sslmode=disable')), /store\.postgres\.url: query parameters are not read/);
  });

  test('kind postgres needs store.postgres.url; store.path beside it, or store.postgres with another kind, is refused', async () => {
    assert.match(await problems('store:\n  kind: postgres\n'), /store\.postgres\.url: required with store\.kind postgres/);
    assert.match(await problems(pgStore('url: postgres://u@localhost/gh', '  path: /var/lib/gatehouse/state.db\n')), /store\.path: names the SQLite file/);
    assert.match(await problems('store:\n  postgres:\n    url: postgres://u@localhost/gh\n'), /store\.postgres: is read only with store\.kind: postgres \(store\.kind is sqlite\)/);
    assert.match(await problems(pgStore('url: postgres://u@localhost')), /store\.postgres\.url: .*name the database/);
    assert.match(await problems(pgStore('url: mysql://u@localhost/gh')), /store\.postgres\.url: expected postgres:\/\//);
  });

  test('the schema is a plain lower-case identifier, never SQL, never pg_*', async () => {
    for (const schema of ['"x\\"; DROP SCHEMA public; --"', 'Gatehouse', '1st', 'pg_catalog', 'a'.repeat(64), 'gh-state']) {
      assert.match(await problems(pgStore(`url: postgres://u@localhost/gh\nschema: ${schema}`)), /store\.postgres\.schema: /, schema);
    }
    const cfg = await loadConfig({ text: pgStore('url: postgres://u@localhost/gh\nschema: gh_state_2'), env: TEST_ENV });
    assert.equal(cfg.store.postgres?.schema, 'gh_state_2');
  });

  test('one password source; an inline password key is unknown, its value never shown', async () => {
    assert.match(await problems(pgStore('url: postgres://u@localhost/gh\npassword_env: PGPASS\npassword_file: /etc/passwd')), /store\.postgres\.password_env: set password_file or password_env, not both/);
    const inline = await problems(pgStore(`url: postgres://u@localhost/gh\npassword: ${PASSWORD}`));
    assert.match(inline, /store\.postgres\.password: unknown key/);
    assert.ok(!inline.includes(PASSWORD));
    const missing = await configRefusal(pgStore('url: postgres://u@localhost/gh\npassword_file: /nonexistent/pg.pass'));
    assert.equal(missing.code, 'GH_CONFIG_FILE_UNREADABLE');
    assert.match(missing.problems.join('\n'), /store\.postgres\.password_file: file does not exist/);
  });

  test('TLS settings without tls.enabled are refused: a CA on a plain connection would protect nothing', async () => {
    const text = await problems(pgStore('url: postgres://u@db.internal/gh\ntls:\n  server_name: db.internal\n  insecure_skip_verify: true'));
    assert.match(text, /store\.postgres\.tls\.server_name: is set but store\.postgres\.tls\.enabled is false/);
    assert.match(text, /store\.postgres\.tls\.insecure_skip_verify: is set but store\.postgres\.tls\.enabled is false/);
  });

  test('a store whose TLS is enabled never opens without TLS options (openStore refuses instead of connecting in clear)', async () => {
    const cfg = await loadConfig({ text: pgStore('url: postgres://u@db.internal/gh\ntls:\n  enabled: true'), env: TEST_ENV });
    assert.throws(() => openStore({ kind: 'postgres', ...(cfg.store.postgres ? { postgres: cfg.store.postgres } : {}) }), /store\.postgres\.tls\.enabled is true/);
  });
});

describe('store.postgres in production', () => {
  const load = (text: string): Promise<GatehouseConfig> => loadConfig({ text, env: { ...TEST_ENV, GATEHOUSE_ENV: 'production' }, skipProfileCheck: true });
  const storeRefusals = async (text: string): Promise<string[]> => productionRefusals(await load(text)).filter((p) => p.startsWith('store.'));

  test('another host without TLS is refused, named by its path; loopback and a Unix socket are not', async () => {
    assert.deepEqual(await storeRefusals(pgStore('url: postgres://gatehouse@db.internal:5432/gh')), [
      'store.postgres.url names db.internal, not loopback, and store.postgres.tls.enabled is false: the store\'s password and state would cross the network in clear',
    ]);
    assert.deepEqual(await storeRefusals(pgStore('url: postgres://gatehouse@10.0.0.7/gh')), [
      'store.postgres.url names 10.0.0.7, not loopback, and store.postgres.tls.enabled is false: the store\'s password and state would cross the network in clear',
    ]);
    for (const url of ['postgres://gatehouse@127.0.0.1:5432/gh', 'postgres://gatehouse@localhost/gh', 'postgres://gatehouse@[::1]:5432/gh', 'postgres://gatehouse@%2Fvar%2Frun%2Fpostgresql/gh']) {
      assert.deepEqual(await storeRefusals(pgStore(`url: "${url}"`)), [], url);
    }
    assert.deepEqual(await storeRefusals(pgStore('url: postgres://gatehouse@db.internal/gh\ntls:\n  enabled: true')), []);
  });

  test('insecure_skip_verify and legacy TLS on the store are refused, as on every outbound client', async () => {
    assert.deepEqual(await storeRefusals(pgStore('url: postgres://gatehouse@db.internal/gh\ntls:\n  enabled: true\n  insecure_skip_verify: true\n  min_version: tls11')), [
      'store.postgres.tls.insecure_skip_verify is true: upstream certificates must be verified',
      'store.postgres.tls.min_version is tls11: production needs tls12 or tls13',
    ]);
  });

  test('gatehouse config check refuses it with GH_CONFIG_PRODUCTION_REFUSED', async () => {
    const r = await configCheck(pgStore('url: postgres://gatehouse@db.internal/gh'), { GATEHOUSE_ENV: 'production' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /GH_CONFIG_PRODUCTION_REFUSED: production: store\.postgres\.url names db\.internal, not loopback/);
  });
});

test('config check shows the password source, never the password (file or environment)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-pgcfg-'));
  try {
    const file = join(dir, 'pg.pass');
    writeFileSync(file, `${PASSWORD}\n`, { mode: 0o600 });
    for (const source of [`password_file: ${file}`, 'password_env: GH_TEST_PG_PASSWORD']) {
      const r = await configCheck(pgStore(`url: postgres://gatehouse@127.0.0.1:5432/gh\n${source}`), { GH_TEST_PG_PASSWORD: PASSWORD });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!(r.stdout + r.stderr).includes(PASSWORD), `the password was printed (${source})`);
      assert.match(r.stdout, /kind: postgres/);
      // The role name stays readable: in a postgres URL the bare userinfo is a user, not a token.
      assert.match(r.stdout, /url: postgres:\/\/gatehouse@127\.0\.0\.1:5432\/gh/);
      assert.match(r.stdout, source.startsWith('password_file') ? /password_file: .*pg\.pass/ : /password_env: GH_TEST_PG_PASSWORD/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parsePostgresUrl: host, port (default 5432), user and database, percent-decoded; IPv6; a Unix socket directory', () => {
  assert.deepEqual(parsePostgresUrl('postgres://gate%40house@db.internal/gh%2Dstate'), { host: 'db.internal', port: 5432, user: 'gate@house', database: 'gh-state', socket: false });
  assert.deepEqual(parsePostgresUrl('POSTGRESQL://u@[2001:db8::1]:6543/gh'), { host: '2001:db8::1', port: 6543, user: 'u', database: 'gh', socket: false });
  assert.deepEqual(parsePostgresUrl('postgres://u@%2Fvar%2Frun%2Fpostgresql/gh'), { host: '/var/run/postgresql', port: 5432, user: 'u', database: 'gh', socket: true });
  for (const bad of ['postgres://db.internal/gh', 'postgres://u@/gh', 'postgres://u@db.internal:0/gh', 'postgres://u@db.internal:70000/gh', 'postgres://u@::1/gh', 'postgres://u@db.internal/gh#x', 'postgres://u@db.internal/a/b']) {
    assert.equal(typeof parsePostgresUrl(bad), 'string', bad);
  }
});
