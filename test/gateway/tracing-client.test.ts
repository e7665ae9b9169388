/**
 * The upstream call's CLIENT span through a real gateway (docs/gateway.md § Tracing): child of the request's SERVER
 * span, named in the traceparent the upstream receives, with the OTel HTTP client attributes and the gateway's error
 * code on a failure. Then what the environment brings to the export: collector headers from
 * OTEL_EXPORTER_OTLP_HEADERS (reaching the collector, never a log line, registered with the redactor) and the
 * resource attributes of OTEL_RESOURCE_ATTRIBUTES.
 *
 * The collector is a node:http server on 127.0.0.1 recording what is POSTed (as in tracing.test.ts); the upstreams
 * are real servers on loopback.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRedactor } from '../../src/redact/index.js';
import { startRecordingUpstream, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import type { OtlpAttribute, OtlpSpan } from '../helpers/otlp.js';

interface OtlpBody {
  resourceSpans: Array<{ resource: { attributes: OtlpAttribute[] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
}

async function startCollector() {
  const posts: Array<{ headers: IncomingHttpHeaders; text: string; body: OtlpBody }> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      posts.push({ headers: req.headers, text, body: JSON.parse(text) as OtlpBody });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`,
    posts,
    spans: () => posts.flatMap((p) => p.body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans))),
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

function get(url: string): Promise<{ status: number; requestId: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, requestId: String(res.headers['x-request-id']) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const attrs = (list: OtlpAttribute[]): Record<string, string | undefined> => Object.fromEntries(list.map((a) => [a.key, a.value.stringValue ?? a.value.intValue]));
const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const STATUS_ERROR = 2;

describe('the upstream call\'s CLIENT span', () => {
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let failing: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let gw: TestGateway;
  let downPort: number;
  before(async () => {
    upstream = await startRecordingUpstream();
    failing = await startRecordingUpstream((_req, res) => res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway upstream'));
    collector = await startCollector();
    downPort = await closedPort();
    gw = await startTestGateway({
      routes: [
        { name: 'api', prefix: '/api', upstream: upstream.url },
        { name: 'down', prefix: '/down', upstream: `http://127.0.0.1:${downPort}` },
        { name: 'failing', prefix: '/failing', upstream: failing.url },
      ],
      tracing: { enabled: true, endpoint: collector.url, batch: { interval: '1h' } },
    });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
    await failing.close();
    await collector.close();
  });
  /** The request's SERVER span and the CLIENT spans under it. */
  const spansOf = async (requestId: string) => {
    await gw.tracing?.exporter.flush();
    const server = collector.spans().filter((s) => s.kind === SPAN_KIND_SERVER && attrs(s.attributes)['gatehouse.request_id'] === requestId);
    assert.equal(server.length, 1);
    const s = server[0] as OtlpSpan;
    const clients = collector.spans().filter((c) => c.kind === SPAN_KIND_CLIENT && c.traceId === s.traceId);
    return { server: s, clients };
  };

  test('child of the SERVER span; the upstream\'s traceparent names it; HTTP client attributes, no path, query or header', async () => {
    const res = await get(`${gw.url}/api/items/7?access_token=QUERYSECRET42`);
    assert.equal(res.status, 200);
    const { server, clients } = await spansOf(res.requestId);
    assert.equal(clients.length, 1);
    const client = clients[0] as OtlpSpan;
    assert.equal(client.parentSpanId, server.spanId, 'the CLIENT span is the SERVER span\'s child');
    assert.notEqual(client.spanId, server.spanId);
    assert.equal(client.name, 'GET');
    assert.deepEqual(client.status, { code: 0 });
    assert.deepEqual(attrs(client.attributes), {
      'http.request.method': 'GET', 'server.address': '127.0.0.1', 'server.port': new URL(upstream.url).port, 'url.scheme': 'http', 'http.response.status_code': '200',
    });
    // Inside its parent: sent after the request arrived, ended before the answer was done.
    assert.ok(BigInt(client.startTimeUnixNano) >= BigInt(server.startTimeUnixNano));
    assert.ok(BigInt(client.endTimeUnixNano) <= BigInt(server.endTimeUnixNano));
    assert.ok(BigInt(client.endTimeUnixNano) >= BigInt(client.startTimeUnixNano));
    const seen = upstream.requests.find((r) => r.headers['x-request-id'] === res.requestId);
    assert.equal(seen?.headers['traceparent'], `00-${server.traceId}-${client.spanId}-01`, 'the upstream\'s span will be the CLIENT span\'s child');
    const text = JSON.stringify(client);
    for (const leak of ['QUERYSECRET42', 'access_token', '/api/items', 'url.full', 'url.path', 'x-request-id']) assert.ok(!text.includes(leak), leak);
  });

  test('an upstream that is down: the CLIENT span ends in ERROR with the gateway\'s code and no status; the answer is 502', async () => {
    const res = await get(`${gw.url}/down/x`);
    assert.equal(res.status, 502);
    const { server, clients } = await spansOf(res.requestId);
    assert.equal(server.status.code, STATUS_ERROR);
    assert.equal(attrs(server.attributes)['gatehouse.error_code'], 'GH_UPSTREAM_UNAVAILABLE');
    assert.equal(attrs(server.attributes)['http.response.status_code'], '502');
    assert.equal(clients.length, 1);
    const client = clients[0] as OtlpSpan;
    assert.equal(client.parentSpanId, server.spanId);
    assert.equal(client.status.code, STATUS_ERROR);
    assert.deepEqual(attrs(client.attributes), {
      'http.request.method': 'GET', 'server.address': '127.0.0.1', 'server.port': String(downPort), 'url.scheme': 'http',
      'error.type': 'GH_UPSTREAM_UNAVAILABLE', 'gatehouse.error_code': 'GH_UPSTREAM_UNAVAILABLE',
    });
  });

  test('an upstream answering 502 itself: the CLIENT span records the status, ERROR, error.type "502", no gateway code', async () => {
    const res = await get(`${gw.url}/failing/x`);
    assert.equal(res.status, 502);
    const { server, clients } = await spansOf(res.requestId);
    const client = clients[0] as OtlpSpan;
    assert.equal(clients.length, 1);
    assert.equal(client.parentSpanId, server.spanId);
    assert.equal(client.status.code, STATUS_ERROR);
    const a = attrs(client.attributes);
    assert.equal(a['http.response.status_code'], '502');
    assert.equal(a['error.type'], '502');
    assert.equal(a['gatehouse.error_code'], undefined);
    assert.equal(server.status.code, STATUS_ERROR);
  });

  test('a request no upstream took (no route) has its SERVER span and no CLIENT span', async () => {
    const res = await get(`${gw.url}/nowhere`);
    assert.equal(res.status, 404);
    const { server, clients } = await spansOf(res.requestId);
    assert.equal(attrs(server.attributes)['gatehouse.error_code'], 'GH_NOT_FOUND');
    assert.deepEqual(clients, []);
  });
});

