/**
 * /readyz beyond the store (issue 2: "upstreams and stores reachable"): the upstream prober against real loopback
 * servers (reachable, refused, recovered; one connect per origin per interval however many clients ask; nothing sent;
 * no address in what it reports), then a real gateway's /readyz (503 naming the route only, routes with
 * readiness: ignore left out), and audit sinks reported as degraded (200) with their metric.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { request } from 'undici';
import { ManualClock, type Clock } from '../../src/core/clock.js';
import { validateConfig } from '../../src/config/index.js';
import { checkSnapshot, GatewayMetrics, renderMetrics } from '../../src/gateway/metrics.js';
import { degradedSinks, publicSinkReason, UpstreamProber } from '../../src/gateway/readiness.js';
import { memoryLogger, metricSample, startTestGateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/ports.js';
import { until } from '../helpers/until.js';

/** A TCP server on 127.0.0.1 that counts the connections it accepted and the bytes it received. */
interface CountingServer {
  port: number;
  accepted: number;
  bytes: number;
  close(): Promise<void>;
}

async function countingServer(port = 0): Promise<CountingServer> {
  const sockets = new Set<Socket>();
  const s: CountingServer = { port: 0, accepted: 0, bytes: 0, close: async () => {} };
  const server: Server = createServer((socket) => {
    s.accepted++;
    sockets.add(socket);
    socket.on('data', (d: Buffer) => (s.bytes += d.length));
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  s.port = (server.address() as AddressInfo).port;
  s.close = () =>
    new Promise<void>((r) => {
      for (const x of sockets) x.destroy();
      server.close(() => r());
    });
  return s;
}

/** Lets the server side see what the client side already did (an accepted connection, a byte). */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 50));

const warnLines = (lines: string[], msg: string): Array<Record<string, unknown>> =>
  lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['level'] === 'warn' && l['msg'] === msg);

