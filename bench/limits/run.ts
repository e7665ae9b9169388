/**
 * bench/limits: rate-limit decisions per second, Gatehouse's GCRA table (RateTable.take, synchronous) against
 * rate-limiter-flexible's RateLimiterMemory (consume(), promise-based: measured as its users call it, one await
 * per decision), on the same keys, in one run; then the whole throttle stage (createLimits, a `per: principal`
 * rule) per request. Prints ratios and writes docs/performance.md `## limits`.
 * Run: cd bench && npm run limits [-- --quick]
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { configSchema } from '../../src/config/schema/index.js';
import type { Exchange, Logger } from '../../src/core/types.js';
import { MemoryStore } from '../../src/store/memory.js';
import { RateTable, createLimits } from '../../src/limits/index.js';
import { writePerformanceSection } from '../lib/proc.js';

const QUICK = process.argv.includes('--quick');
const BUDGET_MS = QUICK ? 300 : 1500;
const ROUNDS = QUICK ? 2 : 5;

const keysOf = (n: number): string[] => Array.from({ length: n }, (_, i) => `principal-${i}`);

/** Calls `fn` in batches until the budget is spent; returns calls per second. */
function rateSync(fn: (i: number) => void): number {
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < BUDGET_MS) {
    for (let i = 0; i < 10_000; i++) fn(calls + i);
    calls += 10_000;
    now = performance.now();
  }
  return (calls * 1000) / (now - start);
}

async function rateAsync(fn: (i: number) => Promise<unknown>): Promise<number> {
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < BUDGET_MS) {
    for (let i = 0; i < 1000; i++) await fn(calls + i).catch(() => undefined);
    calls += 1000;
    now = performance.now();
  }
  return (calls * 1000) / (now - start);
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const lines: string[] = [];
  const say = (l: string): void => {
    lines.push(l);
    console.log(l);
  };
  const load = loadavg()[0]?.toFixed(2);
  say(`Measured ${new Date().toISOString().slice(0, 10)} with \`cd bench && npm run limits\` on ${cpus().length} CPUs (1-minute load average ${load} at the start), node ${process.version}, rate-limiter-flexible 11 (RateLimiterMemory). Both limiters allow 1,000,000 requests a second per key, so nearly every decision admits; keys are taken round-robin. Best of ${ROUNDS} alternating rounds of ${BUDGET_MS} ms each.`);
  say('');
  say('| keys | Gatehouse RateTable.take /s | rate-limiter-flexible consume /s | ratio |');
  say('|---:|---:|---:|---:|');
  for (const n of [1, 10_000, 100_000]) {
    const keys = keysOf(n);
    const table = new RateTable({ limit: 1_000_000, periodMs: 1000, burst: 1_000_000 }, 200_000);
    const rlf = new RateLimiterMemory({ points: 1_000_000, duration: 1 });
    const g: number[] = [];
    const r: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      g.push(rateSync((i) => void table.take(keys[i % n] as string, Date.now())));
      r.push(await rateAsync((i) => rlf.consume(keys[i % n] as string)));
    }
    const gb = Math.max(...g);
    const rb = Math.max(...r);
    say(`| ${fmt(n)} | ${fmt(gb)} | ${fmt(rb)} | ${(gb / rb).toFixed(1)}× |`);
  }

  // Same answers where the algorithms agree: 100 requests at one instant against 10 a second (burst 10).
  const table = new RateTable({ limit: 10, periodMs: 1000, burst: 10 }, 1000);
  const rlf = new RateLimiterMemory({ points: 10, duration: 1 });
  const t0 = Date.now();
  let ga = 0;
  let ra = 0;
  for (let i = 0; i < 100; i++) if (table.take('k', t0).allowed) ga++;
  for (let i = 0; i < 100; i++) await rlf.consume('k').then(() => ra++, () => undefined);
  say('');
  say(`- 100 requests at once against 10/s with a burst of 10: Gatehouse admits ${ga}, rate-limiter-flexible ${ra}.`);

  // The throttle stage as the gateway runs it: one `per: principal` rule, 10,000 principals.
  const cfg = configSchema.parse({ limits: { rates: [{ name: 'per-principal', per: 'principal', limit: '1000000/sec' }], lockout: { enabled: false } } });
  const quiet = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;
  const limits = await createLimits(cfg.limits, { store: new MemoryStore(), clock: { now: Date.now } as never, logger: quiet }, { routeNames: new Set() });
  const stage = limits.throttle as (ex: Exchange) => void;
  const exchanges = keysOf(10_000).map((id) => ({
    method: 'GET', route: { name: 'api', prefix: '/api', kind: 'http' }, meta: {},
    principal: { id, type: 'service', method: 'token', scopes: [], attributes: {}, network: { source_ip: '10.0.0.1', peer_ip: '10.0.0.1', tls: true } },
    network: { source_ip: '10.0.0.1', peer_ip: '10.0.0.1', tls: true },
  }) as unknown as Exchange);
  const stageRates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) stageRates.push(rateSync((i) => stage(exchanges[i % exchanges.length] as Exchange)));
  const best = Math.max(...stageRates);
  say(`- the throttle stage (one \`per: principal\` rule, key built from the principal, 10,000 principals): ${fmt(best)} requests/s (median of rounds ${fmt(median(stageRates))}), ${(1e6 / best).toFixed(2)} µs per request.`);
  await limits.close();

  if (!QUICK) await writePerformanceSection('limits', lines.join('\n'));
}

await main();
