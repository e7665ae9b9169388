/**
 * The HTTP sink's spool/rejected/ (batches an endpoint refused for good, 4xx) is bounded with the spool by
 * spool_max_bytes, oldest rejected batches going first; and an endpoint that refuses batch after batch (an expired
 * SIEM token: 401 to everything) is an outage, not a stream of bad batches: after REJECTIONS_BEFORE_DOWN refusals in a
 * row the sink reports itself unhealthy and keeps the batches in the spool, within the bound, until it accepts them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { HttpSink } from '../../src/audit/sinks/index.js';
import { REJECTIONS_BEFORE_DOWN } from '../../src/audit/sinks/http.js';
import { memoryLogger, tempDir } from './helpers.js';
import { until } from '../helpers/until.js';

const MAX = 64 * 1024;

/** A SIEM on loopback answering `status(batch_id)`; it keeps the ids it accepted (2xx). */
async function siem(t: { after(fn: () => unknown): void }, status: (id: string) => number) {
  const accepted: string[] = [];
  let posts = 0;
  const server = createServer((req, res) => {
    let b = '';
    req.on('data', (c: Buffer) => (b += c.toString()));
    req.on('end', () => {
      posts++;
      const id = String(req.headers['idempotency-key']);
      const s = status(id);
      if (s >= 200 && s < 300) accepted.push(id);
      res.writeHead(s).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ingest`, accepted, posts: () => posts };
}

const line = (seq: number): string =>
  `{"event_type":"http.request","pad":"${'x'.repeat(400)}","seq":${seq},"prev_hash":"${'0'.repeat(64)}","hash":"${seq.toString(16).padStart(64, '0')}"}`;
/** 20 records, about 10 KB: a batch of its own (batchMax 20). */
const batch = (first: number): string[] => Array.from({ length: 20 }, (_, k) => line(first + k));
const name = (first: number, last: number): string => `${String(first).padStart(16, '0')}-${String(last).padStart(16, '0')}-${last.toString(16).padStart(64, '0').slice(0, 16)}.json`;

/** Bytes of regular batch files in a directory (none when it does not exist). */
const bytesIn = (dir: string): number =>
  existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).reduce((n, f) => n + (lstatSync(join(dir, f)).isFile() ? lstatSync(join(dir, f)).size : 0), 0) : 0;

function sink(url: string, spoolDir: string, logger = memoryLogger()): HttpSink {
  return new HttpSink({ url, headers: {}, batchMax: 20, intervalMs: 5, timeoutMs: 2000, spoolDir, spoolMaxBytes: MAX, retryMinMs: 20, retryMaxMs: 100, logger, index: 0 });
}

const alerts = (logger: ReturnType<typeof memoryLogger>, alert: string) => logger.lines.filter((l) => (l.obj as { alert?: string }).alert === alert);

describe('HTTP sink: rejected batches are bounded', () => {
  test('an endpoint answering 401 to everything: a few batches set aside, then unhealthy; spool and rejected/ stay within spool_max_bytes; all sent once it accepts', async (t) => {
    let status = 401;
    const s = await siem(t, () => status);
    const spool = join(tempDir(t), 'spool');
    const logger = memoryLogger();
    const sk = sink(s.url, spool, logger);
    for (let i = 0; i < 60; i++) {
      sk.deliver(batch(1 + i * 20));
      await new Promise((r) => setTimeout(r, 10));
      assert.ok(bytesIn(spool) + bytesIn(join(spool, 'rejected')) <= MAX, `over the bound after batch ${i}`);
    }
    await until('the endpoint to be taken as down', () => !sk.health().ok);
    assert.equal(sk.stats.rejected, REJECTIONS_BEFORE_DOWN, 'every batch was set aside as bad');
    assert.match(sk.health().reason ?? '', new RegExp(`endpoint refused ${REJECTIONS_BEFORE_DOWN} batches in a row \\(last answer 401\\)`));
    assert.equal(alerts(logger, 'audit_sink_refusing').length, 1);
    assert.ok(sk.stats.droppedFull > 0, 'the spool filled up: later records stay only in the audit file');
    assert.ok(sk.stats.rejectedDropped > 0, 'rejected batches made room for batches still to send');
    assert.ok(bytesIn(spool) + bytesIn(join(spool, 'rejected')) <= MAX);

    // The token is renewed: the batches waiting in the spool go out, the sink is healthy again.
    const waiting = readdirSync(spool).filter((f) => f.endsWith('.json')).length;
    assert.ok(waiting > 0);
    status = 200;
    await until('the spooled batches at the SIEM', () => s.accepted.length >= waiting);
    await until('the spool to be empty', () => readdirSync(spool).filter((f) => f.endsWith('.json')).length === 0);
    assert.deepEqual(sk.health(), { ok: true });
    await sk.close();
  });

  test('bad batches between good ones are still set aside one by one (the count restarts at each 2xx)', async (t) => {
    // Every other batch is refused (400): more refusals than REJECTIONS_BEFORE_DOWN, never that many in a row.
    const bad = new Set<string>();
    const s = await siem(t, (id) => (bad.has(id) ? 400 : 200));
    const spool = join(tempDir(t), 'spool');
    const sk = sink(s.url, spool);
    const n = REJECTIONS_BEFORE_DOWN * 2 + 2;
    for (let i = 0; i < n; i++) {
      const first = 1 + i * 20;
      if (i % 2 === 0) bad.add(`${first}-${first + 19}-${(first + 19).toString(16).padStart(64, '0').slice(0, 16)}`);
      sk.deliver(batch(first));
      await until(`batch ${i} handled`, () => s.posts() > i && readdirSync(spool).filter((f) => f.endsWith('.json')).length === 0);
    }
    await sk.close();
    assert.equal(sk.stats.rejected, n / 2);
    assert.equal(s.accepted.length, n / 2);
    assert.equal(readdirSync(join(spool, 'rejected')).length, n / 2);
    assert.deepEqual(sk.health(), { ok: true });
  });

  test('a rejected/ grown past the bound (by an earlier version) is cut back at start, oldest first, with a warning', async (t) => {
    const s = await siem(t, () => 200);
    const spool = join(tempDir(t), 'spool');
    mkdirSync(join(spool, 'rejected'), { recursive: true, mode: 0o700 });
    const names: string[] = [];
    for (let i = 0; i < 20; i++) {
      const first = 1 + i * 20;
      names.push(name(first, first + 19));
      writeFileSync(join(spool, 'rejected', name(first, first + 19)), `{"batch_id":"x","records":[${batch(first).join(',')}]}`, { mode: 0o600 });
    }
    assert.ok(bytesIn(join(spool, 'rejected')) > 3 * MAX);
    const logger = memoryLogger();
    const sk = sink(s.url, spool, logger);
    await sk.close();
    const left = readdirSync(join(spool, 'rejected')).sort();
    assert.ok(bytesIn(join(spool, 'rejected')) <= MAX);
    assert.ok(left.length > 0, 'the newest rejected batches are kept');
    assert.deepEqual(left, names.slice(names.length - left.length), 'the oldest went first');
    assert.equal(sk.stats.rejectedDropped, names.length - left.length);
    assert.equal(alerts(logger, 'audit_rejected_dropped').length, 1);
  });
});
