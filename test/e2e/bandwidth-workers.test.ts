/**
 * Bandwidth limits under `server.workers: 2` (docs/limits.md "Bandwidth"): real processes — the built CLI as
 * supervisor, its two forked workers, a real upstream on loopback. Bytes one worker charges reach the other through the
 * same usage messages as rate-limit admissions, so a key in debt is refused whichever worker its connection reaches.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, twoWorkersConfig } from '../helpers/process.js';
import { until } from '../helpers/until.js';
import { getOverNewConnection } from '../helpers/raw-http.js';

const dir = mkdtempSync(join(tmpdir(), 'gh-bandwidth-workers-'));
const config = join(dir, 'gatehouse.yaml');
let upstream: Server;
let served = 0;

before(async () => {
  // GET /bytes/N answers N bytes.
  upstream = createServer((req, res) => {
    served++;
    const n = Number(/^\/bytes\/(\d+)$/.exec(req.url ?? '')?.[1] ?? 2);
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(n) });
    res.end('a'.repeat(n));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  writeFileSync(
    config,
    twoWorkersConfig(url, [
      'limits:',
      '  sync_interval: 50ms',
      '  bandwidth:',
      '    - name: downloads',
      '      per: ip',
      '      rate: 1B/h',
      '      burst: 1KB',
      '      direction: out',
    ]),
  );
});
after(async () => {
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('bytes charged in one worker put the key in debt in the other: every later request is refused, by both workers', async () => {
  const gw = await startServe(['--config', config, '--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: join(dir, 'home'), GATEHOUSE_ENV: 'development' });
  try {
    await until('the workers to serve', () => /2 workers serving/.test(gw.stderr()));
    // One response of 5000 bytes against a 1000-byte allowance refilled at 1 byte an hour: deep in debt.
    const big = await getOverNewConnection(`${gw.url}/up/bytes/5000`);
    assert.equal(big.status, 200);
    assert.equal(big.body.length, 5000, 'the flowing response was not cut');
    // A few sync intervals: the worker that served it has told the other.
    await sleep(300);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await getOverNewConnection(`${gw.url}/up/bytes/10?i=${i}`)).status);
    assert.deepEqual(statuses, [429, 429, 429, 429, 429, 429]);
    assert.equal(served, 1, 'only the first request reached the upstream');

    // New connections alternate between the workers: both refused, so the worker that never served the 5000 bytes
    // knew of them.
    const byWorker = await until('request lines from both workers', () => {
      const seen = new Map<number, Set<number>>();
      let total = 0;
      for (const l of gw.stdout().split('\n')) {
        if (!l.includes('"msg":"request"') || !l.includes('/up/bytes/10')) continue;
        const rec = JSON.parse(l) as { worker?: number; status?: number };
        if (typeof rec.worker !== 'number' || typeof rec.status !== 'number') continue;
        total++;
        if (!seen.has(rec.worker)) seen.set(rec.worker, new Set());
        seen.get(rec.worker)?.add(rec.status);
      }
      return total >= 6 ? seen : undefined;
    });
    assert.deepEqual([...byWorker.keys()].sort(), [1, 2]);
    for (const [worker, codes] of byWorker) assert.deepEqual([...codes], [429], `worker ${worker}`);
  } finally {
    assert.equal(await gw.stop('SIGTERM'), 0);
  }
});