test('an unsampled request makes no CLIENT span: the upstream\'s traceparent (flag 00) names the SERVER span, nothing is exported', async () => {
  const upstream = await startRecordingUpstream();
  const collector = await startCollector();
  const gw = await startTestGateway({ routes: [{ name: 'api', prefix: '/api', upstream: upstream.url }], tracing: { enabled: true, endpoint: collector.url, sample_ratio: 0, batch: { max_spans: 1 } } });
  try {
    const res = await get(`${gw.url}/api/x`);
    assert.equal(res.status, 200);
    await gw.tracing?.exporter.flush();
    assert.equal(collector.posts.length, 0);
    assert.equal(gw.tracing?.exporter.queueLength, 0);
    assert.match(String(upstream.requests[0]?.headers['traceparent']), /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  } finally {
    await gw.stop();
    await upstream.close();
    await collector.close();
  }
});

describe('what the environment brings to the export', () => {
  const KEY = 'otlp-env-key/0123456789abcdef';
  const TENANT = 'tenant-env-value-42';

  test('OTEL_EXPORTER_OTLP_TRACES_HEADERS reach the collector (decoded), never a log line, and the redactor masks them', async () => {
    const upstream = await startRecordingUpstream();
    const collector = await startCollector();
    const env = {
      OTEL_EXPORTER_OTLP_HEADERS: 'x-general=general-header-never-sent',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: `x-api-key=${encodeURIComponent(KEY)},X-Tenant=${TENANT}`,
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url.replace('/v1/traces', ''),
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=staging,team=edge,service.name=from-attributes',
    };
    const gw = await startTestGateway({ routes: [{ name: 'api', prefix: '/api', upstream: upstream.url }], tracing: { enabled: true, resource_attributes: { team: 'core' }, batch: { interval: '1h' } } }, { env });
    try {
      const res = await get(`${gw.url}/api/x`);
      assert.equal(res.status, 200);
      await gw.tracing?.exporter.flush();
      const post = collector.posts.find((p) => p.text.includes(res.requestId));
      assert.ok(post, 'the spans reached the collector at OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces');
      assert.equal(post.headers['x-api-key'], KEY, 'percent-decoded');
      assert.equal(post.headers['x-tenant'], TENANT);
      assert.equal(post.headers['x-general'], undefined, 'the TRACES_ variable replaces the general one');
      assert.deepEqual(attrs(post.body.resourceSpans[0]?.resource.attributes ?? []), {
        'service.name': 'from-attributes', 'service.version': attrs(post.body.resourceSpans[0]?.resource.attributes ?? [])['service.version'], 'deployment.environment': 'staging', team: 'core',
      });
      const logged = gw.log.lines.join('\n');
      for (const leak of [KEY, encodeURIComponent(KEY), TENANT]) {
        assert.ok(!logged.includes(leak), `the log holds ${leak.slice(0, 8)}`);
        assert.ok(!post.text.includes(leak), 'nor does the span payload');
      }
      // Registered with the process-wide known-secret registry, as resolved header references are.
      const masked = createRedactor(gw.config.redact).redactText(`upstream said: ${KEY} / ${TENANT}`);
      assert.ok(!masked.includes(KEY) && !masked.includes(TENANT), masked);
    } finally {
      await gw.stop();
      await upstream.close();
      await collector.close();
    }
  });

  test('tracing.headers references are registered with the redactor too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-tracing-ref-'));
    const collector = await startCollector();
    const fileKey = 'collector-file-key-9f8e7d6c5b4a';
    writeFileSync(join(dir, 'collector_key'), fileKey, { mode: 0o600 });
    assert.ok(createRedactor().redactText(fileKey).includes(fileKey), 'not known before the start');
    const gw = await startTestGateway({ routes: [], secrets: { file_dir: dir }, tracing: { enabled: true, endpoint: collector.url, headers: { 'x-collector-key': 'file:collector_key' } } });
    try {
      assert.ok(!createRedactor(gw.config.redact).redactText(`value ${fileKey}`).includes(fileKey));
    } finally {
      await gw.stop();
      await collector.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
