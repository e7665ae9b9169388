/**
 * Distributed tracing through a real gateway (docs/gateway.md § Tracing): W3C traceparent to the upstream, one SERVER
 * span per request exported over OTLP/HTTP JSON, trust of incoming trace context, sampling, a failing collector.
 *
 * The collector here is a real HTTP server on 127.0.0.1 that records what is POSTed to /v1/traces. The OpenTelemetry
 * Collector itself is a Go binary that cannot be installed in this environment; the payload is checked against the
 * OTLP protobuf JSON mapping instead (the shape the collector's otlphttp receiver decodes).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTokenService } from '../../src/authn/index.js';
import { gatehouseVersion } from '../../src/core/version.js';
import { startRecordingUpstream, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import type { OtlpSpan } from '../helpers/otlp.js';
import { until } from '../helpers/until.js';

interface OtlpBody {
  resourceSpans: Array<{ resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: Array<{ scope: { name: string }; spans: OtlpSpan[] }> }>;
}

/** A collector on loopback answering each POST with the next of `statuses` (the last one repeats). */
async function startCollector(statuses: number[] = [200]) {
  const posts: Array<{ headers: IncomingHttpHeaders; text: string; body: OtlpBody }> = [];
  let answered = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = statuses[Math.min(answered++, statuses.length - 1)] as number;
      if (status === 200) posts.push({ headers: req.headers, text, body: JSON.parse(text) as OtlpBody });
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`,
    posts,
    attempts: () => answered,
    spans: () => posts.flatMap((p) => p.body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans))),
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

/** A GET with its own connection, optionally from another loopback address (a "proxy" at 127.0.0.2). */
function get(url: string, headers: Record<string, string> = {}, localAddress?: string): Promise<{ status: number; requestId: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers, agent: false, ...(localAddress ? { localAddress } : {}) }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, requestId: String(res.headers['x-request-id']) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const attrs = (s: OtlpSpan): Record<string, string | undefined> => Object.fromEntries(s.attributes.map((a) => [a.key, a.value.stringValue ?? a.value.intValue]));
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

describe('tracing through the gateway', () => {
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  before(async () => {
    upstream = await startRecordingUpstream();
    collector = await startCollector();
  });
  after(async () => {
    await upstream.close();
    await collector.close();
  });
  const seenUpstream = (requestId: string) => upstream.requests.find((r) => r.headers['x-request-id'] === requestId)?.headers;
  const exported = (requestId: string) => collector.spans().filter((s) => attrs(s)['gatehouse.request_id'] === requestId);
  /** The CLIENT span of the upstream call under a SERVER span. */
  const clientOf = (server: OtlpSpan) => collector.spans().find((s) => s.kind === 3 && s.parentSpanId === server.spanId && s.traceId === server.traceId);

  test('one SERVER span per request with route, status and request id, no secret anywhere; the upstream\'s traceparent names its CLIENT child', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-tracing-'));
    const key = 'collector-key-0123456789abcdef';
    writeFileSync(join(dir, 'collector_key'), key, { mode: 0o600 });
    const gw = await startTestGateway({
      routes: [{ name: 'api', prefix: '/api', upstream: upstream.url, auth_required: true }],
      auth: { methods: ['token'] },
      authz: { routes: [{ path: '/*', scopes: ['system:read'] }] },
      secrets: { file_dir: dir },
      tracing: { enabled: true, endpoint: collector.url, headers: { 'X-Collector-Key': 'file:collector_key' }, batch: { interval: '1h' } },
    });
    try {
      const token = (await openTokenService(gw.config, { stateDir: gw.config.state_dir }).mint({ agent: 'ci-agent', scopes: 'readonly', tenant: 'acme', ttlMs: 3_600_000 })).token;
      const res = await get(`${gw.url}/api/items/7?api_key=QUERYSECRET42`, { authorization: `Bearer ${token}` });
      assert.equal(res.status, 200);
      await gw.tracing?.exporter.flush();
      const spans = exported(res.requestId);
      assert.equal(spans.length, 1);
      const span = spans[0] as OtlpSpan;
      assert.equal(span.name, 'GET api');
      assert.equal(span.kind, 2);
      assert.equal(span.parentSpanId, undefined, 'a new trace: the client is not a trusted proxy');
      assert.deepEqual(span.status, { code: 0 });
      assert.ok(BigInt(span.endTimeUnixNano) >= BigInt(span.startTimeUnixNano));
      assert.deepEqual(attrs(span), {
        'http.request.method': 'GET', 'url.scheme': 'http', 'http.response.status_code': '200', 'gatehouse.request_id': res.requestId, 'http.route': '/api', 'gatehouse.route': 'api',
      });
      const post = collector.posts.find((p) => p.text.includes(res.requestId));
      assert.ok(post);
      assert.equal(post.headers['content-type'], 'application/json');
      assert.equal(post.headers['x-collector-key'], key, 'tracing.headers reach the collector');
      const resource = Object.fromEntries(post.body.resourceSpans[0]?.resource.attributes.map((a) => [a.key, a.value.stringValue]) ?? []);
      assert.deepEqual(resource, { 'service.name': 'gatehouse', 'service.version': gatehouseVersion() });
      assert.equal(post.body.resourceSpans[0]?.scopeSpans[0]?.scope.name, 'gatehouse');
      for (const secret of [token, 'QUERYSECRET42', 'api_key', '/api/items', 'Bearer', 'ci-agent']) assert.ok(!post.text.includes(secret), `the export holds ${secret.slice(0, 12)}`);
      assert.ok(!gw.log.lines.join('\n').includes(key), 'the collector key is never logged');
      const sent = seenUpstream(res.requestId)?.['traceparent'];
      const client = clientOf(span);
      assert.ok(client, 'the upstream call has its CLIENT span, child of the SERVER span');
      assert.equal(sent, `00-${span.traceId}-${client.spanId}-01`);
    } finally {
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('incoming trace context (trust_incoming: trusted_proxies, the proxy at 127.0.0.2)', () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startTestGateway({
        server: { trusted_proxies: ['127.0.0.2'] },
        routes: [{ name: 'api', prefix: '/api', upstream: upstream.url }],
        tracing: { enabled: true, endpoint: collector.url, batch: { interval: '1h' } },
      });
    });
    after(() => gw.stop());
    const incoming = { traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'rojo=00f067aa0ba902b7, congo=t61rcWkgMzE' };

    test('a trusted proxy\'s traceparent is continued: same trace id, the proxy\'s span as parent, its tracestate passed on', async () => {
      const res = await get(`${gw.url}/api/x`, incoming, '127.0.0.2');
      await gw.tracing?.exporter.flush();
      const span = exported(res.requestId)[0];
      assert.ok(span);
      assert.equal(span.traceId, TRACE);
      assert.equal(span.parentSpanId, PARENT);
      const h = seenUpstream(res.requestId);
      assert.equal(h?.['traceparent'], `00-${TRACE}-${clientOf(span)?.spanId}-01`);
      assert.equal(h?.['tracestate'], 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
    });

    test('an untrusted client\'s is replaced: a new trace id, no parent, its tracestate dropped', async () => {
      const res = await get(`${gw.url}/api/x`, incoming);
      await gw.tracing?.exporter.flush();
      const span = exported(res.requestId)[0];
      assert.ok(span);
      assert.notEqual(span.traceId, TRACE);
      assert.equal(span.parentSpanId, undefined);
      const h = seenUpstream(res.requestId);
      assert.equal(h?.['traceparent'], `00-${span.traceId}-${clientOf(span)?.spanId}-01`);
      assert.equal(h?.['tracestate'], undefined);
    });

    const malformed: Array<[string, string]> = [
      ['upper-case hex', `00-${TRACE.toUpperCase()}-${PARENT}-01`],
      ['an all-zero trace id', `00-${'0'.repeat(32)}-${PARENT}-01`],
      ['an all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
      ['version ff', `ff-${TRACE}-${PARENT}-01`],
      ['a short trace id', `00-${TRACE.slice(2)}-${PARENT}-01`],
      ['a long parent id', `00-${TRACE}-${PARENT}00-01`],
      ['10 KB', `00-${TRACE}-${PARENT}-01${'0'.repeat(10_240)}`],
    ];
    test('a malformed traceparent, even from the trusted proxy, starts a new trace (and its tracestate goes nowhere)', async () => {
      for (const [what, value] of malformed) {
        const res = await get(`${gw.url}/api/x`, { traceparent: value, tracestate: 'rojo=1' }, '127.0.0.2');
        assert.equal(res.status, 200, what);
        await gw.tracing?.exporter.flush();
        const span = exported(res.requestId)[0];
        assert.ok(span, what);
        assert.notEqual(span.traceId, TRACE, what);
        assert.equal(span.parentSpanId, undefined, what);
        const h = seenUpstream(res.requestId);
        const m = TRACEPARENT.exec(String(h?.['traceparent']));
        assert.ok(m, what);
        assert.equal(m[1], span.traceId, what);
        assert.equal(h?.['tracestate'], undefined, what);
      }
    });
  });

  test('sample_ratio 0 exports nothing, yet the upstream gets a valid traceparent flagged not sampled', async () => {
    const gw = await startTestGateway({ routes: [{ name: 'api', prefix: '/api', upstream: upstream.url }], tracing: { enabled: true, endpoint: collector.url, sample_ratio: 0, batch: { max_spans: 1 } } });
    try {
      const before = collector.spans().length;
      const res = await get(`${gw.url}/api/x`);
      await gw.tracing?.exporter.flush();
      assert.equal(collector.spans().length, before);
      assert.equal(gw.tracing?.exporter.stats.exported, 0);
      const m = TRACEPARENT.exec(String(seenUpstream(res.requestId)?.['traceparent']));
      assert.ok(m);
      assert.equal(m[3], '00');
    } finally {
      await gw.stop();
    }
  });

  test('with tracing off the upstream gets the client\'s traceparent and tracestate exactly as sent (as before tracing existed)', async () => {
    const gw = await startTestGateway({ routes: [{ name: 'api', prefix: '/api', upstream: upstream.url }] });
    try {
      assert.equal(gw.tracing, undefined);
      const odd = { traceparent: `00-${TRACE.toUpperCase()}-${PARENT}-01`, tracestate: 'Anything , goes' };
      const h = seenUpstream((await get(`${gw.url}/api/x`, odd)).requestId);
      assert.equal(h?.['traceparent'], odd.traceparent);
      assert.equal(h?.['tracestate'], odd.tracestate);
      const none = seenUpstream((await get(`${gw.url}/api/x`)).requestId);
      assert.equal(none?.['traceparent'], undefined, 'nothing is added');
    } finally {
      await gw.stop();
    }
  });

  test('spans still queued are delivered when the gateway closes', async () => {
    const gw = await startTestGateway({ routes: [{ name: 'api', prefix: '/api', upstream: upstream.url }], tracing: { enabled: true, endpoint: collector.url, batch: { interval: '1h' } } });
    const ids: string[] = [];
    try {
      for (let i = 0; i < 3; i++) ids.push((await get(`${gw.url}/api/x`)).requestId);
      assert.equal(gw.tracing?.exporter.queueLength, 6, 'a SERVER and a CLIENT span each');
      assert.deepEqual(ids.flatMap(exported), [], 'nothing sent before the close');
    } finally {
      await gw.stop();
    }
    assert.equal(ids.flatMap(exported).length, 3);
  });
});

describe('a failing collector never fails a request', () => {
  test('an endpoint on port 4317 (OTLP/gRPC) is warned about at start, naming the host only', async () => {
    const gw = await startTestGateway({ routes: [], tracing: { enabled: true, endpoint: 'http://127.0.0.1:4317/v1/traces?key=abc' } });
    try {
      const line = gw.log.lines.find((l) => l.includes('port 4317 is OTLP/gRPC'));
      assert.ok(line);
      assert.equal(JSON.parse(line).level, 'warn');
      assert.ok(!line.includes('key=abc'));
    } finally {
      await gw.stop();
    }
  });

  test('a collector that is down: every request answers, the queue stays within max_queue, the excess is dropped and counted', async () => {
    const upstream = await startRecordingUpstream();
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const gw = await startTestGateway({
      routes: [{ name: 'api', prefix: '/api', upstream: upstream.url }],
      tracing: { enabled: true, endpoint: `http://127.0.0.1:${port}/v1/traces`, timeout: '400ms', batch: { max_spans: 2, max_queue: 4, interval: '1h' } },
    });
    try {
      const exporter = gw.tracing?.exporter;
      assert.ok(exporter);
      let maxQueue = 0;
      for (let i = 0; i < 30; i++) {
        assert.equal((await get(`${gw.url}/api/x`)).status, 200);
        maxQueue = Math.max(maxQueue, exporter.queueLength);
      }
      assert.ok(maxQueue <= 4, `queue reached ${maxQueue}`);
      assert.ok(exporter.stats.dropped > 0, 'spans past max_queue were dropped');
      await until('the retries to give up', () => exporter.stats.failed > 0);
      assert.equal(exporter.stats.exported, 0);
      assert.ok(gw.log.lines.some((l) => l.includes('tracing: span export failed') || l.includes('span queue full')));
      assert.ok(!gw.log.lines.some((l) => l.includes('/v1/traces')), 'the collector is named by host only');
    } finally {
      await gw.stop();
      await upstream.close();
    }
  });

  test('500 is given up at once and counted; 503 is retried until accepted', async () => {
    const upstream = await startRecordingUpstream();
    const refusing = await startCollector([500]);
    const flaky = await startCollector([503, 503, 200]);
    const gwRefused = await startTestGateway({ routes: [{ name: 'api', prefix: '/api', upstream: upstream.url }], tracing: { enabled: true, endpoint: refusing.url, batch: { interval: '1h' } } });
    const gwRetried = await startTestGateway({ routes: [{ name: 'api', prefix: '/api', upstream: upstream.url }], tracing: { enabled: true, endpoint: flaky.url, batch: { interval: '1h' } } });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await get(`${gwRefused.url}/api/x`)).status, 200);
      await gwRefused.tracing?.exporter.flush();
      assert.equal(refusing.attempts(), 1, 'one batch, not retried');
      assert.deepEqual(gwRefused.tracing?.exporter.stats, { exported: 0, dropped: 0, failed: 6, failedExports: 1, retries: 0 }, 'three requests, a SERVER and a CLIENT span each');
      assert.equal((await get(`${gwRetried.url}/api/x`)).status, 200);
      await gwRetried.tracing?.exporter.flush();
      assert.equal(flaky.attempts(), 3);
      assert.equal(flaky.spans().length, 2);
      assert.deepEqual(gwRetried.tracing?.exporter.stats, { exported: 2, dropped: 0, failed: 0, failedExports: 0, retries: 2 });
    } finally {
      await gwRefused.stop();
      await gwRetried.stop();
      await refusing.close();
      await flaky.close();
      await upstream.close();
    }
  });
});
