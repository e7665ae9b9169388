/**
 * A stream sink whose destination stops taking records (a syslog receiver that accepts the connection and never
 * reads): the sink says so in health(), its close() keeps its deadline and reports what it did not deliver, and
 * delivery resumes once a receiver reads again. Real sockets on loopback.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createSyslogSink } from '../../src/audit/index.js';
import { Batcher } from '../../src/audit/sinks/batcher.js';
import { memoryLogger } from './helpers.js';
import { until } from '../helpers/until.js';
import { readOctetFrames } from '../helpers/syslog.js';

/** Whether `p` settles within `ms` (a bound on a hang, not a speed measure). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A syslog-over-TCP receiver on loopback. While `reading` is off it accepts connections and never reads them; once
 * on, new connections are read and their octet-counted frames (RFC 6587) parsed.
 */
async function receiver(t: { after(fn: () => unknown): void }) {
  const frames: string[] = [];
  const sockets = new Set<Socket>();
  const state = { reading: false, accepted: 0 };
  const server: Server = createServer((sock) => {
    state.accepted++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    if (!state.reading) {
      sock.pause();
      return;
    }
    readOctetFrames(sock, frames);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as AddressInfo).port, frames, state };
}

/** Audit lines of ~8 KB: a few thousand of them fill any loopback socket's buffers. */
const line = (i: number): string => JSON.stringify({ seq: i, event_type: 'http.request', timestamp: '2026-01-01T00:00:00.000Z', result: 'success', pad: 'x'.repeat(8000) });
const lines = (from: number, n: number): string[] => Array.from({ length: n }, (_, k) => line(from + k));
const seqOf = (frame: string): number => (JSON.parse(frame.slice(frame.indexOf('\ufeff') + 1)) as { seq: number }).seq;

describe('syslog sink: a receiver that accepts and never reads', () => {
  test('the stalled write ends the connection, health turns bad, close() keeps its deadline and reports the undelivered records', async (t) => {
    const rx = await receiver(t);
    const logger = memoryLogger();
    const sink = createSyslogSink({
      transport: 'tcp', host: '127.0.0.1', port: rx.port, facility: 13, appName: 'gatehouse',
      batchMax: 100, intervalMs: 10, maxQueue: 20_000, logger, writeTimeoutMs: 300,
    });
    // 32 MB, more than the socket buffers of both ends hold, and within max_queue (no record is dropped here).
    sink.deliver(lines(1, 4000));
    const bad = await until(() => `an unhealthy sink (health: ${JSON.stringify(sink.health())})`, () => {
      const h = sink.health();
      return !h.ok && /ETIMEDOUT|stalled/.test(h.reason ?? '') ? h : undefined;
    });
    assert.ok(bad.reason);
    await until('a stall logged', () => logger.lines.some((l) => /delivery (stalled|failed)/.test(l.msg ?? '')));
    // Batcher.close's deadline is 2 s; 5 s bounds a hang without measuring speed.
    const closing = sink.close();
    assert.ok(await settlesWithin(closing, 5000), 'close() returned within its deadline');
    const report = logger.lines.find((l) => (l.obj as { alert?: string }).alert === 'audit_sink_undelivered');
    assert.ok(report, 'close() reported what it did not deliver');
    assert.ok((report.obj as { undelivered: number }).undelivered > 0);
    // The log names the sink and counts, nothing of the records.
    assert.doesNotMatch(JSON.stringify(logger.lines), /xxxxxxxx|"seq"/);
  });

  test('delivery resumes when a reading receiver is back; health turns good again', async (t) => {
    const rx = await receiver(t);
    const logger = memoryLogger();
    const sink = createSyslogSink({
      transport: 'tcp', host: '127.0.0.1', port: rx.port, facility: 13, appName: 'gatehouse',
      batchMax: 100, intervalMs: 10, maxQueue: 20_000, logger, writeTimeoutMs: 300,
    });
    t.after(() => sink.close());
    sink.deliver(lines(1, 4000));
    await until(() => `an unhealthy sink (health: ${JSON.stringify(sink.health())})`, () => !sink.health().ok);
    rx.state.reading = true;
    sink.deliver(lines(4001, 10));
    // The sink reconnects with backoff; the queued records and the new ones reach the reading receiver.
    await until(() => `the last record delivered (${rx.frames.length} frames, health ${JSON.stringify(sink.health())})`, () => rx.frames.some((f) => seqOf(f) === 4010), 30_000);
    await until('a healthy sink', () => sink.health().ok);
    assert.ok(rx.state.accepted >= 2, 'a new connection after the stalled one');
    assert.ok(logger.lines.some((l) => /delivering again/.test(l.msg ?? '')));
    const seqs = new Set(rx.frames.map(seqOf));
    for (let i = 3990; i <= 4010; i++) assert.ok(seqs.has(i), `record ${i} delivered`);
  });
});

describe('Batcher: a destination that never answers', () => {
  test('health reports the stall, close() gives up at its deadline, aborts the send and returns the undelivered count', async () => {
    const logger = memoryLogger();
    let aborted = 0;
    const batcher = new Batcher({
      name: 'test', batchMax: 10, intervalMs: 5, maxQueue: 100, stallMs: 100, logger,
      send: () => new Promise<void>(() => undefined),
      abort: () => aborted++,
    });
    batcher.push(['{"a":1}', '{"a":2}', '{"a":3}']);
    await until('a stalled batcher', () => /stalled/.test(batcher.health().reason ?? ''));
    await until('the stall logged', () => logger.lines.some((l) => (l.obj as { alert?: string }).alert === 'audit_sink_stalled'));
    const closing = batcher.close(300);
    assert.ok(await settlesWithin(closing, 5000), 'close(300) returned');
    assert.equal(await closing, 3);
    assert.equal(aborted, 1);
    assert.ok(logger.lines.some((l) => (l.obj as { alert?: string; undelivered?: number }).alert === 'audit_sink_undelivered' && (l.obj as { undelivered: number }).undelivered === 3));
  });

  test('an overflowing queue makes the sink unhealthy and warns once per episode, not once per process', async () => {
    const logger = memoryLogger();
    let release: (() => void) | undefined;
    const batcher = new Batcher({
      name: 'test', batchMax: 2, intervalMs: 5, maxQueue: 4, logger,
      send: () => new Promise<void>((r) => (release = r)),
    });
    batcher.push(['1', '2', '3', '4', '5', '6']);
    assert.match(batcher.health().reason ?? '', /queue full/);
    await until('a send in flight', () => release);
    release?.();
    await until('delivering again', () => logger.lines.some((l) => /delivering again/.test(l.msg ?? '')));
    const overflowWarnings = () => logger.lines.filter((l) => (l.obj as { alert?: string }).alert === 'audit_sink_overflow').length;
    assert.equal(overflowWarnings(), 1);
    for (let i = 0; i < 3; i++) batcher.push([`a${i}`, `b${i}`, `c${i}`, `d${i}`, `e${i}`]);
    assert.equal(overflowWarnings(), 2, 'a second episode is warned again');
    const closing = batcher.close(200);
    for (let i = 0; i < 20 && !(await settlesWithin(closing, 50)); i++) release?.();
    assert.ok(batcher.dropped > 0);
  });
});
