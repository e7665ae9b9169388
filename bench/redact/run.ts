/**
 * bench/redact (issue 6): throughput of Gatehouse's redaction, with pino's own redaction measured in the same run.
 *
 *  1. Free text, MB/s: redactText over a realistic mixed log with few secrets (~1 line in 200) and over a log
 *     dense with secrets (every line), in 64 KiB batches as `gatehouse redact` does.
 *  2. `gatehouse redact`, MB/s: the CLI's streaming path in-process (stdin stream → createRedactStream → null
 *     sink), and the real command as a child process (bin/gatehouse.js over the built dist; a ≥ 64 MB file →
 *     stdin, stdout → /dev/null; includes start-up, also reported net of an empty run).
 *  3. Structured, objects/s, on the same request-log objects:
 *     - the redaction step: pino's engine (@pinojs/redact, the library pino 10 uses for its `redact` option,
 *       given the exact paths of the secrets, serialising to JSON) against Gatehouse's redactValue (+ JSON)
 *       which finds secrets by key name at any depth and by value, with no paths given;
 *     - the whole logger: pino({ redact: { paths } }) against Gatehouse's createLogger, both writing to a null
 *       destination.
 * Targets: ≥ 100 MB/s per core on the common log; structured ≥ 0.5× pino's redact. Figures go to
 * docs/performance.md under "## redact".
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, openSync, closeSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pino } from 'pino';
import pinoRedact from '@pinojs/redact';
import { createLogger, createRedactor, createRedactStream } from '../../src/redact/index.js';
import { alternate } from '../lib/proc.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const TEXT_MB = Number(process.env.BENCH_MB ?? 16);

/* ---------------------------------------------------------------- inputs */
let seed = 42;
const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
const B62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const rand = (n: number, a = B62) => Array.from({ length: n }, () => a[Math.floor(rnd() * a.length)]).join('');
const hex = (n: number) => rand(n, '0123456789abcdef');
const UA = ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36', 'curl/8.5.0', 'python-requests/2.32.3', 'okhttp/4.12.0'];
const PATHS = ['/api/v1/orders', '/api/v1/users/42', '/healthz', '/static/js/app.3f2a9c1b.js', '/api/v2/products?category=keyboards&sort=price', '/login', '/api/v1/session'];

function cleanLine(i: number): string {
  switch (i % 4) {
    case 0: return `10.0.${i % 255}.${i % 7} - - [12/Oct/2025:08:14:${String(i % 60).padStart(2, '0')} +0000] "GET ${pick(PATHS)} HTTP/1.1" ${pick([200, 200, 304, 404])} ${1000 + (i % 9000)} "https://shop.example.com/cart" "${pick(UA)}"`;
    case 1: return JSON.stringify({ level: 30, time: 1760256000000 + i, pid: 4242, hostname: 'api-7f9c', reqId: `req-${i.toString(36)}`, req: { method: 'GET', url: pick(PATHS) }, res: { statusCode: 200 }, responseTime: (i % 100) / 7, msg: 'request completed' });
    case 2: return `2025-10-12 08:31:00.${String(i % 1000).padStart(3, '0')}  INFO 1 --- [nio-8080-exec-${i % 9}] c.e.billing.InvoiceService : processed invoice ${i} for customer cus_${hex(12)} in ${i % 50}ms`;
    default: return `time=2025-10-12T08:30:00Z level=info msg="cache lookup" cache_key=user:${i}:profile hit=${i % 3 === 0} ttl_s=300 trace=${hex(32)}`;
  }
}

function secretLine(i: number): string {
  switch (i % 8) {
    case 0: return `10.1.1.3 - - [12/Oct/2025:08:19:12 +0000] "GET /api/export?access_token=${rand(32)}&format=json HTTP/1.1" 200 9931 "-" "python-requests/2.32.3"`;
    case 1: return JSON.stringify({ level: 30, msg: 'connecting to database', config: { host: 'db', user: 'app', password: rand(14) } });
    case 2: return `curl -s -H "Authorization: Bearer ${rand(40)}" https://api.example.com/v1/me`;
    case 3: return `export GITHUB_TOKEN=ghp_${rand(36)}`;
    case 4: return JSON.stringify({ level: 30, msg: 'connecting', url: `postgresql://orders:${rand(12)}@db.internal:5432/orders` });
    case 5: return `time=2025-10-12T08:30:05Z level=debug msg="datadog client" api_key=${hex(32)} app_key=${hex(40)}`;
    case 6: return `{"level":30,"msg":"tls material loaded","key_file":"/etc/gatehouse/tls/server.key","cert":"-----BEGIN CERTIFICATE-----\\n${rand(64, B62 + '+/')}\\n${rand(64, B62 + '+/')}\\n-----END CERTIFICATE-----"}`;
    default: return `id_token=eyJhbGciOiJSUzI1NiJ9.${Buffer.from(`{"sub":"u${i}","exp":1760003600}`).toString('base64url')}.${rand(86, B62 + '-_')}`;
  }
}

