/**
 * The span exporter's counts as Prometheus counters (metrics.ts, gatehouse_tracing_*): the text format and the sum
 * over workers, then a real gateway whose collector refuses, is retried, and is slow enough for the queue to overflow,
 * scraped on its metrics listener.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { checkSnapshot, GatewayMetrics, renderMetrics, type MetricsSnapshot } from '../../src/gateway/metrics.js';
import { metricSample, startRecordingUpstream, startTestGateway } from '../helpers/gateway.js';
import { until } from '../helpers/until.js';

const FAMILIES = ['spans_exported', 'spans_dropped', 'spans_failed', 'exports_failed', 'export_retries'] as const;

function snapshotWith(tracing: MetricsSnapshot['tracing']): MetricsSnapshot {
  const m = new GatewayMetrics({ inflight: () => 0, connections: () => 0, auditHealthy: () => true });
  try {
    const s = m.snapshot();
    if (tracing) s.tracing = tracing;
    else delete s.tracing;
    return s;
  } finally {
    m.close();
  }
}

describe('text format', () => {
  test('five counters with HELP and TYPE, summed over the workers that answered', () => {
    const a = snapshotWith({ spans_exported: 10, spans_dropped: 1, spans_failed: 2, exports_failed: 1, export_retries: 3 });
    const b = snapshotWith({ spans_exported: 5, spans_dropped: 0, spans_failed: 4, exports_failed: 2, export_retries: 0 });
    const text = renderMetrics([{ worker: 1, snapshot: a }, { worker: 2, snapshot: b }, { worker: 3, snapshot: undefined }], { version: '9.9.9' });
    const expected = { spans_exported: 15, spans_dropped: 1, spans_failed: 6, exports_failed: 3, export_retries: 3 };
    for (const f of FAMILIES) {
      const name = `gatehouse_tracing_${f}_total`;
      assert.match(text, new RegExp(`# HELP ${name} .+\\n# TYPE ${name} counter\\n${name} ${expected[f]}\\n`), name);
    }
  });

  test('no gatehouse_tracing_* family when no process runs an exporter (tracing off)', () => {
    const text = renderMetrics([{ snapshot: snapshotWith(undefined) }], { version: '9.9.9' });
    assert.ok(!text.includes('gatehouse_tracing_'), text);
  });

  test('a worker snapshot with malformed tracing counts is refused whole', () => {
    const good = snapshotWith({ spans_exported: 1, spans_dropped: 0, spans_failed: 0, exports_failed: 0, export_retries: 0 });
    assert.ok(checkSnapshot(structuredClone(good)));
    for (const tracing of [null, 'x', { ...good.tracing, spans_dropped: -1 }, { ...good.tracing, export_retries: Number.NaN }, { spans_exported: 1 }]) {
      assert.equal(checkSnapshot({ ...structuredClone(good), tracing }), undefined, JSON.stringify(tracing));
    }
  });
});

/** A collector whose first POST is held until released, then answered 500; later ones get 503, then 200. */
async function startHoldingCollector() {
  let posts = 0;
  let held: ServerResponse | undefined;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      posts++;
      if (posts === 1) held = res;
      else res.writeHead(posts === 2 ? 503 : 200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`,
    posts: () => posts,
    holding: () => held !== undefined,
    release: () => held?.writeHead(500, { 'content-type': 'application/json' }).end('{}'),
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

test('through a gateway: exported, dropped (queue full), failed and retried exports are counted on the metrics listener', async () => {
  const upstream = await startRecordingUpstream();
  const collector = await startHoldingCollector();
  // One request is a batch (its CLIENT and SERVER spans) and fills the queue: the second waits, the third is dropped.
  const gw = await startTestGateway({
    routes: [{ name: 'api', prefix: '/api', upstream: upstream.url }],
    metrics: { enabled: true, listen: '127.0.0.1:0' },
    tracing: { enabled: true, endpoint: collector.url, batch: { max_spans: 2, max_queue: 2, interval: '1h' } },
  });
  const scrape = async () => (await request(gw.metricsUrl as string)).body.text();
  try {
    const exporter = gw.tracing?.exporter;
    assert.ok(exporter);
    const before = await scrape();
    for (const f of FAMILIES) assert.equal(metricSample(before, `gatehouse_tracing_${f}_total`), 0, f);

    assert.equal(await get(`${gw.url}/api/1`), 200);
    await until('the first export to reach the collector', () => collector.holding());
    assert.equal(await get(`${gw.url}/api/2`), 200);
    assert.equal(exporter.queueLength, 2);
    assert.equal(await get(`${gw.url}/api/3`), 200, 'a full queue never fails a request');
    collector.release();
    await until('the second batch to be exported', () => exporter.stats.exported === 2);
    assert.equal(collector.posts(), 3, '500 given up, then 503 retried, then 200');

    const text = await scrape();
    const counted = Object.fromEntries(FAMILIES.map((f) => [f, metricSample(text, `gatehouse_tracing_${f}_total`)]));
    assert.deepEqual(counted, { spans_exported: 2, spans_dropped: 2, spans_failed: 2, exports_failed: 1, export_retries: 1 });
    assert.deepEqual(exporter.stats, { exported: 2, dropped: 2, failed: 2, failedExports: 1, retries: 1 });
    assert.match(text, /# TYPE gatehouse_tracing_spans_dropped_total counter\n/);
  } finally {
    await gw.stop();
    await upstream.close();
    await collector.close();
  }
});
