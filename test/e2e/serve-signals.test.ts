/**
 * Graceful shutdown under repeated signals. A second SIGINT or SIGTERM is common: Ctrl-C under `npm start` reaches
 * the gateway from the terminal and again from npm, which forwards it; process managers resend. It must not turn
 * the drain into an abrupt exit that cuts in-flight requests (already forwarded, not yet answered or audited).
 * Runs the CLI from src/ (through tsx) as a real process: signals need one.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/process.js';
import { until } from '../helpers/until.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).href;

interface Serving {
  child: ChildProcess;
  url: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

function serveFromSource(home: string, config: string): Promise<Serving> {
  const script = `import { main } from ${JSON.stringify(MAIN)}; process.exitCode = await main(process.argv.slice(1));`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, 'serve', '--config', config, '--listen', '127.0.0.1:0'], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'], GATEHOUSE_HOME: home },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not start: ${err.slice(-2000)}`));
    }, 30_000);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${err.slice(-2000)}`));
    });
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1] as string, exited, stderr: () => err });
      }
    });
  });
}

function get(url: string): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end();
  });
}

describe('serve: a second signal during the drain', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-signals-'));
  const config = join(dir, 'gatehouse.yaml');
  // An upstream that answers only when the test says so: the request is in flight, already forwarded, for as long as
  // the test needs, however fast or slow the machine (fixed sleeps could signal before the request even arrived).
  let upstream: Server;
  let held: ServerResponse[] = [];
  before(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      held.push(res);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    writeFileSync(
      config,
      [
        'server:',
        '  shutdown_timeout: 30s',
        '  tls:',
        '    enabled: false',
        'routes:',
        '  - name: slow',
        '    prefix: /slow',
        `    upstream: http://127.0.0.1:${(upstream.address() as { port: number }).port}`,
        '    auth_required: false',
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  for (const signals of [['SIGINT', 'SIGINT'], ['SIGTERM', 'SIGTERM'], ['SIGTERM', 'SIGINT']] as const) {
    test(`${signals.join(' then ')}: the in-flight request still completes and the process exits 0`, async () => {
      const home = mkdtempSync(join(dir, 'home-'));
      const gw = await serveFromSource(home, config);
      held = [];
      let exited = false;
      void gw.exited.then(() => (exited = true));
      try {
        const inflight = get(`${gw.url}/slow/x`);
        await until('the request to reach the upstream', () => held.length > 0);
        // Each signal is sent once the gateway has shown it handled the one before (or has exited: cut, see below).
        gw.child.kill(signals[0]);
        await until(`the drain on ${signals[0]}`, () => exited || gw.stderr().includes(`${signals[0]}: draining in-flight requests`));
        gw.child.kill(signals[1]);
        await until(`the second signal, ${signals[1]}`, () => exited || gw.stderr().includes(`${signals[1]}: already draining`));
        // Both signals arrived while the request was in flight: only now does the upstream answer.
        held[0]?.writeHead(200, { 'content-type': 'text/plain' }).end('answered\n');
        const res = await inflight;
        assert.ok('status' in res, `the in-flight request was cut: ${JSON.stringify(res)}`);
        assert.equal(res.status, 200);
        const { code, signal } = await gw.exited;
        assert.deepEqual({ code, signal }, { code: 0, signal: null }, gw.stderr().slice(-500));
      } finally {
        if (gw.child.exitCode === null && gw.child.signalCode === null) gw.child.kill('SIGKILL');
      }
    });
  }
});
