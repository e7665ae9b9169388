/**
 * Metrics under `server.workers: 2`: real processes (the built CLI as supervisor, two forked workers, a real upstream
 * on loopback). The supervisor runs the one metrics listener; a scrape asks both workers for their counts and sums
 * them, so the gateway reads as one target whichever worker served a request.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startServe, twoWorkersConfig } from '../helpers/process.js';
import { until } from '../helpers/until.js';
import { statusOverNewConnection as get } from '../helpers/raw-http.js';
import { metricSample, startRecordingUpstream } from '../helpers/gateway.js';
import { freePort } from '../helpers/ports.js';
import { ApprovalStore } from '../../src/approval/index.js';
import { systemClock } from '../../src/core/clock.js';
import { openStore } from '../../src/store/index.js';

const dir = mkdtempSync(join(tmpdir(), 'gh-metrics-workers-'));
const token = 'scrape-token-for-the-workers-test-0123';
let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
const config = join(dir, 'gatehouse.yaml');
let metricsPort = 0;

before(async () => {
  upstream = await startRecordingUpstream();
  metricsPort = await freePort();
  writeFileSync(
    config,
    twoWorkersConfig(upstream.url, [
      'metrics:',
      '  enabled: true',
      `  listen: 127.0.0.1:${metricsPort}`,
      `  token: ${token}`,
    ]),
  );
});
after(async () => {
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

const value = metricSample;

test('two workers, one scrape: the requests both served are summed, each worker is up, the supervisor serves the port', async () => {
  const gw = await startServe(['--config', config, '--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: join(dir, 'home'), GATEHOUSE_ENV: 'development' });
  try {
    await until('the workers to serve', () => /2 workers serving/.test(gw.stderr()));
    const scrape = async () => {
      const res = await request(`http://127.0.0.1:${metricsPort}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      return { status: res.statusCode, body: await res.body.text() };
    };
    const N = 24;
    // A new connection each: the supervisor hands connections to the workers in turn.
    for (let i = 0; i < N; i++) assert.equal(await get(`${gw.url}/up/r${i}`), 200);
    const series = 'gatehouse_http_requests_total{route="up",method="GET",status="200"}';
    const body = await until(
      () => `${N} requests in one scrape`,
      async () => {
        const s = await scrape();
        return s.status === 200 && value(s.body, series) === N ? s.body : undefined;
      },
    );
    // The shared approval queue is counted once, by the supervisor, from the store: not summed over the workers.
    assert.equal(value(body, 'gatehouse_approvals_pending'), 0);
    const store = openStore({ kind: 'sqlite', path: join(dir, 'home', 'state.db') });
    try {
      await new ApprovalStore(store, systemClock, 600_000).request({ principal: 'ops', kind: 'tool', subject: 'install_package', args: {}, risk_level: 'critical', mode: 'queue' });
    } finally {
      await store.close();
    }
    assert.equal(value((await scrape()).body, 'gatehouse_approvals_pending'), 1);
    assert.equal(value(body, 'gatehouse_worker_up{worker="1"}'), 1);
    assert.equal(value(body, 'gatehouse_worker_up{worker="2"}'), 1);
    assert.ok((value(body, 'process_cpu_seconds_total{worker="1"}') ?? 0) > 0);
    assert.ok((value(body, 'process_cpu_seconds_total{worker="2"}') ?? 0) > 0);
    // Both workers served some of them (each request line carries its worker's index).
    const workers = new Set(gw.stdout().split('\n').filter((l) => l.includes('"msg":"request"') && l.includes('/up/r')).map((l) => (JSON.parse(l) as { worker?: number }).worker));
    assert.deepEqual([...workers].sort(), [1, 2]);
    // The banner names the supervisor's listener; without the token the port answers 401.
    assert.match(gw.stderr(), new RegExp(`Metrics \\(Prometheus\\): http://127\\.0\\.0\\.1:${metricsPort}/metrics`));
    const anon = await request(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(anon.statusCode, 401);
    await anon.body.dump();
  } finally {
    assert.equal(await gw.stop(), 0);
  }
  // The listener went with the gateway.
  await assert.rejects(request(`http://127.0.0.1:${metricsPort}/metrics`), (e: { code?: string }) => e.code === 'ECONNREFUSED');
});
