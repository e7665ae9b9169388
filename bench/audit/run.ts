/**
 * bench/audit: audit records per second, Gatehouse's hash-chained, group-committed (fsync) writer against pino
 * writing the same objects to a file (default async destination, and sync: true) and plain JSON.stringify +
 * fs.writeSync in 64 KiB batches (the practical limit); RSS growth for each; verify throughput.
 *
 *   cd bench && node --import tsx audit/run.ts [--records 500000] [--concurrency 2048]
 *
 * Each case runs in its own process so peak RSS (getrusage maxrss) is its own.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, existsSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { auditSection } from '../../src/config/schema/audit.js';
import { openAuditLog, verifyAuditLog } from '../../src/audit/index.js';
import type { AuditEvent, Logger } from '../../src/core/types.js';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '500000' },
    concurrency: { type: 'string', default: '2048' },
    runs: { type: 'string', default: '2' },
    case: { type: 'string' },
    dir: { type: 'string' },
    'no-docs': { type: 'boolean', default: false },
  },
});
const N = Number(values.records);
const C = Number(values.concurrency);

/** A realistic record: seed 001's example with its source and request id; pino writes it as a ~450-byte line. */
const event: AuditEvent = {
  event_type: 'tool.call',
  result_status: 'success',
  subject: 'ops-automation',
  source_ip: '100.101.102.103',
  tailscale: { tailscale_node: 'dev1', tailscale_user: 'alice@example.com', tailscale_tags: ['tag:systemmanager-client'], tailnet: 'example.ts.net' },
  tool: 'install_package',
  args: { package_name: 'nginx', auto_approve: true },
  scopes: ['admin'],
  risk_level: 'critical',
  approved: true,
  request_id: 'Zx81kQ2b000042',
};

const silent: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const rssMb = (): number => process.memoryUsage().rss / 1048576;
const maxRssMb = (): number => process.resourceUsage().maxRSS / 1024;

interface CaseResult {
  ms: number;
  cpuMs: number;
  rssStart: number;
  rssPeak: number;
  bytes: number;
}

async function runCase(name: string, dir: string): Promise<CaseResult> {
  const file = join(dir, `${name}.jsonl`);
  const rssStart = rssMb();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  if (name === 'gatehouse' || name === 'gatehouse-c256') {
    const low = name === 'gatehouse-c256';
    const cfg = auditSection.parse({ dir, file: low ? 'low.jsonl' : 'gatehouse.jsonl', rotation: { max_size: '10gb' } });
    const log = await openAuditLog(cfg, { stateDir: dir, logger: silent });
    const total = recordsOf(name);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < total) {
        next++;
        await log.emit(event);
      }
    };
    await Promise.all(Array.from({ length: low ? 256 : C }, worker));
    await log.close();
  } else if (name === 'pino-default' || name === 'pino-sync') {
    const dest = pino.destination({ dest: file, sync: name === 'pino-sync' });
    const logger = pino({ base: undefined }, dest);
    for (let i = 0; i < N; i++) logger.info(event);
    // Everything written to the file (not fsynced: pino never fsyncs).
    await new Promise<void>((resolve) => {
      dest.once('close', () => resolve());
      dest.end();
    });
  } else if (name === 'plain') {
    const fd = openSync(file, 'a');
    const LIMIT = 64 * 1024;
    let buf = '';
    for (let i = 0; i < N; i++) {
      buf += JSON.stringify({ ...event, timestamp: new Date().toISOString() }) + '\n';
      if (buf.length >= LIMIT) {
        writeSync(fd, buf);
        buf = '';
      }
    }
    if (buf) writeSync(fd, buf);
    closeSync(fd);
  } else if (name === 'verify') {
    const r = await verifyAuditLog(join(dir, 'gatehouse.jsonl'));
    if (r.status !== 'ok') throw new Error(`verify: ${r.status}`);
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const target = name === 'verify' ? join(dir, 'gatehouse.jsonl') : file;
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, rssStart, rssPeak: maxRssMb(), bytes: existsSync(target) ? statSync(target).size : 0 };
}

/** Records each case writes; the low-concurrency run is latency-bound, so it writes a fifth. Checkpoints count. */
function recordsOf(c: string): number {
  if (c === 'gatehouse-c256') return Math.floor(N / 5);
  return c === 'gatehouse' || c === 'verify' ? N + Math.floor(N / 1000) : N;
}

