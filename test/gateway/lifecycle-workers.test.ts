/**
 * server.workers: the gateway's lifecycle is recorded once per gateway, by the supervisor, not once per worker; and
 * SIGHUP to the supervisor reopens every worker's log file. Real processes: the built CLI, its forked workers, a real
 * upstream on loopback, the real audit chain verified afterwards.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliProcess, startServe } from '../helpers/process.js';
import { statusOverNewConnection as get } from '../helpers/raw-http.js';
import { until } from '../helpers/until.js';

type Rec = { event_type?: string; result_status?: string; subject?: string; metadata?: Record<string, unknown> };

function auditRecords(home: string): Rec[] {
  const dir = join(home, 'audit');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean))
    .map((l) => JSON.parse(l) as Rec);
}

const read = (path: string): string => (existsSync(path) ? readFileSync(path, 'utf8') : '');

/** The worker indexes that logged a request line for a path containing `marker`. */
function workersLogging(text: string, marker: string): Set<number> {
  const workers = new Set<number>();
  for (const l of text.split('\n')) {
    if (!l.includes('"msg":"request"') || !l.includes(marker)) continue;
    const w = (JSON.parse(l) as { worker?: unknown }).worker;
    if (typeof w === 'number') workers.add(w);
  }
  return workers;
}

describe('serve --workers: lifecycle records and log rotation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-lifecycle-workers-'));
  const home = join(dir, 'home');
  const logFile = join(dir, 'logs', 'gatehouse.log');
  const config = join(dir, 'gatehouse.yaml');
  let upstream: Server;
  before(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
    writeFileSync(
      config,
      [
        'server:', '  workers: 2', '  shutdown_timeout: 3s', '  tls:', '    enabled: false', 'log:', '  level: info', `  file: ${logFile}`,
        'routes:', '  - name: up', '    prefix: /up', `    upstream: ${upstreamUrl}`, '    auth_required: false', '',
      ].join('\n'),
    );
  });
  after(async () => {
    await new Promise<void>((r) => upstream.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('one gateway.start and one gateway.stop for two workers; SIGHUP to the supervisor reopens both workers\' log files', async () => {
    const gw = await startServe(['--config', config, '--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: home, GATEHOUSE_ENV: 'development' });
    try {
      await until('the workers to serve', () => /2 workers serving/.test(gw.stderr()));
      const start = await until('the gateway.start record', () => auditRecords(home).find((r) => r.event_type === 'gateway.start'));
      assert.equal(start.subject, 'gateway');
      assert.equal(start.metadata?.['workers'], 2);
      assert.equal(start.metadata?.['listen'], `127.0.0.1:${gw.port}`);
      assert.match(String(start.metadata?.['config_sha256']), /^[0-9a-f]{64}$/);

      // Lines from both workers (each new connection goes to the next worker), then the rotation.
      for (let i = 0; i < 8; i++) assert.equal(await get(`${gw.url}/up/before${i}`), 200);
      await until('request lines from both workers', () => workersLogging(read(logFile), '/up/before').size === 2);
      renameSync(logFile, `${logFile}.1`);
      gw.child.kill('SIGHUP');
      await until('a new log file at the path', () => existsSync(logFile));
      // The workers reopen on the supervisor's message, a moment after it: keep asking until both write the new file.
      await until(
        () => `lines from both workers in the new file (have ${[...workersLogging(read(logFile), '/up/after')].join(', ')})`,
        async () => {
          for (let i = 0; i < 4; i++) assert.equal(await get(`${gw.url}/up/after${i}`), 200);
          return workersLogging(read(logFile), '/up/after').size === 2;
        },
      );
      assert.equal(workersLogging(read(`${logFile}.1`), '/up/before').size, 2);
      assert.doesNotMatch(read(logFile), /\/up\/before/);
      assert.doesNotMatch(gw.stderr(), /not reopened|exited with/);

      assert.equal(await gw.stop('SIGTERM'), 0);
    } finally {
      if (gw.child.exitCode === null) gw.child.kill('SIGKILL');
    }
    const records = auditRecords(home);
    assert.equal(records.filter((r) => r.event_type === 'gateway.start').length, 1);
    const stops = records.filter((r) => r.event_type === 'gateway.stop');
    assert.equal(stops.length, 1);
    assert.equal(stops[0]?.metadata?.['reason'], 'SIGTERM');
    // After every worker's records: nothing of this run follows it but the log's own checkpoint.
    assert.equal(records.filter((r) => !String(r.event_type).startsWith('audit.')).at(-1)?.event_type, 'gateway.stop');
    assert.equal(records.filter((r) => r.event_type === 'config.change').length, 0);

    // The same configuration again: the supervisor's digest is the same from one process to the next.
    const again = await startServe(['--config', config, '--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: home, GATEHOUSE_ENV: 'development' });
    try {
      await until('the workers to serve again', () => /2 workers serving/.test(again.stderr()));
      await until('the second gateway.start', () => auditRecords(home).filter((r) => r.event_type === 'gateway.start').length === 2);
      assert.equal(await again.stop('SIGTERM'), 0);
    } finally {
      if (again.child.exitCode === null) again.child.kill('SIGKILL');
    }
    const all = auditRecords(home);
    const starts = all.filter((r) => r.event_type === 'gateway.start');
    assert.equal(starts.length, 2);
    assert.equal(starts[0]?.metadata?.['config_sha256'], starts[1]?.metadata?.['config_sha256']);
    assert.equal(all.filter((r) => r.event_type === 'config.change').length, 0);
    assert.equal(all.filter((r) => r.event_type === 'gateway.stop').length, 2);

    // The supervisor and its workers appended to one chain.
    const verify = await runCliProcess(['audit', 'verify', join(home, 'audit'), '--json'], { GATEHOUSE_HOME: home });
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });
});