describe('upstream prober', () => {
  test('a listening upstream is ready; a refused one is a problem naming the route, nothing else', async () => {
    const up = await countingServer();
    const downPort = await freePort();
    const log = memoryLogger();
    const prober = new UpstreamProber(
      [
        { name: 'api', url: `http://127.0.0.1:${up.port}/base`, connectTimeoutMs: 5000 },
        { name: 'billing', url: `https://127.0.0.1:${downPort}`, connectTimeoutMs: 5000 },
      ],
      { logger: log, clock: new ManualClock() },
    );
    try {
      const problems = await prober.problems();
      assert.deepEqual(problems, ['upstream of route "billing" unreachable']);
      const text = JSON.stringify(problems);
      for (const leak of [String(downPort), String(up.port), '127.0.0.1', 'ECONNREFUSED', 'https']) assert.ok(!text.includes(leak), leak);
      await settle();
      // Connected and let go: nothing sent, not even a TLS ClientHello to the https one's port.
      assert.equal(up.accepted, 1);
      assert.equal(up.bytes, 0);
      // The details are the operator's, in the log.
      const [warn, ...more] = warnLines(log.lines, 'readiness: upstream unreachable; /readyz reports its routes not ready');
      assert.equal(more.length, 0);
      assert.equal(warn?.['upstream'], `127.0.0.1:${downPort}`);
      assert.equal(warn?.['code'], 'ECONNREFUSED');
      assert.deepEqual(warn?.['routes'], ['billing']);
    } finally {
      prober.close();
      await up.close();
    }
  });

  test('recovers once the upstream listens, after the interval; logs each change of state once, not each probe', async () => {
    const port = await freePort();
    const clock = new ManualClock();
    const log = memoryLogger();
    const prober = new UpstreamProber([{ name: 'api', url: `http://127.0.0.1:${port}`, connectTimeoutMs: 5000 }], { logger: log, clock });
    let up: CountingServer | undefined;
    try {
      for (let i = 0; i < 3; i++) {
        if (i > 0) clock.advance(2000);
        assert.deepEqual(await prober.problems(), ['upstream of route "api" unreachable']);
      }
      assert.equal(prober.probes, 3);
      assert.equal(warnLines(log.lines, 'readiness: upstream unreachable; /readyz reports its routes not ready').length, 1);
      up = await countingServer(port);
      // Still the cached answer within the interval.
      clock.advance(1999);
      assert.deepEqual(await prober.problems(), ['upstream of route "api" unreachable']);
      clock.advance(1);
      assert.deepEqual(await prober.problems(), []);
      clock.advance(2000);
      assert.deepEqual(await prober.problems(), []);
      const again = warnLines(log.lines, 'readiness: upstream reachable again');
      assert.equal(again.length, 1);
      assert.equal(again[0]?.['upstream'], `127.0.0.1:${port}`);
    } finally {
      prober.close();
      await up?.close();
    }
  });

  test('clients do not drive probes: many concurrent and rapid calls make one connect per origin per interval', async () => {
    const a = await countingServer();
    const b = await countingServer();
    const clock = new ManualClock();
    const routes = [
      { name: 'one', url: `http://127.0.0.1:${a.port}/x`, connectTimeoutMs: 5000 },
      // Same host:port as "one", another path and scheme: the same probe.
      { name: 'two', url: `http://127.0.0.1:${a.port}/y`, connectTimeoutMs: 1000 },
      { name: 'three', url: `http://127.0.0.1:${b.port}`, connectTimeoutMs: 5000 },
    ];
    const prober = new UpstreamProber(routes, { logger: memoryLogger(), clock });
    try {
      assert.equal(prober.origins, 2);
      const answers = await Promise.all(Array.from({ length: 50 }, () => prober.problems()));
      assert.ok(answers.every((p) => p.length === 0));
      for (let i = 0; i < 20; i++) assert.deepEqual(await prober.problems(), []);
      await settle();
      assert.equal(a.accepted, 1);
      assert.equal(b.accepted, 1);
      clock.advance(2000);
      await Promise.all(Array.from({ length: 50 }, () => prober.problems()));
      await settle();
      assert.equal(a.accepted, 2);
      assert.equal(b.accepted, 2);
    } finally {
      prober.close();
      await a.close();
      await b.close();
    }
  });

  test('after close nothing is probed', async () => {
    const a = await countingServer();
    const prober = new UpstreamProber([{ name: 'api', url: `http://127.0.0.1:${a.port}`, connectTimeoutMs: 5000 }], { logger: memoryLogger() });
    prober.close();
    assert.deepEqual(await prober.problems(), []);
    await settle();
    assert.equal(a.accepted, 0);
    await a.close();
  });
});