function makeLog(megabytes: number, secretEvery: number): string {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < megabytes * 1024 * 1024; i++) {
    const l = i % secretEvery === secretEvery - 1 ? secretLine(i) : cleanLine(i);
    lines.push(l);
    size += l.length + 1;
  }
  return lines.join('\n') + '\n';
}

/** A request-log object as a gateway writes it, with a few secrets in known places. */
function makeObject(i: number): Record<string, unknown> {
  return {
    reqId: `req-${i.toString(36)}`,
    req: {
      method: pick(['GET', 'POST']),
      url: pick(PATHS),
      remoteAddress: `10.0.${i % 255}.${i % 7}`,
      headers: { host: 'api.example.com', 'user-agent': pick(UA), accept: 'application/json', authorization: `Bearer ${rand(32)}`, cookie: `sid=${rand(24)}`, 'x-request-id': hex(32) },
    },
    res: { statusCode: 200, headers: { 'content-type': 'application/json', 'content-length': String(1000 + i) } },
    user: { id: i, email: `user${i}@example.com`, roles: ['reader'] },
    body: { username: `user${i}`, password: rand(12), remember: true },
    responseTime: (i % 100) / 7,
  };
}
const PINO_PATHS = ['req.headers.authorization', 'req.headers.cookie', 'body.password'];

/* ---------------------------------------------------------------- measuring */
function best<T>(runs: number, fn: () => T): number {
  let bestMs = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    fn();
    bestMs = Math.min(bestMs, performance.now() - t0);
  }
  return bestMs;
}

function textMBps(text: string): number {
  const redactor = createRedactor({ isolated: true });
  const batches: string[] = [];
  for (let at = 0; at < text.length; ) {
    let end = Math.min(text.length, at + 65536);
    const nl = text.lastIndexOf('\n', end - 1);
    if (end < text.length && nl > at) end = nl + 1;
    batches.push(text.slice(at, end));
    at = end;
  }
  for (let w = 0; w < 2; w++) for (const b of batches) redactor.redactText(b); // warm up (JIT)
  const ms = best(5, () => {
    for (const b of batches) redactor.redactText(b);
  });
  return Buffer.byteLength(text) / 1e6 / (ms / 1000);
}

async function streamMBps(text: string): Promise<number> {
  const buf = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let at = 0; at < buf.length; at += 65536) chunks.push(buf.subarray(at, at + 65536));
  let bestMs = Infinity;
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    await pipeline(Readable.from(chunks), createRedactStream({ redactor: createRedactor({ isolated: true }) }), new Writable({ write(_c, _e, cb) { cb(); } }));
    bestMs = Math.min(bestMs, performance.now() - t0);
  }
  return buf.length / 1e6 / (bestMs / 1000);
}

async function processSeconds(file: string | undefined): Promise<number> {
  const input = file ? openSync(file, 'r') : 'ignore';
  const out = openSync('/dev/null', 'w');
  const t0 = performance.now();
  // The command as a user runs it: bin/gatehouse.js over the built dist (run `npm run build` in the root first).
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'gatehouse.js'), 'redact'], { cwd: ROOT, stdio: [input, out, 'inherit'] });
  const code = await new Promise<number>((res) => child.on('close', (c) => res(c ?? 1)));
  const s = (performance.now() - t0) / 1000;
  if (typeof input === 'number') closeSync(input);
  closeSync(out);
  if (code !== 0) throw new Error(`gatehouse redact exited ${code}`);
  return s;
}

/**
 * Ours against pino in alternating passes over the same objects (9 pairs, after a warm-up of both): each side's best
 * rate, and the median of the per-pair ratios, so a disturbance on the shared machine hits one pair, not one side.
 */
function pairPerSecond(ours: (o: Record<string, unknown>) => unknown, theirs: (o: Record<string, unknown>) => unknown, objects: Array<Record<string, unknown>>): { ours: number; theirs: number; ratio: number } {
  for (let i = 0; i < 20_000; i++) {
    ours(objects[i % objects.length]!);
    theirs(objects[i % objects.length]!);
  }
  const pass = (fn: (o: Record<string, unknown>) => unknown) => {
    const t0 = performance.now();
    for (const o of objects) fn(o);
    return objects.length / ((performance.now() - t0) / 1000);
  };
  const r = alternate(() => pass(theirs), () => pass(ours), 9);
  return { ours: r.b, theirs: r.a, ratio: r.ratio };
}

/* ---------------------------------------------------------------- run */
const common = makeLog(TEXT_MB, 200);
const dense = makeLog(Math.max(2, TEXT_MB / 4), 1);

const textCommon = textMBps(common);
const textDense = textMBps(dense);
const streamCommon = await streamMBps(common);
const streamDense = await streamMBps(dense);

// The real process reads a larger file (the common log, repeated to ≥ 64 MB) so JIT warm-up is a small share.
const dir = mkdtempSync(join(tmpdir(), 'gh-bench-redact-'));
const file = join(dir, 'common.log');
const repeats = Math.max(1, Math.ceil(64 / TEXT_MB));
writeFileSync(file, common.repeat(repeats));
if (process.env.BENCH_KEEP_LOG) writeFileSync(process.env.BENCH_KEEP_LOG, common.repeat(repeats)); // for profiling the command by hand
const startup = Math.min(await processSeconds(undefined), await processSeconds(undefined));
const whole = Math.min(await processSeconds(file), await processSeconds(file));
rmSync(dir, { recursive: true, force: true });
const mb = (Buffer.byteLength(common) * repeats) / 1e6;
const procRaw = mb / whole;
const procNet = mb / Math.max(0.001, whole - startup);