if (values.case) {
  const r = await runCase(values.case, values.dir as string);
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'gh-bench-audit-'));
const cases = ['gatehouse', 'gatehouse-c256', 'verify', 'pino-default', 'pino-sync', 'plain'] as const;
const results: Record<string, CaseResult> = {};
try {
  // Cases alternate run by run (so a burst of load on the shared machine hits all of them); each keeps its best run.
  for (let run = 0; run < Number(values.runs); run++) {
    for (const c of cases) {
      if (c !== 'verify') rmSync(join(dir, c === 'gatehouse-c256' ? 'low.jsonl' : `${c}.jsonl`), { force: true });
      const out = spawnSync(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--case', c, '--dir', dir, '--records', String(N), '--concurrency', String(C)], { encoding: 'utf8' });
      if (out.status !== 0) throw new Error(`${c} failed: ${out.stderr}`);
      const r = JSON.parse(out.stdout.trim().split('\n').pop() as string) as CaseResult;
      const best = results[c];
      if (!best || r.ms < best.ms) results[c] = r;
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}


const rate = (c: string): number => recordsOf(c) / ((results[c] as CaseResult).ms / 1000);
const cpuRate = (c: string): number => recordsOf(c) / ((results[c] as CaseResult).cpuMs / 1000);
const base = rate('pino-default');
const label: Record<string, string> = {
  gatehouse: `gatehouse (chain + checkpoints + group-commit fsync, ${C} concurrent emitters)`,
  'gatehouse-c256': 'gatehouse, 256 concurrent emitters (latency-bound: 256 records per fsync window)',
  verify: 'gatehouse verify (hash chain, no signature key)',
  'pino-default': 'pino, default destination (async SonicBoom)',
  'pino-sync': 'pino, destination sync: true',
  plain: 'JSON.stringify + fs.writeSync, 64 KiB batches',
};
const rows = cases.map((c) => {
  const r = results[c] as CaseResult;
  return {
    case: label[c] as string,
    rps: Math.round(rate(c)),
    cpu: Math.round(cpuRate(c)),
    ratio: rate(c) / base,
    rss: r.rssPeak - r.rssStart,
    bytes: c === 'verify' ? 0 : Math.round(r.bytes / recordsOf(c)),
  };
});
const lines = [
  `| case | records/s | × pino default | records per CPU-second | RSS growth (MB) | bytes/record |`,
  `|---|---:|---:|---:|---:|---:|`,
  ...rows.map((r) => `| ${r.case} | ${r.rps.toLocaleString('en-US')} | ${r.ratio.toFixed(2)} | ${r.cpu.toLocaleString('en-US')} | ${r.rss.toFixed(0)} | ${r.bytes || '-'} |`),
];
console.log(`audit: ${N.toLocaleString('en-US')} records, best of ${values.runs} runs, Node ${process.version}, load average ${loadavg()[0]?.toFixed(1)}, ${new Date().toISOString()}`);
console.log(lines.join('\n'));

if (!values['no-docs']) {
  const docs = new URL('../../docs/performance.md', import.meta.url).pathname;
  const section = [
    '## audit',
    '',
    `Measured by \`cd bench && node --import tsx audit/run.ts\` (${N.toLocaleString('en-US')} records per case, each case in its own process, best of ${values.runs} alternating runs, ` +
      `Node ${process.version}, shared 2-core machine, load average ${loadavg()[0]?.toFixed(1)}, ${new Date().toISOString().slice(0, 10)}). Record: seed 001's example ` +
      `with its source IP and request id, ${JSON.stringify(event).length} bytes as JSON (pino's line: ${results['pino-default'] ? Math.round((results['pino-default'] as CaseResult).bytes / N) : '?'} bytes); ` +
      "Gatehouse's line adds seq, prev_hash, hash and seed 002's duplicate names. " +
      'RSS growth = peak RSS (getrusage) minus RSS at start. records per CPU-second = records / (user + system CPU time of the ' +
      'process, threadpool included): steadier than wall time on a shared machine.',
    '',
    ...lines,
    '',
    'Gatehouse fsyncs (fdatasync) at most every 10 ms and resolves each emit only after the fsync that covers it; pino and the plain ' +
      'writer never fsync. Emitters await their record (as a request waits for its audit record), so memory is bounded by the ' +
      'concurrency and the writer\'s queue (audit.max_queue); pino\'s async destination cannot push back and buffers. ' +
      'Group commit makes throughput depend on how many records are in flight: at most (emitters waiting) / (fsync_interval + fsync ' +
      'time) — the 256-emitter row. A gateway serving that many requests per second has that many in flight anyway; a single caller ' +
      'awaiting each record in turn gets one record per fsync window. On this shared machine figures move by ±20% from run to ' +
      'run with the load of other jobs; compare the ratios within one run.',
    '',
  ].join('\n');
  const existing = existsSync(docs) ? readFileSync(docs, 'utf8') : '# Performance\n\n';
  const start = existing.indexOf('## audit\n');
  let next = -1;
  if (start >= 0) {
    const m = /\n## /.exec(existing.slice(start + 1));
    next = m ? start + 1 + m.index + 1 : -1;
  }
  const updated = start >= 0 ? existing.slice(0, start) + section + (next >= 0 ? existing.slice(next) : '') : existing.replace(/\n*$/, '\n\n') + section;
  writeFileSync(docs, updated);
  console.log(`written to ${docs}`);
}
