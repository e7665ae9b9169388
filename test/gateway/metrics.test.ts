/**
 * Prometheus metrics (metrics.*): the registry and the text format, then a real gateway on loopback with its metrics
 * listener (counts per route, method and status, refusals by code, the duration histogram, the guards of the port),
 * and the production refusal.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { ApprovalStore } from '../../src/approval/index.js';
import { systemClock } from '../../src/core/clock.js';
import { openStore } from '../../src/store/index.js';
import { validateConfig } from '../../src/config/index.js';
import { productionRefusals } from '../../src/doctor/index.js';
import { checkSnapshot, DURATION_BUCKETS, GatewayMetrics, renderMetrics, type MetricsSnapshot } from '../../src/gateway/metrics.js';
import { metricSample, startRecordingUpstream, startTestGateway, type TestGateway } from '../helpers/gateway.js';

const gauges = { inflight: () => 2, connections: () => 3, auditHealthy: () => true };

const sample = metricSample;

describe('registry and text format', () => {
  test('counts per route, method and status; refusals by code; a cumulative histogram whose +Inf bucket is the count', () => {
    const m = new GatewayMetrics(gauges);
    try {
      m.observe('echo', 'GET', 200, 0.0004, undefined);
      m.observe('echo', 'GET', 200, 0.03, undefined);
      m.observe('echo', 'POST', 403, 0.002, 'GH_SCOPE_MISSING');
      m.observe('-', 'PROPFIND', 404, 0, 'GH_NOT_FOUND');
      m.observe('echo', 'GET', 1234, 20, undefined);
      const text = renderMetrics([{ snapshot: m.snapshot() }], { version: '9.9.9' });
      assert.equal(sample(text, 'gatehouse_http_requests_total{route="echo",method="GET",status="200"}'), 2);
      assert.equal(sample(text, 'gatehouse_http_requests_total{route="echo",method="POST",status="403"}'), 1);
      // Unknown methods and impossible statuses are folded, never taken as labels.
      assert.equal(sample(text, 'gatehouse_http_requests_total{route="-",method="other",status="404"}'), 1);
      assert.equal(sample(text, 'gatehouse_http_requests_total{route="echo",method="GET",status="0"}'), 1);
      assert.equal(sample(text, 'gatehouse_http_requests_refused_total{route="echo",code="GH_SCOPE_MISSING"}'), 1);
      assert.equal(sample(text, 'gatehouse_http_request_duration_seconds_bucket{route="echo",le="0.001"}'), 1);
      assert.equal(sample(text, 'gatehouse_http_request_duration_seconds_bucket{route="echo",le="0.0025"}'), 2);
      assert.equal(sample(text, 'gatehouse_http_request_duration_seconds_bucket{route="echo",le="0.05"}'), 3);
      assert.equal(sample(text, 'gatehouse_http_request_duration_seconds_bucket{route="echo",le="10"}'), 3);
      assert.equal(sample(text, 'gatehouse_http_request_duration_seconds_bucket{route="echo",le="+Inf"}'), 4);
      assert.equal(sample(text, 'gatehouse_http_request_duration_seconds_count{route="echo"}'), 4);
      assert.ok(Math.abs((sample(text, 'gatehouse_http_request_duration_seconds_sum{route="echo"}') ?? 0) - 20.0324) < 1e-9);
      assert.equal(sample(text, 'gatehouse_http_requests_in_flight'), 2);
      assert.equal(sample(text, 'gatehouse_connections_open'), 3);
      assert.equal(sample(text, 'gatehouse_audit_healthy'), 1);
      assert.equal(sample(text, `gatehouse_build_info{version="9.9.9",node="${process.version}"}`), 1);
      assert.ok((sample(text, 'process_resident_memory_bytes') ?? 0) > 0);
      // Every family is declared once, before its samples.
      const types = text.split('\n').filter((l) => l.startsWith('# TYPE '));
      assert.equal(new Set(types).size, types.length);
      assert.match(text, /# TYPE gatehouse_http_request_duration_seconds histogram\n/);
      assert.ok(text.endsWith('\n'));
    } finally {
      m.close();
    }
  });

  test('label values are escaped (backslash, quote, line feed): a value cannot start a sample of its own', () => {
    const m = new GatewayMetrics(gauges);
    try {
      const snap = m.snapshot();
      snap.answered.push(['a"b\\c\nd_fake_total 1', 'GET', 200, 1]);
      const text = renderMetrics([{ snapshot: snap }], { version: '1' });
      assert.ok(text.includes('route="a\\"b\\\\c\\nd_fake_total 1"'));
      assert.equal(text.split('\n').filter((l) => l.startsWith('d_fake_total')).length, 0);
    } finally {
      m.close();
    }
  });

  test('workers: counters are summed, gauges summed, audit health is the worst, a silent worker is up 0', () => {
    const a = new GatewayMetrics(gauges);
    const b = new GatewayMetrics({ ...gauges, auditHealthy: () => false });
    try {
      a.observe('echo', 'GET', 200, 0.001, undefined);
      b.observe('echo', 'GET', 200, 0.001, undefined);
      b.observe('echo', 'GET', 200, 0.001, undefined);
      const text = renderMetrics([{ worker: 1, snapshot: a.snapshot() }, { worker: 2, snapshot: b.snapshot() }, { worker: 3, snapshot: undefined }], { version: '1' });
      assert.equal(sample(text, 'gatehouse_http_requests_total{route="echo",method="GET",status="200"}'), 3);
      assert.equal(sample(text, 'gatehouse_http_request_duration_seconds_count{route="echo"}'), 3);
      assert.equal(sample(text, 'gatehouse_http_requests_in_flight'), 4);
      assert.equal(sample(text, 'gatehouse_audit_healthy'), 0);
      assert.equal(sample(text, 'gatehouse_worker_up{worker="1"}'), 1);
      assert.equal(sample(text, 'gatehouse_worker_up{worker="3"}'), 0);
      assert.ok((sample(text, 'process_resident_memory_bytes{worker="2"}') ?? 0) > 0);
      assert.equal(sample(text, 'process_resident_memory_bytes{worker="3"}'), undefined);
    } finally {
      a.close();
      b.close();
    }
  });

  test('a snapshot from another process is checked before it is summed', () => {
    const m = new GatewayMetrics(gauges);
    try {
      m.observe('echo', 'GET', 200, 0.001, undefined);
      const good = m.snapshot();
      assert.ok(checkSnapshot(structuredClone(good)));
      const bad: Array<(s: MetricsSnapshot) => void> = [
        (s) => (s.answered[0]![3] = Number.NaN),
        (s) => (s.answered[0]![0] = 'x'.repeat(200)),
        (s) => (s.durations[0]![1] = [1, 2]),
        (s) => (s.refused = 'no' as unknown as MetricsSnapshot['refused']),
        (s) => (s.gauges.inflight = -1),
        (s) => delete (s.process as Partial<MetricsSnapshot['process']>).cpu_seconds,
      ];
      for (const spoil of bad) {
        const s = structuredClone(good);
        spoil(s);
        assert.equal(checkSnapshot(s), undefined);
      }
      assert.equal(checkSnapshot(null), undefined);
      assert.equal(DURATION_BUCKETS.length + 1, good.durations[0]![1].length);
    } finally {
      m.close();
    }
  });
});

describe('through a gateway', () => {
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let gw: TestGateway;
  const token = 'metrics-scrape-token-0123456789abcdef';
  before(async () => {
    upstream = await startRecordingUpstream();
    gw = await startTestGateway({
      routes: [
        { name: 'open', prefix: '/open', upstream: upstream.url },
        { name: 'closed', prefix: '/closed', upstream: upstream.url, auth_required: true },
      ],
      auth: { methods: ['token'] },
      metrics: { enabled: true, listen: '127.0.0.1:0', token },
    });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });
  const scrape = async (headers: Record<string, string> = { authorization: `Bearer ${token}` }, path = '/metrics', method: 'GET' | 'HEAD' | 'POST' = 'GET') => {
    const url = new URL(gw.metricsUrl as string);
    const res = await request(`${url.origin}${path}`, { method, headers });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  };

  test('requests are counted by route, method and status; refusals by code; nothing of the request becomes a label', async () => {
    for (let i = 0; i < 3; i++) await (await request(`${gw.url}/open/item?api_key=sk-live-should-not-appear`)).body.dump();
    await (await request(`${gw.url}/closed/x`)).body.dump();
    await (await request(`${gw.url}/nowhere/secret-path`)).body.dump();
    const { status, headers, body } = await scrape();
    assert.equal(status, 200);
    assert.equal(headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(sample(body, 'gatehouse_http_requests_total{route="open",method="GET",status="200"}'), 3);
    assert.equal(sample(body, 'gatehouse_http_requests_total{route="closed",method="GET",status="401"}'), 1);
    assert.equal(sample(body, 'gatehouse_http_requests_refused_total{route="closed",code="GH_AUTH_REQUIRED"}'), 1);
    assert.equal(sample(body, 'gatehouse_http_requests_total{route="-",method="GET",status="404"}'), 1);
    assert.equal(sample(body, 'gatehouse_http_request_duration_seconds_count{route="open"}'), 3);
    assert.equal(sample(body, 'gatehouse_audit_healthy'), 1);
    for (const leak of ['sk-live', 'secret-path', 'api_key', token]) assert.ok(!body.includes(leak), leak);
  });

  test('gatehouse_approvals_pending counts the shared queue: a pending request, then none once it is decided', async () => {
    assert.equal(sample((await scrape()).body, 'gatehouse_approvals_pending'), 0);
    // Another process's view of the gateway's store, as `gatehouse approvals` has.
    const store = openStore({ kind: 'sqlite', path: join(gw.stateDir, 'state.db') });
    try {
      const queue = new ApprovalStore(store, systemClock, 600_000);
      const { record } = await queue.request({ principal: 'ops', kind: 'tool', subject: 'install_package', args: { package_name: 'nginx' }, risk_level: 'critical', mode: 'queue' });
      assert.equal(sample((await scrape()).body, 'gatehouse_approvals_pending'), 1);
      await queue.decide(record.id, 'approve', { approver: 'alice' });
      assert.equal(sample((await scrape()).body, 'gatehouse_approvals_pending'), 0);
    } finally {
      await store.close();
    }
  });

  test('the token is required (401 with a challenge), compared whole; other paths 404, other methods 405, HEAD has no body', async () => {
    const none = await scrape({});
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], 'Bearer realm="gatehouse-metrics"');
    assert.ok(!none.body.includes('gatehouse_'));
    assert.equal((await scrape({ authorization: `Bearer ${token.slice(0, -1)}` })).status, 401);
    assert.equal((await scrape({ authorization: `Bearer ${token}x` })).status, 401);
    assert.equal((await scrape({ authorization: `Basic ${token}` })).status, 401);
    assert.equal((await scrape(undefined, '/other')).status, 404);
    assert.equal((await scrape(undefined, '/metrics', 'POST')).status, 405);
    const head = await scrape(undefined, '/metrics', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    const lines = gw.log.lines.filter((l) => l.includes('metrics scrape refused'));
    assert.ok(lines.length >= 3);
    assert.ok(lines.every((l) => !l.includes(token.slice(0, 12))));
  });
});

test('metrics.allowed_ips: a scraper outside the list gets 403 before its token is looked at', async () => {
  const gw = await startTestGateway({ metrics: { enabled: true, listen: '127.0.0.1:0', allowed_ips: ['10.0.0.0/8'] } });
  try {
    const res = await request(gw.metricsUrl as string);
    assert.equal(res.statusCode, 403);
    await res.body.dump();
  } finally {
    await gw.stop();
  }
});

test('metrics off (the default): no listener, no per-request counting', async () => {
  const gw = await startTestGateway({});
  try {
    assert.equal(gw.metricsUrl, undefined);
    assert.equal(gw.metrics, undefined);
  } finally {
    await gw.stop();
  }
});

test('a metrics port that cannot be opened stops the start with GH_LISTEN_FAILED naming metrics.listen', async () => {
  const first = await startTestGateway({ metrics: { enabled: true, listen: '127.0.0.1:0' } });
  try {
    const taken = new URL(first.metricsUrl as string).port;
    await assert.rejects(startTestGateway({ metrics: { enabled: true, listen: `127.0.0.1:${taken}` } }), (e: { code?: string; message?: string }) => {
      assert.equal(e.code, 'GH_LISTEN_FAILED');
      assert.match(String(e.message), new RegExp(`^metrics\\.listen: cannot listen on 127\\.0\\.0\\.1:${taken}`));
      return true;
    });
  } finally {
    await first.stop();
  }
});

describe('configuration', () => {
  const cfg = (metrics: Record<string, unknown>) => validateConfig({ metrics }, { env: {} });
  test('production refuses metrics on a reachable address without a token; loopback or a token is accepted', () => {
    const refused = (m: Record<string, unknown>) => productionRefusals(cfg(m)).filter((p) => p.startsWith('metrics.'));
    assert.equal(refused({ enabled: true, listen: '0.0.0.0:9464' }).length, 1);
    assert.match(refused({ enabled: true, listen: '[::]:9464' })[0] ?? '', /not loopback/);
    assert.deepEqual(refused({ enabled: true, listen: '127.0.0.1:9464' }), []);
    assert.deepEqual(refused({ enabled: true, listen: '[::1]:9464' }), []);
    assert.deepEqual(refused({ enabled: true, listen: '0.0.0.0:9464', token: 'x'.repeat(32) }), []);
    assert.deepEqual(refused({ enabled: false, listen: '0.0.0.0:9464' }), []);
  });
  test('a short token, a malformed CIDR, a relative path and unknown keys are config errors naming the path', () => {
    for (const [m, path] of [
      [{ token: 'short' }, 'metrics.token'],
      [{ allowed_ips: ['10.0.0.0/'] }, 'metrics.allowed_ips'],
      [{ path: 'metrics' }, 'metrics.path'],
      [{ listn: '127.0.0.1:1' }, 'metrics'],
    ] as const) {
      assert.throws(() => cfg(m), (e: { code?: string; message?: string }) => e.code === 'GH_CONFIG_INVALID' && String(e.message).includes(path), JSON.stringify(m));
    }
  });
});
