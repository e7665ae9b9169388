import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import type { StateStore } from '../../src/core/store.js';
import { MemoryStore, PostgresStore, SqliteStore } from '../../src/store/index.js';
import { usePostgres } from '../helpers/postgres.js';

// A real PostgreSQL server for the postgres kind; each test opens the store in a schema of its own.
const server = usePostgres();

// Every store honours one contract (core/store.ts); the gateway may run on any.
const kinds: Record<string, (clock: ManualClock, t: { after(fn: () => unknown): void }) => StateStore> = {
  memory: (clock) => new MemoryStore({ clock }),
  sqlite: (clock, t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-contract-'));
    const store = new SqliteStore(join(dir, 'state.db'), { clock });
    t.after(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return store;
  },
  postgres: (clock, t) => {
    const store = new PostgresStore({ ...server().storeOptions(), clock });
    t.after(() => store.close());
    return store;
  },
};

for (const [kind, open] of Object.entries(kinds)) {
  describe(`${kind} store`, () => {
    test('an entry expires at its TTL, and putIfAbsent may then write it again', async (t) => {
      const clock = new ManualClock();
      const store = open(clock, t);
      await store.put('ns', 'k', { v: 1 }, { ttlMs: 1000 });
      clock.advance(999);
      assert.deepEqual(await store.get('ns', 'k'), { v: 1 });
      assert.equal(await store.putIfAbsent('ns', 'k', { v: 2 }), false);
      clock.advance(1);
      assert.equal(await store.get('ns', 'k'), undefined);
      assert.deepEqual(await store.list('ns'), []);
      assert.equal(await store.putIfAbsent('ns', 'k', { v: 3 }), true);
    });

    test('putMany writes every entry with its own TTL, in the change feed like put', async (t) => {
      const clock = new ManualClock();
      const store = open(clock, t);
      const head = await store.headSeq('ns');
      await store.putMany('ns', [{ key: 'a', value: { v: 1 }, ttlMs: 1000 }, { key: 'b', value: { v: 2 } }]);
      assert.deepEqual((await store.list('ns')).map((e) => [e.key, e.value]), [['a', { v: 1 }], ['b', { v: 2 }]]);
      assert.deepEqual((await store.changes('ns', head)).map((c) => c.key).sort(), ['a', 'b']);
      clock.advance(1000);
      assert.deepEqual((await store.list('ns')).map((e) => e.key), ['b']);
      await store.putMany('ns', []);
      assert.equal((await store.list('ns')).length, 1);
    });

    test('update keeps the entry\'s TTL when its options name none (usage records must still expire)', async (t) => {
      const clock = new ManualClock();
      const store = open(clock, t);
      await store.put('ns', 'k', 1, { ttlMs: 1000 });
      // authn/usage.ts passes {} when it has no TTL to set.
      await store.update<number>('ns', 'k', (n) => (n ?? 0) + 1, {});
      await store.update<number>('ns', 'k', (n) => (n ?? 0) + 1);
      assert.equal(await store.get('ns', 'k'), 3);
      clock.advance(1000);
      assert.equal(await store.get('ns', 'k'), undefined);
    });

    test('keys and namespaces are data, never SQL or prototype keys', async (t) => {
      const store = open(new ManualClock(), t);
      const hostile = ["x' OR '1'='1", "'; DROP TABLE kv; --", '__proto__', 'constructor', '%', '_'];
      for (const k of hostile) await store.put(k, k, { k });
      for (const k of hostile) assert.deepEqual(await store.get(k, k), { k });
      assert.equal(await store.get("x' OR '1'='1", 'other'), undefined);
      assert.deepEqual((await store.list('ns', { prefix: '%' })).length, 0);
      assert.equal(({} as Record<string, unknown>)['k'], undefined);
    });

    test('a delete is a change (value undefined) in seq order, and headSeq follows the feed', async (t) => {
      const store = open(new ManualClock(), t);
      assert.equal(await store.headSeq('ns'), 0);
      await store.put('ns', 'a', 1);
      await store.put('ns', 'b', 2);
      assert.equal(await store.delete('ns', 'a'), true);
      assert.equal(await store.delete('ns', 'a'), false);
      assert.equal(await store.putIfAbsent('ns', 'b', 3), false);
      // The memory store logs every change; the databases keep each key's latest: both end with the deletion.
      const feed = await store.changes('ns', 0);
      const last = feed.at(-1);
      assert.deepEqual([last?.key, last?.value], ['a', undefined]);
      assert.deepEqual(feed.filter((c) => c.key === 'b').map((c) => c.value), [2]);
      assert.deepEqual(feed.map((c) => c.seq), [...feed.map((c) => c.seq)].sort((x, y) => x - y));
      assert.equal(new Set(feed.map((c) => c.seq)).size, feed.length);
      assert.equal(await store.headSeq('ns'), last?.seq);
      assert.deepEqual(await store.changes('ns', last?.seq ?? 0), []);
      assert.equal((await store.changes('ns', 0, 1)).length, 1);
      assert.equal(await store.get('ns', 'a'), undefined);
      assert.equal(await store.headSeq('other'), 0);
    });

    test('list is in key order, filtered by a literal prefix and cut at limit; update may delete', async (t) => {
      const store = open(new ManualClock(), t);
      await store.putMany('ns', ['b2', 'a1', 'b1', 'c', 'B0'].map((key) => ({ key, value: { key } })));
      assert.deepEqual((await store.list('ns')).map((e) => e.key), ['B0', 'a1', 'b1', 'b2', 'c']);
      assert.deepEqual((await store.list('ns', { prefix: 'b' })).map((e) => e.key), ['b1', 'b2']);
      assert.deepEqual((await store.list('ns', { prefix: 'b', limit: 1 })).map((e) => e.key), ['b1']);
      assert.equal(await store.update('ns', 'b1', () => undefined), undefined);
      assert.deepEqual((await store.list('ns', { prefix: 'b' })).map((e) => e.key), ['b2']);
      const [entry] = await store.list<{ key: string }>('ns', { prefix: 'c' });
      assert.deepEqual(entry?.value, { key: 'c' });
      assert.equal(entry?.expiresAt, undefined);
      assert.equal(typeof entry?.updatedAt, 'number');
    });
  });
}
