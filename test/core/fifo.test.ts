import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InsertionQueue } from '../../src/core/fifo.js';
import { VerifiedCache } from '../../src/authn/cache.js';

test('InsertionQueue hands out the oldest key still present, skipping deleted ones', () => {
  const owner = new Set<string>();
  const q = new InsertionQueue<string>(10);
  for (const k of ['a', 'b', 'c', 'd']) {
    owner.add(k);
    q.push(k, () => owner);
  }
  owner.delete('a');
  owner.delete('c');
  assert.equal(q.takeOldest((k) => owner.has(k)), 'b');
  owner.delete('b');
  assert.equal(q.takeOldest((k) => owner.has(k)), 'd');
  owner.delete('d');
  assert.equal(q.takeOldest((k) => owner.has(k)), undefined);
});

test('InsertionQueue stays bounded when keys churn without evictions (rebuilt from the owner)', () => {
  const owner = new Map<string, number>();
  const q = new InsertionQueue<string>(8);
  for (let i = 0; i < 50_000; i++) {
    const k = `k${i % 8}`;
    owner.delete(k); // expired, then verified again: deleted and re-added
    owner.set(k, i);
    q.push(k, () => owner.keys());
  }
  // After a rebuild the queue holds each present key once, in the owner's order.
  const seen: string[] = [];
  for (let k = q.takeOldest((x) => owner.has(x)); k !== undefined; k = q.takeOldest((x) => owner.has(x))) {
    seen.push(k);
    owner.delete(k);
  }
  assert.equal(seen.length, 8);
  assert.deepEqual(new Set(seen).size, 8);
});

test('VerifiedCache evicts the oldest entry when full, also after heavy churn', () => {
  const c = new VerifiedCache<number>(3);
  c.set('a', 1, 1000);
  c.set('b', 2, 1000);
  c.set('c', 3, 1000);
  c.set('a', 10, 1000); // an update keeps its place and the size
  assert.equal(c.size, 3);
  c.set('d', 4, 1000); // evicts a, the oldest inserted
  assert.equal(c.get('a', 0), undefined);
  assert.equal(c.get('b', 0), 2);
  c.delete('b');
  c.set('e', 5, 1000);
  assert.equal(c.size, 3);
  c.set('f', 6, 1000); // b is gone already: c is the oldest present
  assert.equal(c.get('c', 0), undefined);
  assert.deepEqual(['d', 'e', 'f'].map((k) => c.get(k, 0)), [4, 5, 6]);
  for (let i = 0; i < 20_000; i++) c.set(`t${i}`, i, 1000);
  assert.equal(c.size, 3);
  assert.deepEqual(['t19997', 't19998', 't19999'].map((k) => c.get(k, 0)), [19997, 19998, 19999]);
  assert.equal(c.get('x', 0), undefined);
  c.set('late', 1, 10);
  assert.equal(c.get('late', 10), undefined, 'expired at its deadline');
});