describe('audit sink reasons in /readyz', () => {
  test('the sinks\' own phrases pass; anything else (a URL, an address) becomes a fixed phrase', () => {
    for (const ok of ['delivery failed (ECONNREFUSED)', 'delivery stalled (a batch has waited 12 s)', 'queue full (40 records dropped)', 'endpoint unreachable (UND_ERR_CONNECT_TIMEOUT)', 'endpoint refused 3 batches in a row (last answer 401)', 'endpoint answered 503']) {
      assert.equal(publicSinkReason(ok), ok);
    }
    for (const bad of ['connect ECONNREFUSED 10.0.0.7:514', 'endpoint unreachable (https://siem.internal/ingest)', 'delivery failed (ECONNREFUSED 10.0.0.7)', undefined]) {
      assert.equal(publicSinkReason(bad), 'not delivering');
    }
    assert.deepEqual(degradedSinks([{ name: 'stdout', ok: true }, { name: 'http[1]', ok: false, reason: 'endpoint answered 502' }]), ['audit sink http[1]: endpoint answered 502']);
  });

  test('gatehouse_audit_sink_up: per sink, 0 when any process\'s copy is down; a malformed row voids the snapshot', () => {
    const m1 = new GatewayMetrics({ inflight: () => 0, connections: () => 0, auditHealthy: () => true });
    const m2 = new GatewayMetrics({ inflight: () => 0, connections: () => 0, auditHealthy: () => true });
    try {
      m1.watchAuditSinks(() => [{ name: 'syslog-tcp', ok: true }, { name: 'http', ok: true }]);
      m2.watchAuditSinks(() => [{ name: 'syslog-tcp', ok: false }, { name: 'http', ok: true }]);
      const s1 = m1.snapshot();
      const s2 = m2.snapshot();
      assert.ok(checkSnapshot(JSON.parse(JSON.stringify(s2))));
      const text = renderMetrics([{ worker: 1, snapshot: s1 }, { worker: 2, snapshot: s2 }], { version: '0' });
      assert.equal(metricSample(text, 'gatehouse_audit_sink_up{sink="syslog-tcp"}'), 0);
      assert.equal(metricSample(text, 'gatehouse_audit_sink_up{sink="http"}'), 1);
      assert.equal(checkSnapshot({ ...s1, audit_sinks: [['http', 2]] }), undefined);
      assert.equal(checkSnapshot({ ...s1, audit_sinks: 'x' }), undefined);
      // No sinks configured: no family.
      const none = renderMetrics([{ snapshot: new GatewayMetrics({ inflight: () => 0, connections: () => 0, auditHealthy: () => true }).snapshot() }], { version: '0' });
      assert.ok(!none.includes('gatehouse_audit_sink_up'));
    } finally {
      m1.close();
      m2.close();
    }
  });
});

describe('routes[].readiness', () => {
  test('defaults to required; ignore is accepted; anything else is refused naming the path', () => {
    const base = { state_dir: '/tmp/x' };
    const cfg = validateConfig({ ...base, routes: [{ prefix: '/a', upstream: 'http://127.0.0.1:1' }, { prefix: '/b', upstream: 'http://127.0.0.1:2', readiness: 'ignore' }] }, { env: {} });
    assert.equal(cfg.routes[0]?.readiness, 'required');
    assert.equal(cfg.routes[1]?.readiness, 'ignore');
    assert.throws(() => validateConfig({ ...base, routes: [{ prefix: '/a', upstream: 'http://127.0.0.1:1', readiness: 'optional' }] }, { env: {} }), /routes\.0\.readiness|routes\[0\]\.readiness/);
  });
});

/** A clock that runs with real time, plus whatever the test adds: the cache expires on demand, nothing else moves. */
function offsetClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (ms) => void (offset += ms) };
}

describe('a real gateway\'s /readyz', () => {
  const clock = offsetClock();
  let api: CountingServer;
  let optional: CountingServer;
  let gw: Awaited<ReturnType<typeof startTestGateway>>;
  before(async () => {
    api = await countingServer();
    optional = await countingServer();
    gw = await startTestGateway(
      {
        routes: [
          { name: 'api', prefix: '/api', upstream: `http://127.0.0.1:${api.port}/v1`, connect_timeout: '1s' },
          { name: 'extra', prefix: '/extra', upstream: `http://127.0.0.1:${optional.port}`, readiness: 'ignore' },
        ],
      },
      { clock },
    );
  });
  after(async () => {
    await gw.stop();
    await api.close();
    await optional.close();
  });

  const readyz = async (): Promise<{ status: number; text: string }> => {
    const res = await request(`${gw.url}/readyz`);
    return { status: res.statusCode, text: await res.body.text() };
  };

  test('200 while the upstream accepts connections, 503 naming the route while it does not, 200 again after', async () => {
    assert.deepEqual(await readyz(), { status: 200, text: '{"status":"ready"}' });
    await api.close();
    // Cached: the next probe waits for the interval.
    assert.equal((await readyz()).status, 200);
    clock.advance(2000);
    const down = await readyz();
    assert.equal(down.status, 503);
    assert.deepEqual(JSON.parse(down.text), { status: 'not_ready', problems: ['upstream of route "api" unreachable'] });
    for (const leak of [String(api.port), '127.0.0.1', 'ECONNREFUSED', '/v1', 'http']) assert.ok(!down.text.includes(leak), leak);
    api = await countingServer(api.port);
    clock.advance(2000);
    assert.deepEqual(await readyz(), { status: 200, text: '{"status":"ready"}' });
    // Once each way in the log, with the address there and only there.
    assert.equal(warnLines(gw.log.lines, 'readiness: upstream unreachable; /readyz reports its routes not ready').length, 1);
    assert.equal(warnLines(gw.log.lines, 'readiness: upstream reachable again').length, 1);
  });

  test('a client hammering /readyz makes at most one connect per interval; a readiness: ignore route is never probed', async () => {
    clock.advance(2000);
    const before = api.accepted;
    const answers = await Promise.all(Array.from({ length: 40 }, () => readyz()));
    assert.ok(answers.every((a) => a.status === 200));
    for (let i = 0; i < 10; i++) assert.equal((await readyz()).status, 200);
    await settle();
    assert.equal(api.accepted - before, 1);
    assert.equal(api.bytes, 0);
    assert.equal(optional.accepted, 0);
  });
});

