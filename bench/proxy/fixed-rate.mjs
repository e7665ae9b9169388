// Open-loop load at a fixed rate (requests are scheduled by the clock, not by responses), so latency under
// a steady 1,000 req/s is measured without coordinated omission. Prints JSON: count, errors, p50/p90/p99 in ms.
// The first BENCH_WARMUP seconds (default 2) run at the same rate and are not recorded: this process's own JIT
// warm-up (undici, its parser) would otherwise land in the tail of whichever target is measured.
//
// Paired mode (BENCH_PAIR_URL set): a second stream at the same rate to a second URL, each of its requests half a
// period after the first stream's, in the same seconds. Both streams then meet the same upstream stalls (a GC pause
// of the upstream lands in both), so the difference of their p99s is the second hop's cost rather than the luck of
// two separate runs. Prints { a, b } with the stats of each stream. The upstream serves both streams at once.
import { Agent, request } from 'undici';
const [, , url, rateArg, secondsArg, insecure] = process.argv;
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const dispatcher = new Agent({ connections: 64, connect: insecure ? { rejectUnauthorized: false } : {} });
// Optional request shape from the environment (bench/mcp posts JSON-RPC): BENCH_METHOD, BENCH_BODY, BENCH_HEADERS (JSON);
// BENCH_PAIR_HEADERS for the paired stream (default: BENCH_HEADERS).
const shape = (headers) => ({ dispatcher, method: process.env.BENCH_METHOD ?? 'GET', ...(process.env.BENCH_BODY ? { body: process.env.BENCH_BODY } : {}), headers: JSON.parse(headers ?? '{}') });
const pairUrl = process.env.BENCH_PAIR_URL;
const streams = [{ url, opts: shape(process.env.BENCH_HEADERS), latencies: [], errors: 0 }];
if (pairUrl) streams.push({ url: pairUrl, opts: shape(process.env.BENCH_PAIR_HEADERS ?? process.env.BENCH_HEADERS), latencies: [], errors: 0 });
const warmup = rate * Number(process.env.BENCH_WARMUP ?? 2);
const total = rate * seconds + warmup;
const slots = total * streams.length;
const start = performance.now();
const pending = [];
for (let k = 0; k < slots; k++) {
  const s = streams[k % streams.length];
  const i = Math.floor(k / streams.length);
  const due = start + (k * 1000) / (rate * streams.length);
  const wait = due - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  // Timers fire in whole milliseconds, so a request may leave up to 1 ms before its slot: its latency then counts
  // from when it left (never negative); one that leaves late still counts from its slot (no coordinated omission).
  const from = Math.min(due, performance.now());
  pending.push(
    request(s.url, s.opts)
      .then(async (res) => {
        await res.body.dump({ limit: 1 << 20 });
        if (i >= warmup) s.latencies.push(performance.now() - from);
        if (res.statusCode !== 200) s.errors++;
      })
      .catch(() => s.errors++),
  );
}
await Promise.all(pending);
const stats = (s) => {
  const l = s.latencies.sort((a, b) => a - b);
  const q = (p) => l[Math.min(l.length - 1, Math.floor(p * l.length))] ?? NaN;
  return { count: l.length, errors: s.errors, p50: q(0.5), p90: q(0.9), p99: q(0.99) };
};
console.log(JSON.stringify(pairUrl ? { a: stats(streams[0]), b: stats(streams[1]) } : stats(streams[0])));
await dispatcher.close();
