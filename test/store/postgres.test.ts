/**
 * The PostgreSQL store against a real server (test/helpers/postgres.ts): what the contract suite cannot show with one
 * store — several processes' pools writing at once, commit order equal to sequence order, the change feed read while
 * others write — and failing closed: a wrong password, a stopped or silent server, tables dropped underneath.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { inspect } from 'node:util';
import pg from 'pg';
import { GatehouseError } from '../../src/core/errors.js';
import { PostgresStore, type PostgresStoreOptions } from '../../src/store/index.js';
import { startPostgres, usePostgres } from '../helpers/postgres.js';

const server = usePostgres();

const unavailable = (e: unknown): boolean => e instanceof GatehouseError && e.code === 'GH_STORE_UNAVAILABLE' && e.status === 503;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Two or more stores on one schema: separate pools, as separate gateway processes would have. */
function stores(t: { after(fn: () => unknown): void }, n: number, extra: Partial<PostgresStoreOptions> = {}): PostgresStore[] {
  const opts = server().storeOptions({ poolSize: 5, ...extra });
  const out = Array.from({ length: n }, () => new PostgresStore(opts));
  t.after(() => Promise.all(out.map((s) => s.close())));
  return out;
}

describe('several processes on one PostgreSQL store', () => {
  test('2×50 concurrent update() increments through two pools end at exactly 100 (an atomic read-modify-write)', async (t) => {
    const [a, b] = stores(t, 2) as [PostgresStore, PostgresStore];
    const inc = (s: PostgresStore) => s.update<number>('counters', 'hits', (n) => (n ?? 0) + 1);
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => inc(i % 2 === 0 ? a : b)));
    assert.equal(await a.get('counters', 'hits'), 100);
    // Each increment saw a distinct value: none read a value another had already replaced.
    assert.deepEqual([...results].sort((x, y) => (x ?? 0) - (y ?? 0)), Array.from({ length: 100 }, (_, i) => i + 1));
  });

  test('writers in two pools and a reader of the change feed: every change seen exactly once, in sequence order', async (t) => {
    const [a, b, reader] = stores(t, 3) as [PostgresStore, PostgresStore, PostgresStore];
    const expected = new Set<string>();
    const writes: Promise<unknown>[] = [];
    for (const [name, s] of [['a', a], ['b', b]] as const) {
      for (let i = 0; i < 40; i++) {
        const key = `${name}-${i}`;
        expected.add(key);
        const kind = i % 4;
        writes.push(
          kind === 0 ? s.put('feed', key, i)
            : kind === 1 ? s.putIfAbsent('feed', key, i)
              : kind === 2 ? s.update('feed', key, () => i)
                : s.putMany('feed', [{ key, value: i }, { key: `${key}-m`, value: i }]),
        );
        if (kind === 3) expected.add(`${key}-m`);
      }
    }
    const seen = new Map<string, number>();
    const seqs: number[] = [];
    let since = 0;
    const deadline = Date.now() + 10_000;
    const all = Promise.all(writes);
    let done = false;
    void all.then(() => (done = true));
    // Polls while the writes are in flight, then once more after the last has committed.
    for (let last = false; ; ) {
      for (const c of await reader.changes('feed', since, 7)) {
        seqs.push(c.seq);
        seen.set(c.key, (seen.get(c.key) ?? 0) + 1);
        since = c.seq;
      }
      if (last || Date.now() > deadline) break;
      if (done && seen.size >= expected.size) last = true;
    }
    await all;
    assert.deepEqual([...seen.entries()].filter(([, n]) => n !== 1), [], 'a change was read twice');
    assert.deepEqual([...expected].filter((k) => !seen.has(k)), [], 'a change was missed');
    assert.ok(seqs.every((s, i) => i === 0 || s > (seqs[i - 1] as number)), 'the feed went back in sequence');
  });

  test('a write waits for a write transaction open elsewhere and commits after it, with the next number; update() reads its result', async (t) => {
    const [store, reader] = stores(t, 2) as [PostgresStore, PostgresStore];
    await store.ping();
    const schema = `"${store.schema}"`;
    const other = new pg.Client({ host: '127.0.0.1', port: server().port, user: server().user, password: server().password, database: server().database });
    await other.connect();
    t.after(() => other.end());
    // Another process's write, under way: it holds the counter, and its row is not committed yet.
    await other.query('BEGIN');
    const seq = Number((await other.query<{ value: string }>(`UPDATE ${schema}.meta SET value = value + 1 WHERE name = 'seq' RETURNING value`)).rows[0]?.value);
    await other.query(`INSERT INTO ${schema}.kv (ns, key, value, updated_at, expires_at, seq) VALUES ('ns', 'first', '1', 0, NULL, $1)`, [seq]);
    let settled = 0;
    const put = store.put('ns', 'second', 2).then(() => settled++);
    const update = store.update<number>('ns', 'first', (n) => (n ?? 0) + 10).then((v) => (settled++, v));
    await sleep(200);
    assert.equal(settled, 0, 'a write committed while another write transaction held the counter');
    assert.deepEqual(await reader.changes('ns', 0), [], 'reads do not wait, and see nothing uncommitted');
    await other.query('COMMIT');
    await put;
    assert.equal(await update, 11, 'update() ran on a value read before the other commit');
    // Both waited for the counter, so both numbered after the other process's write, in the order they committed.
    const feed = await reader.changes('ns', 0);
    assert.deepEqual(feed.map((c) => c.seq), [seq + 1, seq + 2]);
    assert.deepEqual(feed.map((c) => c.key).sort(), ['first', 'second']);
  });

  test('tables created beforehand by a DBA need no CREATE privilege: a role with only read/write rights on them works', async (t) => {
    const srv = server();
    const schema = srv.schemaName();
    const admin = new PostgresStore(srv.storeOptions({ schema }));
    await admin.ping();
    await admin.close();
    await srv.sql("CREATE ROLE gh_app LOGIN PASSWORD 'gh-app-pw'");
    await srv.sql(`GRANT USAGE ON SCHEMA "${schema}" TO gh_app`);
    await srv.sql(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "${schema}" TO gh_app`);
    const app = new PostgresStore({ ...srv.storeOptions({ schema }), user: 'gh_app', password: 'gh-app-pw' });
    t.after(() => app.close());
    await app.put('ns', 'k', { ok: true });
    assert.deepEqual(await app.get('ns', 'k'), { ok: true });
    // …and without the tables, the same role cannot create them: unavailable, not a crash.
    const fresh = new PostgresStore({ ...srv.storeOptions(), user: 'gh_app', password: 'gh-app-pw' });
    t.after(() => fresh.close());
    await assert.rejects(fresh.ping(), unavailable);
  });
});

describe('the PostgreSQL store fails closed', () => {
  test('no password configured: PGPASSWORD and ~/.pgpass are not used, the login fails closed', async (t) => {
    const saved = process.env['PGPASSWORD'];
    process.env['PGPASSWORD'] = server().password;
    t.after(() => {
      if (saved === undefined) delete process.env['PGPASSWORD'];
      else process.env['PGPASSWORD'] = saved;
    });
    const { password: _omitted, ...opts } = server().storeOptions();
    const store = new PostgresStore(opts);
    t.after(() => store.close());
    const e = await store.put('ns', 'k', 1).then(() => undefined, (err: unknown) => err);
    assert.ok(unavailable(e), String(e));
    assert.match(inspect(e, { depth: 8 }), /names none \(password_file or password_env\)/);
  });

  test('a wrong password: GH_STORE_UNAVAILABLE, and neither the message, the detail nor the logged cause chain holds a password', async (t) => {
    const wrong = 'not-the-password-Zx81';
    const store = new PostgresStore(server().storeOptions({ password: wrong }));
    t.after(() => store.close());
    const e = await store.put('ns', 'k', 1).then(() => undefined, (err: unknown) => err);
    assert.ok(unavailable(e), String(e));
    const logged = `${inspect(e, { depth: 8 })} ${JSON.stringify(e)} ${(e as GatehouseError).detail ?? ''}`;
    assert.match(logged, /28P01|password authentication failed/);
    for (const secret of [wrong, server().password]) assert.ok(!logged.includes(secret), 'a password reached the error');
    await assert.rejects(store.ping(), unavailable);
  });

  test('a server that accepts TCP and never answers: GH_STORE_UNAVAILABLE within the connect timeout, not a hang', async (t) => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    t.after(() => {
      for (const s of sockets) s.destroy();
      silent.close();
    });
    const store = new PostgresStore({ ...server().storeOptions(), port: (silent.address() as { port: number }).port, connectTimeoutMs: 300 });
    t.after(() => store.close());
    const started = Date.now();
    await assert.rejects(store.get('ns', 'k'), unavailable);
    const took = Date.now() - started;
    // The connect timeout (300 ms) ended it, not the query timeout (6 s); the upper bound is loose for a loaded machine.
    assert.ok(took >= 250 && took < 4000, `took ${took} ms`);
  });

  test('tables dropped underneath: ping (what /readyz calls) and writes are unavailable', async (t) => {
    const [store] = stores(t, 1) as [PostgresStore];
    await store.put('ns', 'k', 1);
    await store.ping();
    await server().sql(`DROP SCHEMA "${store.schema}" CASCADE`);
    await assert.rejects(store.ping(), unavailable);
    await assert.rejects(store.put('ns', 'k', 2), unavailable);
    await assert.rejects(store.get('ns', 'k'), unavailable);
  });

  test('a NUL in a key is refused as a TypeError before any I/O; a hostile schema name at construction', async (t) => {
    const [store] = stores(t, 1) as [PostgresStore];
    await assert.rejects(store.put('ns', 'a\0b', 1), TypeError);
    assert.throws(() => new PostgresStore({ ...server().storeOptions(), schema: 'x"; DROP SCHEMA public; --' }), TypeError);
    assert.throws(() => new PostgresStore({ ...server().storeOptions(), schema: 'pg_catalog' }), TypeError);
  });

  test('a server that stops: every call GH_STORE_UNAVAILABLE at once, none hangs, no password in the error', async () => {
    const own = await startPostgres();
    const store = new PostgresStore(own.storeOptions({ connectTimeoutMs: 1000 }));
    try {
      await store.put('ns', 'k', 1);
      await own.stop();
      const started = Date.now();
      for (const call of [() => store.get('ns', 'k'), () => store.put('ns', 'k', 2), () => store.update('ns', 'k', () => 3), () => store.changes('ns', 0), () => store.ping()]) {
        const e = await call().then(() => undefined, (err: unknown) => err);
        assert.ok(unavailable(e), String(e));
        assert.ok(!inspect(e, { depth: 8 }).includes(own.password));
      }
      // A generous bound on a hang (refused connections fail at once; the timeouts are 1 s and 5 s), not a speed test.
      assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
    } finally {
      await store.close();
      await own.stop();
    }
  });
});
