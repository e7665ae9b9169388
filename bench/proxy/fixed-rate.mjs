// Open-loop load at a fixed rate (requests are scheduled by the clock, not by responses), so latency under
// a steady 1,000 req/s is measured without coordinated omission. Prints JSON: count, errors, p50/p90/p99 in ms.
// The first BENCH_WARMUP seconds (default 2) run at the same rate and are not recorded: this process's own JIT
// warm-up (undici, its parser) would otherwise land in the tail of whichever target is measured.
import { Agent, request } from 'undici';
const [, , url, rateArg, secondsArg, insecure] = process.argv;
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const dispatcher = new Agent({ connections: 64, connect: insecure ? { rejectUnauthorized: false } : {} });
// Optional request shape from the environment (bench/mcp posts JSON-RPC): BENCH_METHOD, BENCH_BODY, BENCH_HEADERS (JSON).
const reqOpts = { dispatcher, method: process.env.BENCH_METHOD ?? 'GET', ...(process.env.BENCH_BODY ? { body: process.env.BENCH_BODY } : {}), headers: JSON.parse(process.env.BENCH_HEADERS ?? '{}') };
const latencies = [];
let errors = 0;
const warmup = rate * Number(process.env.BENCH_WARMUP ?? 2);
const total = rate * seconds + warmup;
const start = performance.now();
const pending = [];
for (let i = 0; i < total; i++) {
  const due = start + (i * 1000) / rate;
  const wait = due - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  // Timers fire in whole milliseconds, so a request may leave up to 1 ms before its slot: its latency then counts
  // from when it left (never negative); one that leaves late still counts from its slot (no coordinated omission).
  const from = Math.min(due, performance.now());
  pending.push(
    request(url, reqOpts)
      .then(async (res) => {
        await res.body.dump({ limit: 1 << 20 });
        if (i >= warmup) latencies.push(performance.now() - from);
        if (res.statusCode !== 200) errors++;
      })
      .catch(() => errors++),
  );
}
await Promise.all(pending);
latencies.sort((a, b) => a - b);
const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
console.log(JSON.stringify({ count: latencies.length, errors, p50: q(0.5), p90: q(0.9), p99: q(0.99) }));
await dispatcher.close();
