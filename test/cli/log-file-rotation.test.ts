/**
 * log.file under logrotate without copytruncate: the file is renamed, then `kill -HUP` the gateway. A real
 * `gatehouse serve` process (the built CLI), a real upstream on loopback, real files.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe } from '../helpers/process.js';
import { statusOverNewConnection as get } from '../helpers/raw-http.js';
import { until } from '../helpers/until.js';

const read = (path: string): string => (existsSync(path) ? readFileSync(path, 'utf8') : '');

function auditRecords(home: string): Array<{ event_type?: string; metadata?: Record<string, unknown> }> {
  const dir = join(home, 'audit');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean))
    .map((l) => JSON.parse(l) as { event_type?: string; metadata?: Record<string, unknown> });
}

describe('serve: log.file rotation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-logrotate-'));
  let upstream: Server;
  let upstreamUrl = '';
  before(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
  });
  after(async () => {
    await new Promise<void>((r) => upstream.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('the log file is 0600; after rename + SIGHUP new lines go to a new file at the path, the renamed one keeps the old', async () => {
    const home = join(dir, 'home');
    const logFile = join(dir, 'logs', 'gatehouse.log');
    const config = join(dir, 'gatehouse.yaml');
    writeFileSync(
      config,
      ['server:', '  tls:', '    enabled: false', 'log:', '  level: info', `  file: ${logFile}`, 'routes:', '  - name: up', '    prefix: /up', `    upstream: ${upstreamUrl}`, '    auth_required: false', ''].join('\n'),
    );
    const gw = await startServe(['--config', config, '--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: home, GATEHOUSE_ENV: 'development' });
    try {
      assert.equal(statSync(logFile).mode & 0o777, 0o600);
      assert.equal(await get(`${gw.url}/up/before-rotation`), 200);
      await until('the request line in the log file', () => read(logFile).includes('/up/before-rotation'));

      renameSync(logFile, `${logFile}.1`);
      gw.child.kill('SIGHUP');
      await until('a new log file at the path', () => existsSync(logFile));
      assert.equal(statSync(logFile).mode & 0o777, 0o600);
      assert.equal(await get(`${gw.url}/up/after-rotation`), 200);
      await until('the request line in the new file', () => read(logFile).includes('/up/after-rotation'));

      const old = read(`${logFile}.1`);
      assert.match(old, /\/up\/before-rotation/);
      assert.doesNotMatch(old, /\/up\/after-rotation/);
      assert.doesNotMatch(read(logFile), /\/up\/before-rotation/);
      // SIGHUP did not end the gateway (its default action would have).
      assert.equal(gw.child.exitCode, null);
      assert.doesNotMatch(gw.stderr(), /not reopened/);

      assert.equal(await gw.stop('SIGTERM'), 0);
    } finally {
      if (gw.child.exitCode === null) gw.child.kill('SIGKILL');
    }
    // The signal that stopped it is on the gateway.stop record.
    const stops = auditRecords(home).filter((r) => r.event_type === 'gateway.stop');
    assert.equal(stops.length, 1);
    assert.equal(stops[0]?.metadata?.['reason'], 'SIGTERM');
  });
});
