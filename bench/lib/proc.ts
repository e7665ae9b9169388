import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';

/** Starts a process and waits until `port` accepts connections. */
export async function startProcess(cmd: string, args: string[], port: number, env: NodeJS.ProcessEnv = process.env): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${cmd} exited: ${stderr.slice(-500)}`);
    if (await canConnect(port)) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${cmd} did not listen on ${port}: ${stderr.slice(-500)}`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * CPU time (user + system, in µs) a process has used so far: all its threads (main thread, libuv pool, GC helpers)
 * and, with `children`, its child processes' too (nginx's worker under its master). Linux /proc; CLK_TCK is 100 here.
 */
export function cpuMicros(pid: number, children = false): number {
  const ticks = (p: number): number => {
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  };
  let total = ticks(pid);
  if (children) {
    for (const c of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) total += ticks(Number(c));
  }
  return total * 10_000;
}

/** Replaces (or appends) a `## name` section of docs/performance.md. */
export async function writePerformanceSection(name: string, body: string): Promise<void> {
  const { readFileSync, writeFileSync, existsSync } = await import('node:fs');
  const path = new URL('../../docs/performance.md', import.meta.url);
  let doc = existsSync(path) ? readFileSync(path, 'utf8') : '# Performance\n\nEvery figure here was measured by a benchmark in bench/, against a named peer in the same run.\n';
  const header = `## ${name}\n`;
  const start = doc.indexOf(header);
  const section = `${header}\n${body.trim()}\n\n`;
  if (start === -1) doc = doc.trimEnd() + '\n\n' + section;
  else {
    const next = doc.indexOf('\n## ', start + header.length);
    doc = doc.slice(0, start) + section + (next === -1 ? '' : doc.slice(next + 1));
  }
  writeFileSync(path, doc.trimEnd() + '\n');
}

/**
 * Two measurements taken in alternation, `pairs` times, so a disturbance on a shared machine hits one pair rather
 * than one side: each side's best rate and the median of the per-pair ratios b/a.
 */
export function alternate(a: () => number, b: () => number, pairs: number): { a: number; b: number; ratio: number } {
  let bestA = 0;
  let bestB = 0;
  const ratios: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const ra = a();
    const rb = b();
    bestA = Math.max(bestA, ra);
    bestB = Math.max(bestB, rb);
    ratios.push(rb / ra);
  }
  ratios.sort((x, y) => x - y);
  return { a: bestA, b: bestB, ratio: ratios[Math.floor(ratios.length / 2)] as number };
}