describe('audit sinks not delivering: /readyz stays 200 and lists them; the metric says 0', () => {
  let gw: Awaited<ReturnType<typeof startTestGateway>>;
  let syslogPort: number;
  let httpPort: number;
  let upstream: CountingServer;
  before(async () => {
    syslogPort = await freePort();
    httpPort = await freePort();
    upstream = await countingServer();
    gw = await startTestGateway({
      routes: [{ name: 'api', prefix: '/api', upstream: `http://127.0.0.1:${upstream.port}` }],
      metrics: { enabled: true, listen: '127.0.0.1:0' },
      audit: {
        sinks: [
          { type: 'syslog', transport: 'tcp', port: syslogPort, batch_interval: '10ms' },
          { type: 'http', url: `http://127.0.0.1:${httpPort}/ingest`, batch_interval: '10ms', retry_min: '50ms', retry_max: '200ms' },
          { type: 'http', url: `http://127.0.0.1:${httpPort}/other`, batch_interval: '10ms', retry_min: '50ms', retry_max: '200ms' },
        ],
      },
    });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  test('degraded names each sink and a fixed reason, never its address; gatehouse_audit_sink_up is 0 for each', async () => {
    // gateway.start is a record: every sink has something to deliver.
    const body = await until('the sinks reported degraded', async () => {
      const res = await request(`${gw.url}/readyz`);
      const text = await res.body.text();
      assert.equal(res.statusCode, 200, text);
      const parsed = JSON.parse(text) as { status: string; degraded?: string[] };
      return (parsed.degraded?.length ?? 0) === 3 ? { parsed, text } : undefined;
    });
    assert.equal(body.parsed.status, 'ready');
    assert.deepEqual(body.parsed.degraded, [
      'audit sink syslog-tcp: delivery failed (ECONNREFUSED)',
      'audit sink http[1]: endpoint unreachable (ECONNREFUSED)',
      'audit sink http[2]: endpoint unreachable (ECONNREFUSED)',
    ]);
    for (const leak of [String(syslogPort), String(httpPort), '127.0.0.1', '/ingest']) assert.ok(!body.text.includes(leak), leak);
    const scrape = await (await request(gw.metricsUrl as string)).body.text();
    assert.equal(metricSample(scrape, 'gatehouse_audit_sink_up{sink="syslog-tcp"}'), 0);
    assert.equal(metricSample(scrape, 'gatehouse_audit_sink_up{sink="http[1]"}'), 0);
    assert.equal(metricSample(scrape, 'gatehouse_audit_sink_up{sink="http[2]"}'), 0);
    assert.equal(metricSample(scrape, 'gatehouse_audit_healthy'), 1);
  });
});
