/**
 * A real gateway on a real PostgreSQL store (docs/store.md § PostgreSQL): what several gateway hosts sharing one
 * database rely on. A token minted by another process through its own pool and revoked with `gatehouse token revoke`
 * (another gateway host's CLI) is refused by this gateway within its poll; a lockout this gateway records reaches the
 * other process through the change feed; /readyz reads the store itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { openTokenService } from '../../src/authn/index.js';
import { readChanges } from '../../src/core/store.js';
import { openConfiguredStore } from '../../src/gateway/store.js';
import { cli } from '../helpers/cli.js';
import { startTestGateway } from '../helpers/gateway.js';
import { usePostgres } from '../helpers/postgres.js';
import { until } from '../helpers/until.js';

const server = usePostgres();

test('two processes on one PostgreSQL store: a revocation made by one is enforced by the gateway, its lockout read by the other', async (t) => {
  const schema = server().schemaName();
  const gw = await startTestGateway({
    routes: [],
    auth: { methods: ['token'], revocation_poll: '20ms' },
    limits: { lockout: { max_failures: 3, poll: '20ms' } },
    store: { kind: 'postgres', postgres: { url: server().url, password_file: server().passwordFile, schema } },
  });
  t.after(() => gw.stop());
  // Nothing of the state went to SQLite: the gateway runs on the database.
  assert.equal(gw.config.store.kind, 'postgres');
  assert.equal(existsSync(join(gw.stateDir, 'state.db')), false);

  // The other process: its own pool on the same schema, opened as `gatehouse token …` would open it.
  const other = openConfiguredStore(gw.config);
  t.after(() => other.close());
  const tokens = openTokenService(gw.config, { stateDir: gw.stateDir, store: other });
  const { token, claims } = await tokens.mint({ agent: 'ops', scopes: ['admin'], ttlMs: 3_600_000 });
  const call = async () => {
    const r = await request(`${gw.url}/_gatehouse/approvals`, { headers: { authorization: `Bearer ${token}` } });
    const body = await r.body.text();
    return { status: r.statusCode, code: r.statusCode === 200 ? undefined : (JSON.parse(body) as { error?: { code?: string } }).error?.code };
  };
  assert.deepEqual(await call(), { status: 200, code: undefined });
  assert.equal((await request(`${gw.url}/readyz`)).statusCode, 200);

  // Revoked elsewhere, by `gatehouse token revoke` run against the same database: the gateway learns it from the
  // store's change feed, within its poll.
  const cliConfig = join(gw.stateDir, 'cli.yaml');
  writeFileSync(cliConfig, `store:\n  kind: postgres\n  postgres:\n    url: ${server().url}\n    password_file: ${server().passwordFile}\n    schema: ${schema}\n`);
  const revoke = await cli(['token', 'revoke', claims.jti, '--reason', 'test', '--config', cliConfig], { env: { GATEHOUSE_HOME: gw.stateDir } });
  assert.equal(revoke.code, 0, revoke.stderr);
  assert.equal(revoke.stdout.trim(), `revoked ${claims.jti}`);
  // Within the revocation poll (20 ms here); the deadline only bounds a hang (timings belong in benchmarks).
  const seen = await until('the revoked token to be refused', async () => {
    const r = await call();
    return r.status !== 200 ? r : undefined;
  });
  // Clients see the generic refusal; the reason is for the audit trail.
  assert.deepEqual(seen, { status: 401, code: 'GH_TOKEN_INVALID' });
  // The refusal's record is written with group commit, after the response: wait for it rather than race it.
  const reasonsNow = () =>
    readFileSync(join(gw.stateDir, 'audit', 'audit.jsonl'), 'utf8').split('\n').filter(Boolean)
      .map((l) => (JSON.parse(l) as { metadata?: { auth_failure?: { code?: string } } }).metadata?.auth_failure?.code);
  await until(() => `an audit record with GH_TOKEN_REVOKED (reasons: ${reasonsNow().join(', ')})`, () => reasonsNow().includes('GH_TOKEN_REVOKED'));
  assert.ok((await other.list('authn.revoked')).some((e) => e.key === claims.jti));

  // The gateway's own write (a lockout after failed authentications) reaches the other process through the feed.
  const head = await other.headSeq('lockouts');
  const locked: string[] = [];
  await until(() => `a lockout in the other process's feed (seen: ${locked.join(', ')})`, async () => {
    await request(`${gw.url}/_gatehouse/approvals`, { headers: { authorization: 'Bearer not-a-token' } }).then((r) => r.body.dump());
    await readChanges<{ kind: string }>(other, 'lockouts', head, (c) => {
      if (c.value !== undefined && !locked.includes(c.key)) locked.push(c.key);
    });
    return locked.length > 0;
  });
  assert.deepEqual(locked, ['ip:127.0.0.1']);

  // /readyz reads the store's own tables: a store dropped underneath makes the gateway not ready.
  await server().sql(`DROP SCHEMA "${schema}" CASCADE`);
  const ready = await request(`${gw.url}/readyz`);
  assert.equal(ready.statusCode, 503, await ready.body.text());
});
