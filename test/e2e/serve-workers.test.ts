/**
 * `gatehouse serve --workers N` (server.workers): real processes throughout — the built CLI as supervisor, its
 * forked workers, a real upstream on loopback, a real audit chain verified afterwards by `gatehouse audit verify`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCliProcess, startServe, twoWorkersConfig, type ServeProcess } from '../helpers/process.js';
import { until } from '../helpers/until.js';
import { getOverNewConnection, statusOverNewConnection as get } from '../helpers/raw-http.js';


const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const childrenOf = (pid: number): number[] =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);

/** The paths of the http.request records in the active audit file (its complete lines). */
function auditPaths(home: string): Set<string | undefined> {
  let text = '';
  try {
    text = readFileSync(join(home, 'audit', 'audit.jsonl'), 'utf8');
  } catch {
    return new Set();
  }
  const lines = text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter(Boolean);
  return new Set(lines.map((l) => JSON.parse(l) as { event_type?: string; path?: string }).filter((r) => r.event_type === 'http.request').map((r) => r.path));
}


describe('serve --workers', () => {
  const N = 40;
  const dir = mkdtempSync(join(tmpdir(), 'gh-workers-'));
  const home = join(dir, 'home');
  let upstream: Server;
  let upstreamUrl = '';
  const config = join(dir, 'gatehouse.yaml');

  before(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' }).end('upstream says hi\n');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
    writeFileSync(
      config,
      twoWorkersConfig(upstreamUrl),
    );
  });
  after(async () => {
    await new Promise<void>((r) => upstream.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('two workers share the listener and one audit chain; a killed worker is replaced; SIGTERM drains them all', async () => {
    const gw: ServeProcess = await startServe(['--config', config, '--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: home, GATEHOUSE_ENV: 'development' });
    try {
      assert.match(gw.stderr(), /listening on http:\/\/127\.0\.0\.1:\d+ \(development profile, 2 workers\)/);
      const line = await until('the workers to serve', () => /2 workers serving \(pids (\d+), (\d+)\)/.exec(gw.stderr()) ?? undefined);
      const pids = [Number(line[1]), Number(line[2])];
      assert.deepEqual(childrenOf(gw.child.pid as number).sort(), [...pids].sort());
      // Only worker 1 prints the banner.
      assert.equal(gw.stderr().split('Gatehouse is listening').length - 1, 1);

      for (let i = 0; i < N; i++) assert.equal(await get(`${gw.url}/up/x${i}`), 200);
      const served = await until('request lines from both workers', () => {
        const workers = new Set<number>();
        for (const l of gw.stdout().split('\n')) {
          if (!l.includes('"msg":"request"')) continue;
          const rec = JSON.parse(l) as { worker?: number; status?: number };
          if (rec.status === 200 && typeof rec.worker === 'number') workers.add(rec.worker);
        }
        return workers.size === 2 ? workers : undefined;
      });
      assert.deepEqual([...served].sort(), [1, 2]);

      // Records are written within milliseconds, not at once: a worker killed with SIGKILL loses those not yet
      // written, as a single gateway process would. Kill it once its records are on disk.
      await until('the first records on disk', () => Array.from({ length: N }, (_, i) => `/up/x${i}`).every((p) => auditPaths(home).has(p)));

      // A worker that dies is replaced, and the gateway keeps answering meanwhile.
      const victim = pids[1] as number;
      process.kill(victim, 'SIGKILL');
      await until('the replacement notice', () => /exited with signal SIGKILL; starting a new one/.test(gw.stderr()));
      const replacement = await until('a new worker', () => {
        const now = childrenOf(gw.child.pid as number);
        return now.length === 2 && !now.includes(victim) ? now.find((p) => p !== pids[0]) : undefined;
      });
      assert.ok(alive(replacement));
      await until('the new worker to serve', () => gw.stderr().includes(`worker 2 serving again (pid ${replacement})`));
      for (let i = 0; i < N; i++) assert.equal(await get(`${gw.url}/up/after${i}`), 200);
      const servedAfter = await until('request lines after the restart from both workers', () => {
        const workers = new Set<number>();
        for (const l of gw.stdout().split('\n')) {
          if (!l.includes('"msg":"request"') || !l.includes('/up/after')) continue;
          const rec = JSON.parse(l) as { worker?: number };
          if (typeof rec.worker === 'number') workers.add(rec.worker);
        }
        return workers.size === 2 ? workers : undefined;
      });
      assert.deepEqual([...servedAfter].sort(), [1, 2]);

      assert.equal(await gw.stop('SIGTERM'), 0);
      assert.match(gw.stderr(), /SIGTERM: draining in-flight requests in 2 workers/);
      for (const pid of [pids[0] as number, replacement]) await until(`worker ${pid} to exit`, () => !alive(pid));
    } finally {
      if (gw.child.exitCode === null) gw.child.kill('SIGKILL');
    }

    // Both workers appended to one hash chain; nothing was lost or forked.
    const verify = await runCliProcess(['audit', 'verify', join(home, 'audit'), '--json'], { GATEHOUSE_HOME: home });
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    const paths = auditPaths(home);
    for (let i = 0; i < N; i++) {
      assert.ok(paths.has(`/up/x${i}`), `record for /up/x${i}`);
      assert.ok(paths.has(`/up/after${i}`), `record for /up/after${i}`);
    }
  });

  test('connection limits are split between the workers: together they never admit more than max_connections', async () => {
    const limited = join(dir, 'limited.yaml');
    writeFileSync(
      limited,
      ['server:', '  workers: 2', '  tls:', '    enabled: false', '  limits:', '    max_connections: 2', 'routes:', '  - name: up', '    prefix: /up', `    upstream: ${upstreamUrl}`, '    auth_required: false', ''].join('\n'),
    );
    const gw = await startServe(['--config', limited, '--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: join(dir, 'home-limited'), GATEHOUSE_ENV: 'development' });
    const sockets: Socket[] = [];
    try {
      await until('the workers to serve', () => /2 workers serving/.test(gw.stderr()));
      // Six connections held open, each asking once; the admitted ones answer, the refused ones are closed unanswered.
      const answers = await Promise.all(
        Array.from(
          { length: 6 },
          () =>
            new Promise<boolean>((resolve) => {
              const s = connect(gw.port, '127.0.0.1');
              sockets.push(s);
              let got = '';
              s.on('data', (d: Buffer) => {
                got += d.toString();
                if (got.includes('upstream says hi')) resolve(true);
              });
              s.on('close', () => resolve(false));
              s.on('error', () => resolve(false));
              s.write(`GET /up/held HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: keep-alive\r\n\r\n`);
              setTimeout(() => resolve(got.includes('upstream says hi')), 3000);
            }),
        ),
      );
      const admitted = answers.filter(Boolean).length;
      assert.ok(admitted >= 1 && admitted <= 2, `admitted ${admitted} of 6 with max_connections 2`);
    } finally {
      for (const s of sockets) s.destroy();
      assert.equal(await gw.stop('SIGTERM'), 0);
    }
  });

  test('a worker that cannot start stops the supervisor with its exit code, once', async () => {
    // Production without authentication: worker 1 refuses to start (exit 2); no worker is retried in a loop.
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, ['server:', '  workers: 2', 'routes:', '  - name: up', '    prefix: /up', `    upstream: ${upstreamUrl}`, '    auth_required: false', ''].join('\n'));
    const r = await runCliProcess(['serve', '--config', bad, '--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: join(dir, 'home-bad'), GATEHOUSE_ENV: 'production' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /GH_CONFIG_INVALID|production/);
    assert.doesNotMatch(r.stderr, /starting a new one/);
  });

  test('an address in use: GH_LISTEN_FAILED naming it, exit 1, for one process and for workers alike', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    try {
      for (const workers of ['1', '2']) {
        const r = await runCliProcess(['serve', '--config', config, '--listen', `127.0.0.1:${port}`, '--workers', workers], { GATEHOUSE_HOME: join(dir, 'home-taken'), GATEHOUSE_ENV: 'development' });
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`error GH_LISTEN_FAILED: cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use \\(EADDRINUSE\\)`));
        assert.doesNotMatch(r.stderr, /starting a new one/);
      }
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
  });

  test('a replacement worker runs the configuration the supervisor started with, not the file edited (or broken) since', async () => {
    const edited = join(dir, 'edited.yaml');
    const routeAt = (prefix: string) =>
      ['server:', '  workers: 2', '  tls:', '    enabled: false', 'routes:', '  - name: up', `    prefix: ${prefix}`, `    upstream: ${upstreamUrl}`, '    auth_required: false', ''].join('\n');
    writeFileSync(edited, routeAt('/up'));
    const gw = await startServe(['--config', edited, '--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: join(dir, 'home-edited'), GATEHOUSE_ENV: 'development' });
    try {
      const line = await until('the workers to serve', () => /2 workers serving \(pids (\d+), (\d+)\)/.exec(gw.stderr()) ?? undefined);
      let victim = Number(line[2]);
      // Edited: the route moved. Then broken: not YAML at all. Each time worker 2 dies and is replaced.
      for (const [n, text] of [[1, routeAt('/moved')], [2, 'routes: [\n']] as const) {
        writeFileSync(edited, text);
        process.kill(victim, 'SIGKILL');
        const replacement = await until(`replacement ${n}`, () => {
          const m = /worker 2 serving again \(pid (\d+)\)/g;
          const all = [...gw.stderr().matchAll(m)];
          return all.length === n ? Number(all[n - 1]![1]) : undefined;
        });
        assert.notEqual(replacement, victim);
        victim = replacement;
        // New connections go to both workers in turn: every one of them still enforces the start-up routes.
        for (let i = 0; i < 8; i++) {
          assert.equal(await get(`${gw.url}/up/still${i}`), 200, `worker answering /up after edit ${n}`);
          assert.equal(await get(`${gw.url}/moved/x${i}`), 404, `worker answering /moved after edit ${n}`);
        }
      }
      assert.doesNotMatch(gw.stderr(), /could not be started|stopping the gateway/);
      assert.equal(await gw.stop('SIGTERM'), 0);
    } finally {
      if (gw.child.exitCode === null) gw.child.kill('SIGKILL');
    }
  });

  test('workers whose supervisor is SIGKILLed finish their in-flight requests, write their records and exit', async () => {
    // An upstream that answers after a pause: the request is in flight when the supervisor dies.
    let arrived!: () => void;
    const inFlight = new Promise<void>((r) => (arrived = r));
    const slow = createServer((req, res) => {
      req.resume();
      arrived();
      setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('slow but sure\n'), 1500);
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const slowConfig = join(dir, 'slow.yaml');
    const slowHome = join(dir, 'home-slow');
    writeFileSync(
      slowConfig,
      ['server:', '  workers: 2', '  shutdown_timeout: 10s', '  tls:', '    enabled: false', 'routes:', '  - name: slow', '    prefix: /slow', `    upstream: http://127.0.0.1:${(slow.address() as { port: number }).port}`, '    auth_required: false', ''].join('\n'),
    );
    const gw = await startServe(['--config', slowConfig, '--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: slowHome, GATEHOUSE_ENV: 'development' });
    try {
      const line = await until('the workers to serve', () => /2 workers serving \(pids (\d+), (\d+)\)/.exec(gw.stderr()) ?? undefined);
      const pids = [Number(line[1]), Number(line[2])];
      const answer = getOverNewConnection(`${gw.url}/slow/last-words`);
      await inFlight;
      gw.child.kill('SIGKILL');
      const got = await answer;
      assert.equal(got.status, 200);
      assert.equal(got.body, 'slow but sure\n');
      for (const pid of pids) await until(`worker ${pid} to exit`, () => !alive(pid));
      assert.match(gw.stderr(), /the supervisor is gone; draining in-flight requests/);
    } finally {
      if (gw.child.exitCode === null) gw.child.kill('SIGKILL');
      await new Promise<void>((r) => slow.close(() => r()));
    }
    // The drained request's record was written, and the chain verifies.
    assert.ok(auditPaths(slowHome).has('/slow/last-words'), 'the record of the request in flight');
    const verify = await runCliProcess(['audit', 'verify', join(slowHome, 'audit'), '--json'], { GATEHOUSE_HOME: slowHome });
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });

  test('an HTTP audit sink under two workers delivers every record once: each worker spools and sends its own batches', async () => {
    // A real collector on loopback: counts each record by its chain position.
    const seen = new Map<number, number>();
    let posts = 0;
    const collector = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        posts++;
        for (const r of (JSON.parse(body) as { records: Array<{ seq: number }> }).records) seen.set(r.seq, (seen.get(r.seq) ?? 0) + 1);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const sinkConfig = join(dir, 'sink.yaml');
    const sinkHome = join(dir, 'home-sink');
    writeFileSync(
      sinkConfig,
      [
        'server:', '  workers: 2', '  tls:', '    enabled: false', 'audit:', '  sinks:', '    - type: http', `      url: http://127.0.0.1:${(collector.address() as { port: number }).port}/ingest`,
        '      batch_interval: 20ms', 'routes:', '  - name: up', '    prefix: /up', `    upstream: ${upstreamUrl}`, '    auth_required: false', '',
      ].join('\n'),
    );
    const gw = await startServe(['--config', sinkConfig, '--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: sinkHome, GATEHOUSE_ENV: 'development' });
    try {
      await until('the workers to serve', () => /2 workers serving/.test(gw.stderr()));
      await Promise.all(Array.from({ length: 60 }, (_, i) => get(`${gw.url}/up/sink${i}`).then((code) => assert.equal(code, 200))));
      const records = await until('every request record at the collector', () => {
        const paths = auditPaths(sinkHome);
        const all = Array.from({ length: 60 }, (_, i) => `/up/sink${i}`).every((p) => paths.has(p));
        const lines = readFileSync(join(sinkHome, 'audit', 'audit.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { seq: number; event_type: string });
        const wanted = lines.filter((r) => r.event_type === 'http.request');
        return all && wanted.every((r) => seen.has(r.seq)) ? wanted : undefined;
      });
      assert.ok(records.length >= 60);
      // Give a second sender, were there one, the time to send the same batches again.
      await new Promise((r) => setTimeout(r, 500));
      const twice = [...seen].filter(([, n]) => n > 1).map(([seq]) => seq);
      assert.deepEqual(twice, [], `records delivered more than once (of ${posts} posts)`);
      assert.doesNotMatch(gw.stdout() + gw.stderr(), /cannot read the spool/);
      assert.equal(await gw.stop('SIGTERM'), 0);
    } finally {
      if (gw.child.exitCode === null) gw.child.kill('SIGKILL');
      await new Promise<void>((r) => collector.close(() => r()));
    }
  });

  test('repeated authentication failures spread over two workers meet one alert threshold (one engine, in the supervisor)', async () => {
    const posted: Array<{ alerts: Array<{ kind: string; failures?: number; source?: string }> }> = [];
    const hook = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        posted.push(JSON.parse(body) as (typeof posted)[number]);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const alertConfig = join(dir, 'alerts.yaml');
    writeFileSync(
      alertConfig,
      [
        'server:', '  workers: 2', '  tls:', '    enabled: false', 'audit:', '  alerts:', '    enabled: true', `    webhook_url: http://127.0.0.1:${(hook.address() as { port: number }).port}/alerts`,
        '    auth_failures: { threshold: 4, window: 1m }', '    batch_interval: 100ms', 'routes:', '  - name: up', '    prefix: /up', `    upstream: ${upstreamUrl}`, '',
      ].join('\n'),
    );
    const gw = await startServe(['--config', alertConfig, '--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: join(dir, 'home-alerts'), GATEHOUSE_ENV: 'development' });
    try {
      await until('the workers to serve', () => /2 workers serving/.test(gw.stderr()));
      // Four failures on four new connections: round-robin gives each worker two, under the threshold of either.
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        statuses.push(
          await new Promise<number>((resolve, reject) => {
            const req = request(`${gw.url}/up/guess${i}`, { agent: false, headers: { authorization: 'Bearer not-a-token' } }, (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            });
            req.on('error', reject);
            req.end();
          }),
        );
      }
      assert.deepEqual(statuses, [401, 401, 401, 401]);
      const workers = new Set(gw.stdout().split('\n').filter((l) => l.includes('"msg":"request"')).map((l) => (JSON.parse(l) as { worker?: number }).worker));
      assert.deepEqual([...workers].sort(), [1, 2], 'the failures landed on both workers');
      const alert = await until('the repeated_auth_failures alert', () => posted.flatMap((p) => p.alerts).find((a) => a.kind === 'repeated_auth_failures'));
      assert.equal(alert.failures, 4);
      assert.equal(alert.source, '127.0.0.1');
      assert.equal(await gw.stop('SIGTERM'), 0);
    } finally {
      if (gw.child.exitCode === null) gw.child.kill('SIGKILL');
      await new Promise<void>((r) => hook.close(() => r()));
    }
  });

  test('session ticket keys rotate on every worker together: an old ticket stops resuming, a new one resumes on both', async () => {
    const tlsConfigFile = join(dir, 'tls.yaml');
    const tlsHome = join(dir, 'home-tls');
    const PERIOD = 2000;
    writeFileSync(
      tlsConfigFile,
      ['server:', '  workers: 2', '  tls:', `    ticket_key_rotation: ${PERIOD}ms`, 'routes:', '  - name: up', '    prefix: /up', `    upstream: ${upstreamUrl}`, '    auth_required: false', ''].join('\n'),
    );
    const gw = await startServe(['--config', tlsConfigFile, '--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: tlsHome, GATEHOUSE_ENV: 'development' });
    try {
      await until('the workers to serve', () => /2 workers serving/.test(gw.stderr()));
      const ca = readFileSync(join(tlsHome, 'tls', 'ca.crt'));
      /** One TLS 1.3 connection and one request on it: the session ticket it got, whether it resumed one, and which worker answered. */
      const visit = (session?: Buffer) =>
        new Promise<{ reused: boolean; ticket: Buffer | undefined; requestId: string | undefined }>((resolve, reject) => {
          let ticket: Buffer | undefined;
          let reused = false;
          let text = '';
          const socket = tlsConnect({ host: '127.0.0.1', port: gw.port, ca, servername: 'localhost', minVersion: 'TLSv1.3', ...(session ? { session } : {}) });
          socket.on('session', (s: Buffer) => (ticket = s));
          socket.on('error', reject);
          socket.once('secureConnect', () => {
            reused = socket.isSessionReused();
            socket.write('GET /up/tls HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n');
          });
          socket.setEncoding('utf8');
          socket.on('data', (d: string) => (text += d));
          socket.on('close', () => resolve({ reused, ticket, requestId: /x-request-id: (\S+)/i.exec(text)?.[1] }));
        });
      const workerOf = (requestId: string | undefined) =>
        gw.stdout().split('\n').filter((l) => requestId !== undefined && l.includes(requestId) && l.includes('"msg":"request"')).map((l) => (JSON.parse(l) as { worker?: number }).worker)[0];

      // A fresh ticket resumes on both workers (consecutive connections alternate between them). A rotation can fall
      // between getting a ticket and using it: then a later attempt decides. Four, not two: on a slow machine one
      // attempt (three connections) can take a good part of a period, and then a rotation may fall into two in a row.
      let both: Array<number | undefined> = [];
      for (let attempt = 0; attempt < 4 && both.length === 0; attempt++) {
        const fresh = await visit();
        const again = [await visit(fresh.ticket), await visit(fresh.ticket)];
        if (again.every((v) => v.reused)) both = await Promise.all(again.map(async (v) => until('the request line', () => workerOf(v.requestId))));
      }
      assert.deepEqual(both.sort(), [1, 2], 'a fresh ticket resumed on both workers');

      // After more than one period, every worker has the new keys: the old ticket resumes nowhere.
      const old = await visit();
      await new Promise((r) => setTimeout(r, PERIOD * 1.5));
      const stale = [await visit(old.ticket), await visit(old.ticket)];
      assert.deepEqual(stale.map((v) => v.reused), [false, false], 'a ticket from before the rotation still resumed');
      assert.equal(await gw.stop('SIGTERM'), 0);
    } finally {
      if (gw.child.exitCode === null) gw.child.kill('SIGKILL');
    }
  });

  test('--workers takes auto or a whole number from 1 to 64', async () => {
    for (const v of ['0', '65', 'two', '1.5', '-1', '']) {
      const r = await runCliProcess(['serve', '--config', config, `--workers=${v}`], { GATEHOUSE_HOME: join(dir, 'home-flag') });
      assert.equal(r.code, 2, `--workers ${v}: ${r.stderr}`);
      assert.match(r.stderr, /GH_USAGE: --workers: expected auto or a whole number from 1 to 64/);
    }
    const cfgBad = join(dir, 'workers-zero.yaml');
    writeFileSync(cfgBad, 'server:\n  workers: 0\n');
    const r = await runCliProcess(['config', 'check', '--config', cfgBad], {});
    assert.equal(r.code, 2);
    assert.match(r.stderr, /server\.workers/);
  });
});
