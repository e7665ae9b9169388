import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/gatehouse.js', import.meta.url));

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  port: number;
  stdout(): string;
  stderr(): string;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `gatehouse serve` as a real process (the built CLI) and waits for its banner. */
export function startServe(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 20_000): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { cwd: ROOT, env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not start: ${err.slice(-2000)}`));
    }, timeoutMs);
    const onEarlyExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${err.slice(-2000)}`));
    };
    child.on('exit', onEarlyExit);
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (https?:\/\/[^\s]+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        child.off('exit', onEarlyExit);
        const url = m[1] as string;
        resolve({
          child,
          url,
          port: Number(new URL(url).port),
          stdout: () => out,
          stderr: () => err,
          stop: (signal = 'SIGTERM') =>
            new Promise((r) => {
              if (child.exitCode !== null) return r(child.exitCode);
              child.once('exit', (code) => r(code));
              child.kill(signal);
            }),
        });
      }
    });
  });
}

/** Runs the built CLI as a real process. */
export function runCliProcess(args: string[], env: NodeJS.ProcessEnv, stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: { PATH: process.env['PATH'], ...env }, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (stdin !== undefined) child.stdin?.end(stdin);
    else child.stdin?.end();
  });
}

/**
 * The YAML of a two-worker gateway over plain HTTP with one public route `up` at /up to `upstream`, then `more` lines
 * (a limits, metrics … section): the configuration the worker suites share.
 */
export function twoWorkersConfig(upstream: string, more: readonly string[] = []): string {
  return ['server:', '  workers: 2', '  shutdown_timeout: 3s', '  tls:', '    enabled: false', 'log:', '  level: info', 'routes:', '  - name: up', '    prefix: /up', `    upstream: ${upstream}`, '    auth_required: false', ...more, ''].join('\n');
}
