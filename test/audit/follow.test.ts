import { test } from 'node:test';
import assert from 'node:assert/strict';
import { followAuditLog, type AuditRecord } from '../../src/audit/index.js';
import { openTestLog, seedEvent, tempDir } from './helpers.js';

test('tail -f follows new records across a rotation, and stops on abort', async (t) => {
  const state = tempDir(t);
  const log = await openTestLog(state, { rotation: { max_size: '4kb' }, compress: false });
  await log.emit(seedEvent(-1));
  const seen: AuditRecord[] = [];
  const ac = new AbortController();
  const following = followAuditLog(log.dir, {}, (r) => seen.push(r), { signal: ac.signal, intervalMs: 10 });
  await new Promise((r) => setTimeout(r, 50));
  for (let i = 0; i < 20; i++) await log.emit(seedEvent(i));
  const end = Date.now() + 5000;
  while (seen.length < 20 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  ac.abort();
  await following;
  await log.close();
  assert.deepEqual(seen.map((r) => (r['args'] as { i: number }).i), Array.from({ length: 20 }, (_, i) => i), 'the record written before following is not repeated; none is lost at rotation');
});
