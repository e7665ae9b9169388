/**
 * Rate limits under `server.workers: 2` (docs/limits.md "Under server.workers"): real processes — the built CLI as
 * supervisor, its two forked workers, a real upstream on loopback. Each worker counts what it admits and tells the
 * other every limits.sync_interval, so one client's requests draw on one allowance whichever worker serves them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, twoWorkersConfig } from '../helpers/process.js';
import { until } from '../helpers/until.js';
import { statusOverNewConnection as get } from '../helpers/raw-http.js';
import { startRecordingUpstream } from '../helpers/gateway.js';

const dir = mkdtempSync(join(tmpdir(), 'gh-limits-workers-'));
let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
const config = join(dir, 'gatehouse.yaml');

before(async () => {
  upstream = await startRecordingUpstream();
  writeFileSync(
    config,
    twoWorkersConfig(upstream.url, [
      'limits:',
      '  sync_interval: 50ms',
      '  rates:',
      '    - name: all',
      '      per: ip',
      '      limit: 20/min',
      '      burst: 20',
    ]),
  );
});
after(async () => {
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('two workers share one allowance per client: 60 requests over many connections admit about 20, not 40', async () => {
  const gw = await startServe(['--config', config, '--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: join(dir, 'home'), GATEHOUSE_ENV: 'development' });
  try {
    await until('the workers to serve', () => /2 workers serving/.test(gw.stderr()));
    const N = 60;
    const GROUP = 3;
    const statuses: number[] = [];
    const started = Date.now();
    for (let i = 0; i < N; i++) {
      statuses.push(await get(`${gw.url}/up/r${i}`));
      // After every few requests, a pause of two sync intervals: both workers have told each other what they admitted.
      if (i % GROUP === GROUP - 1) await sleep(100);
    }
    const elapsed = Date.now() - started;
    const admitted = statuses.filter((s) => s === 200).length;
    const refused = statuses.filter((s) => s === 429).length;
    assert.equal(admitted + refused, N, `statuses: ${statuses.join(',')}`);
    assert.equal(upstream.requests.length, admitted, 'only admitted requests reached the upstream');

    // The bound. The allowance is burst 20, refilled at 20/min (one request per 3 s of the run). On top of that, a
    // worker may admit what the other one already admitted but has not reported yet: requests are sequential and
    // every GROUP requests both workers have synced (a 100 ms pause is two 50 ms sync intervals), so at the edge of
    // the allowance at most GROUP − 1 requests of the current group are unknown to the worker that serves the next
    // one. A report delayed past one pause on a loaded machine (the IPC goes through the supervisor; CI runs other
    // suites beside this one) lets one more group through: GROUP more.
    const refill = Math.ceil(elapsed / 3000);
    const bound = 20 + refill + (GROUP - 1) + GROUP;
    assert.ok(admitted <= bound, `admitted ${admitted} of ${N}, bound ${bound} (elapsed ${elapsed} ms): ${statuses.join(',')}`);
    // Two workers that did not share their counts would each admit the whole burst: 40.
    assert.ok(admitted < 40, `admitted ${admitted}: the workers do not share their counts`);
    // And the limit does bite: the allowance is not larger than configured.
    assert.ok(admitted >= 20, `admitted ${admitted}: fewer than the burst`);

    // Both workers served (request log lines carry the worker's index), and both refused: each enforces the limit.
    const byWorker = await until('request lines from both workers', () => {
      const seen = new Map<number, Set<number>>();
      for (const l of gw.stdout().split('\n')) {
        if (!l.includes('"msg":"request"')) continue;
        const rec = JSON.parse(l) as { worker?: number; status?: number; path?: string };
        if (typeof rec.worker !== 'number' || typeof rec.status !== 'number' || !rec.path?.startsWith('/up/r')) continue;
        if (!seen.has(rec.worker)) seen.set(rec.worker, new Set());
        seen.get(rec.worker)?.add(rec.status);
      }
      const total = gw.stdout().split('\n').filter((l) => l.includes('"msg":"request"') && l.includes('/up/r')).length;
      return total >= N ? seen : undefined;
    });
    assert.deepEqual([...byWorker.keys()].sort(), [1, 2]);
    for (const [worker, codes] of byWorker) {
      assert.ok(codes.has(200), `worker ${worker} admitted none`);
      assert.ok(codes.has(429), `worker ${worker} refused none`);
    }
  } finally {
    assert.equal(await gw.stop('SIGTERM'), 0);
  }
});
