/**
 * A worker started in place of a dead one under `server.workers: 2` (docs/limits.md "Under server.workers"): it used
 * to begin with empty rate tables, so every key had a fresh burst in it — 10 admitted, a worker killed, 10 more
 * (half of them through the new worker's fresh table), and so on for each death. Now the replacement takes over a
 * live worker's counts (through the supervisor) before it serves. Real processes: the built CLI as supervisor, its
 * two forked workers, a real upstream on loopback, SIGKILL on a worker.
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

const dir = mkdtempSync(join(tmpdir(), 'gh-limits-replacement-'));
let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
const config = join(dir, 'gatehouse.yaml');
const BURST = 10;

before(async () => {
  upstream = await startRecordingUpstream();
  // 10 an hour: no refill within the test.
  writeFileSync(config, twoWorkersConfig(upstream.url, ['limits:', '  sync_interval: 50ms', '  rates:', '    - name: all', '      per: ip', `      limit: ${BURST}/h`, `      burst: ${BURST}`]));
});
after(async () => {
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function spend(url: string, n: number, tag: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    statuses.push(await get(`${url}/up/${tag}${i}`));
    // Both workers hear of each other's admissions (two sync intervals) before the next pair.
    if (i % 2 === 1) await sleep(100);
  }
  return statuses;
}

test('a replacement worker takes over the counts: killing a worker gives no key a fresh burst', async () => {
  const gw = await startServe(['--config', config, '--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: join(dir, 'home'), GATEHOUSE_ENV: 'development' });
  try {
    const pids = await until('the workers to serve', () => {
      const m = /2 workers serving \(pids (\d+), (\d+)\)/.exec(gw.stderr());
      return m ? [Number(m[1]), Number(m[2])] : undefined;
    });
    const first = await spend(gw.url, 2 * BURST, 'a');
    const admittedFirst = first.filter((s) => s === 200).length;
    assert.ok(admittedFirst >= BURST && admittedFirst <= BURST + 2, `first round: ${first.join(',')}`);

    for (const round of [1, 2]) {
      const before = gw.stderr().split('serving again').length;
      process.kill(round === 1 ? (pids[1] as number) : await replacementPid(gw.stderr()), 'SIGKILL');
      await until(`worker 2 serving again (${round})`, () => gw.stderr().split('serving again').length > before || undefined);
      const after = await spend(gw.url, BURST, `k${round}-`);
      const admitted = after.filter((s) => s === 200).length;
      // Without the take-over the new worker admitted about half of these (its fresh burst of 10, over the half of
      // the connections it is handed); with it, none: the key owes what it owed in the live worker.
      assert.equal(admitted, 0, `after killing a worker (${round}): ${after.join(',')}`);
    }
    assert.ok(gw.stderr().includes('worker 2 serving again'), gw.stderr());
  } finally {
    assert.equal(await gw.stop('SIGTERM'), 0);
  }
});

async function replacementPid(stderr: string): Promise<number> {
  const all = [...stderr.matchAll(/worker 2 serving again \(pid (\d+)\)/g)];
  return Number(all.at(-1)?.[1]);
}