const objects = Array.from({ length: 20_000 }, (_, i) => makeObject(i));
const ours = createRedactor({ isolated: true });
const pinoStep = pinoRedact({ paths: PINO_PATHS, censor: '[REDACTED]' });
const stepPair = pairPerSecond((o) => JSON.stringify(ours.redactValue(o)), (o) => pinoStep(o), objects);
const stepLoggerPair = pairPerSecond((o) => ours.redactText(JSON.stringify(ours.redactKeys(o))), (o) => pinoStep(o), objects);
const nullDest = { write() {} };
const pinoLogger = pino({ redact: { paths: PINO_PATHS, censor: '[REDACTED]' }, base: null }, nullDest);
const ourLogger = createLogger({ destination: nullDest, redactor: ours, base: null });
const logPair = pairPerSecond((o) => ourLogger.info(o, 'request completed'), (o) => pinoLogger.info(o, 'request completed'), objects);

// Every secret of the sample objects is gone from our output (pino's holds only what its paths name).
const sample = ours.redactText(JSON.stringify(ours.redactKeys(objects[0]!)));
for (const v of [(objects[0]!.body as { password: string }).password, ((objects[0]!.req as { headers: { cookie: string } }).headers.cookie)]) {
  if (sample.includes(v)) throw new Error('bench: a secret survived redaction');
}

const f1 = (n: number) => n.toFixed(1);
const f0 = (n: number) => Math.round(n).toLocaleString('en-US');
const rows = [
  ['free text, common log (1 line in 200 with a secret)', `${f1(textCommon)} MB/s`, '', ''],
  ['free text, dense log (every line)', `${f1(textDense)} MB/s`, '', ''],
  ['`gatehouse redact` stream path, common log (in-process)', `${f1(streamCommon)} MB/s`, '', ''],
  ['`gatehouse redact` stream path, dense log (in-process)', `${f1(streamDense)} MB/s`, '', ''],
  [`\`gatehouse redact\` process, ${f1(mb)} MB common log (incl. ${f1(startup)} s start-up)`, `${f1(procRaw)} MB/s`, '', ''],
  ['`gatehouse redact` process, net of start-up', `${f1(procNet)} MB/s`, '', ''],
  ['redaction step: Gatehouse redactValue + JSON (keys at any depth + values) vs @pinojs/redact (3 paths) + JSON', `${f0(stepPair.ours)} obj/s`, `${f0(stepPair.theirs)} obj/s`, `${stepPair.ratio.toFixed(2)}×`],
  ['redaction step: Gatehouse logger style (keys, JSON, text rules on the line) vs @pinojs/redact', `${f0(stepLoggerPair.ours)} obj/s`, `${f0(stepLoggerPair.theirs)} obj/s`, `${stepLoggerPair.ratio.toFixed(2)}×`],
  ['logger: createLogger vs pino({ redact: { paths } }), null destination', `${f0(logPair.ours)} obj/s`, `${f0(logPair.theirs)} obj/s`, `${logPair.ratio.toFixed(2)}×`],
];
const header = ['measurement', 'Gatehouse', 'pino', 'ratio'];
const table = [header, ['---', '---:', '---:', '---:'], ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
const env = `Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores, shared with other work; one core used), ${new Date().toISOString().slice(0, 10)}.`;
console.log(table);
console.log(env);

const section = [
  '## redact',
  '',
  'bench/redact/run.ts (`cd bench && npm run redact`). Free text is redacted in 64 KiB batches of whole lines, as',
  '`gatehouse redact` does; "stream path" is the command\'s pipeline in-process; "process" is the real command',
  'reading a file on stdin. Structured: the same 20 000 request-log objects (headers with a bearer token and a',
  'cookie, a body with a password); pino is given the three exact paths, Gatehouse no paths (it finds the secrets',
  'by key name and value); structured rows alternate the two sides over 9 passes and give each side\'s best rate and the',
  'median of the per-pass ratios. Targets: ≥ 100 MB/s per core on the common log; structured ≥ 0.5× pino.',
  '',
  table,
  '',
  env,
  '',
].join('\n');
const perf = join(ROOT, 'docs', 'performance.md');
const current = existsSync(perf) ? readFileSync(perf, 'utf8') : '# Performance\n\n';
const start = current.indexOf('## redact\n');
let next = start < 0 ? -1 : current.indexOf('\n## ', start + 1);
if (next >= 0) next += 1;
const before = (start < 0 ? current : current.slice(0, start)).trimEnd();
const updated = `${before}\n\n${section}${start >= 0 && next >= 0 ? `\n${current.slice(next)}` : ''}`;
writeFileSync(perf, updated);
console.log('wrote docs/performance.md ## redact');
