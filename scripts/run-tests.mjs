#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's built-in runner and tsx (Node 20 takes no globs for --test).
// Usage: node scripts/run-tests.mjs [path-filter ...]
//
// A hung file must fail the run with its name, never stall CI: each file has a deadline (--test-timeout applies to
// the file's process as a whole), and a file whose tests are done but whose process lingers on an open handle is
// ended (--test-force-exit). Before the deadline, a watchdog asks a file still running after TEST_SLOW_S for a node
// diagnostic report and prints what it is waiting on: its JavaScript stack, its open libuv handles and its children.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'fixtures') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

const files = walk(join(root, 'test'), [])
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const seconds = (name, fallback) => {
  const v = Number(process.env[name] ?? fallback);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};
// The slowest file takes about 40 s alone on two cores; a file still running after 5 minutes is hung.
const fileTimeoutS = seconds('TEST_FILE_TIMEOUT_S', 300);
const slowS = Math.min(seconds('TEST_SLOW_S', 180), fileTimeoutS);
// The whole run takes under 3 minutes here; past this, the runner itself is stuck and is ended with what is left.
const totalS = seconds('TEST_TOTAL_TIMEOUT_S', 1200);
// Most suites wait on sockets and child processes, not the CPU: run a few files at once.
const concurrency = process.env.TEST_CONCURRENCY ?? '3';
const reportDir = mkdtempSync(join(tmpdir(), 'gh-test-reports-'));
const nodeOptions = [process.env.NODE_OPTIONS ?? '', '--report-on-signal', '--report-signal=SIGUSR2', `--report-directory=${reportDir}`].join(' ').trim();
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, `--test-timeout=${fileTimeoutS * 1000}`, '--test-force-exit', '--test-reporter=spec', ...files],
  // Its own process group, so the deadline below can end every process the tests started.
  { cwd: root, stdio: 'inherit', detached: true, env: { ...process.env, GATEHOUSE_TEST: '1', NODE_OPTIONS: nodeOptions } },
);

/** Linux only: the processes under `pid`, with their command lines. Elsewhere, none (the deadline still holds). */
function descendants(pid) {
  const byParent = new Map();
  let entries = [];
  try {
    entries = readdirSync('/proc').filter((n) => /^[0-9]+$/.test(n));
  } catch {
    return [];
  }
  for (const n of entries) {
    try {
      const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmd = readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      if (!byParent.has(ppid)) byParent.set(ppid, []);
      byParent.get(ppid).push({ pid: Number(n), ppid, cmd });
    } catch {
      // Gone meanwhile.
    }
  }
  const out = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const p of byParent.get(queue.shift()) ?? []) {
      out.push(p);
      queue.push(p.pid);
    }
  }
  return out;
}

const firstSeen = new Map();
const reported = new Set();
function summarize(proc, all) {
  const file = proc.cmd.split(' ').find((a) => a.endsWith('.test.ts')) ?? proc.cmd;
  const lines = [`\n[run-tests] ${relative(root, file)} is still running after ${slowS} s (pid ${proc.pid}); what it waits on:`];
  const report = readdirSync(reportDir).find((n) => n.includes(`.${proc.pid}.`));
  if (report) {
    try {
      const r = JSON.parse(readFileSync(join(reportDir, report), 'utf8'));
      const stack = r.javascriptStack?.stack ?? [];
      lines.push(`  javascript stack: ${stack.length > 0 ? '' : '(idle in the event loop)'}`);
      for (const s of stack.slice(0, 15)) lines.push(`    ${String(s).trim()}`);
      const handles = (r.libuv ?? []).filter((h) => h.is_active && h.type !== 'async' && h.type !== 'check' && h.type !== 'idle' && h.type !== 'prepare' && h.type !== 'loop');
      lines.push(`  active handles (${handles.length}):`);
      for (const h of handles.slice(0, 40)) {
        const parts = [h.type, h.is_referenced ? 'ref' : 'unref'];
        if (h.localEndpoint) parts.push(`local ${h.localEndpoint.host}:${h.localEndpoint.port}`);
        if (h.remoteEndpoint) parts.push(`remote ${h.remoteEndpoint.host}:${h.remoteEndpoint.port}`);
        if (h.type === 'timer') parts.push(`repeat ${h.repeat} ms, firesInMsFromNow ${h.firesInMsFromNow}`);
        if (h.type === 'process') parts.push(`pid ${h.pid}`);
        if (h.filename) parts.push(h.filename);
        lines.push(`    ${parts.join(' ')}`);
      }
    } catch (e) {
      lines.push(`  (the diagnostic report could not be read: ${e.message})`);
    }
  } else lines.push('  (no diagnostic report was written)');
  const kids = all.filter((p) => p.ppid === proc.pid);
  lines.push(`  child processes (${kids.length}):`);
  for (const k of kids) lines.push(`    ${k.pid} ${k.cmd.slice(0, 300)}`);
  process.stderr.write(lines.join('\n') + '\n\n');
}
const watchdog = setInterval(() => {
  const now = Date.now();
  const all = descendants(child.pid);
  for (const p of all) {
    if (!p.cmd.includes('.test.ts') || p.ppid !== child.pid) continue;
    const key = `${p.pid} ${p.cmd}`;
    if (!firstSeen.has(key)) firstSeen.set(key, now);
    if (reported.has(key) || now - firstSeen.get(key) < slowS * 1000) continue;
    reported.add(key);
    try {
      process.kill(p.pid, "SIGUSR2");
    } catch {
      continue;
    }
    setTimeout(() => summarize(p, descendants(child.pid)), 2000).unref();
  }
}, 5000);
watchdog.unref();

const deadline = setTimeout(() => {
  const left = descendants(child.pid).filter((p) => p.cmd.includes('.test.ts') && p.ppid === child.pid);
  process.stderr.write(`\n[run-tests] the run passed its ${totalS} s deadline; still running: ${left.map((p) => relative(root, p.cmd.split(' ').pop())).join(', ') || 'no test file'}\n`);
  process.exitCode = 1;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}, totalS * 1000);
deadline.unref();

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    try {
      process.kill(-child.pid, signal);
    } catch {
      child.kill(signal);
    }
  });
}
child.on('exit', (code, signal) => {
  clearInterval(watchdog);
  clearTimeout(deadline);
  rmSync(reportDir, { recursive: true, force: true });
  process.exit(process.exitCode || (code ?? (signal ? 1 : 0)));
});
