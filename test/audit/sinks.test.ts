import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { execFileSync, spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ManualClock } from '../../src/core/clock.js';
import { createStdoutSink, syslogMessage } from '../../src/audit/index.js';
import { memoryLogger, openTestLog, seedEvent, tempDir } from './helpers.js';
import { until } from '../helpers/until.js';
import { readOctetFrames } from '../helpers/syslog.js';


const body = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve) => {
    let b = '';
    req.on('data', (d: Buffer) => (b += d.toString()));
    req.on('end', () => resolve(b));
  });

/** A SIEM that ignores batch ids it has seen (idempotent receiver) and keeps every record in arrival order. */
function siem() {
  const seenIds = new Set<string>();
  const records: Record<string, unknown>[] = [];
  const posts: string[] = [];
  let status = 200;
  const server = createServer((req, res) => {
    void body(req).then((b) => {
      const msg = JSON.parse(b) as { batch_id: string; records: Record<string, unknown>[] };
      assert.equal(req.headers['idempotency-key'], msg.batch_id);
      posts.push(msg.batch_id);
      if (status === 200 && !seenIds.has(msg.batch_id)) {
        seenIds.add(msg.batch_id);
        records.push(...msg.records);
      }
      res.writeHead(status).end();
    });
  });
  return {
    server,
    records,
    posts,
    setStatus: (s: number) => (status = s),
    listen: (port = 0) => new Promise<number>((resolve) => server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))),
    stop: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

// timeout: the default 10 s. A SIEM that is down refuses at once here; a shorter timeout only lets a slow machine
// give up on a post the SIEM did take (posted twice, or a CLI's close() leaving its record unsent).
const httpSink = (port: number, extra: Record<string, unknown> = {}) => ({
  sinks: [{ type: 'http', url: `http://127.0.0.1:${port}/ingest`, batch_max: 20, batch_interval: '30ms', retry_min: '50ms', retry_max: '200ms', timeout: '10s', ...extra }],
});

/** The spooled batch files in a directory (none when it does not exist). */
const batches = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : []);

/** A fresh state dir and a SIEM listening on loopback, stopped when the test ends. */
async function siemUp(t: { after(fn: () => unknown): void }) {
  const state = tempDir(t);
  const s = siem();
  const port = await s.listen();
  t.after(() => s.stop());
  return { state, s, port };
}

/** `n` records written by one log process while the SIEM is down: they wait in the spool. The SIEM is stopped on return. */
async function writtenWhileDown(t: { after(fn: () => void): void }, n: number, opts: Parameters<typeof openTestLog>[2] = {}) {
  const state = tempDir(t);
  const s = siem();
  const port = await s.listen();
  await s.stop();
  const log = await openTestLog(state, httpSink(port), opts);
  await Promise.all(Array.from({ length: n }, (_, i) => log.emit(seedEvent(i))));
  await log.close();
  return { state, s, port, log };
}

describe('HTTP SIEM sink', () => {
  test('the SIEM goes down and comes back: every record arrives exactly once and in order', async (t) => {
    const { state, s, port } = await siemUp(t);
    const log = await openTestLog(state, httpSink(port));
    for (let i = 0; i < 100; i += 10) await Promise.all(Array.from({ length: 10 }, (_, j) => log.emit(seedEvent(i + j))));
    await until('the first 100 records', () => s.records.length >= 100);

    await s.stop();
    for (let i = 100; i < 200; i += 10) await Promise.all(Array.from({ length: 10 }, (_, j) => log.emit(seedEvent(i + j))));
    const spool = join(log.dir, 'spool', '0');
    await until('spooled batches', () => readdirSync(spool).filter((f) => f.endsWith('.json')).length > 0);

    await s.listen(port);
    await until(() => `all 200 records (have ${s.records.length})`, () => s.records.filter((r) => r['event_type'] === 'tool.call').length === 200);
    await log.close();
    const seqs = s.records.map((r) => r['seq'] as number);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'consecutive, in order, no duplicates');
    assert.deepEqual(s.records.filter((r) => r['event_type'] === 'tool.call').map((r) => (r['args'] as { i: number }).i), Array.from({ length: 200 }, (_, i) => i));
    assert.equal(new Set(s.posts).size, s.posts.length, 'no batch was posted twice here');
    assert.deepEqual(readdirSync(spool).filter((f) => f.endsWith('.json')), []);
  });

  test('batches spooled while the SIEM was down are replayed by the next writer process', async (t) => {
    const { state, s, port, log } = await writtenWhileDown(t, 30);
    assert.ok(batches(join(log.dir, 'spool', '0')).length > 0);
    await s.listen(port);
    t.after(() => s.stop());
    const again = await openTestLog(state, httpSink(port));
    await until('the 30 tool.call records', () => s.records.filter((r) => r['event_type'] === 'tool.call').length === 30);
    await again.close();
    assert.deepEqual(s.records.map((r) => r['seq']), Array.from({ length: s.records.length }, (_, i) => i + 1));
  });

  test('workers spool apart; worker 1 sends what a worker index above the current count left behind', async (t) => {
    // Worker 3 of 3 writes while the SIEM is down: its batches wait in spool/0/worker-3, not in worker 1's spool.
    const { state, s, port, log: third } = await writtenWhileDown(t, 20, { worker: { index: 3, count: 3 } });
    const spool = join(third.dir, 'spool', '0');
    assert.ok(batches(join(spool, 'worker-3')).length > 0);
    assert.equal(batches(spool).length, 0);
    // Worker 2 of 2 does not touch them (its own spool is worker-2); worker 1 of 2 takes them over and sends them.
    await s.listen(port);
    t.after(() => s.stop());
    const second = await openTestLog(state, httpSink(port), { worker: { index: 2, count: 2 } });
    assert.ok(batches(join(spool, 'worker-3')).length > 0);
    const first = await openTestLog(state, httpSink(port), { worker: { index: 1, count: 2 } });
    assert.equal(batches(join(spool, 'worker-3')).length, 0);
    await until('the adopted batches at the SIEM', () => s.records.filter((r) => r['event_type'] === 'tool.call').length === 20);
    await first.close();
    await second.close();
    const seqs = s.records.map((r) => r['seq'] as number);
    assert.equal(new Set(seqs).size, seqs.length, 'no record sent twice');
  });

  test('a CLI command (transient) spools apart: it never sends the gateway\'s pending batches; the gateway adopts what a finished CLI left', async (t) => {
    // The gateway's batches wait in the spool while the SIEM is down.
    const { state, s, port, log: gateway } = await writtenWhileDown(t, 10);
    const spool = join(gateway.dir, 'spool', '0');
    const pending = batches(spool);
    assert.ok(pending.length > 0);

    // A CLI command runs with the SIEM back: it sends its own record only, and leaves no spool of its own behind.
    await s.listen(port);
    t.after(() => s.stop());
    const cli = await openTestLog(state, httpSink(port), { transient: true });
    await cli.emit(seedEvent(100, { event_type: 'token.mint' }));
    await cli.close();
    assert.deepEqual(s.records.map((r) => r['event_type']), ['token.mint']);
    assert.deepEqual(batches(spool), pending, 'the gateway\'s batches are untouched');
    assert.equal(existsSync(join(spool, `cli-${process.pid}`)), false);

    // A CLI that ended with its batch unsent (here: a spool left under the pid of a process that has exited).
    const gone = spawnSync(process.execPath, ['-e', '']).pid as number;
    await s.stop();
    const cli2 = await openTestLog(state, httpSink(port), { transient: true });
    await cli2.emit(seedEvent(101, { event_type: 'key.rotate' }));
    await cli2.close();
    renameSync(join(spool, `cli-${process.pid}`), join(spool, `cli-${gone}`));
    // The next gateway start adopts it and sends everything once.
    await s.listen(port);
    const again = await openTestLog(state, httpSink(port));
    await until('the gateway\'s and the CLI\'s batches at the SIEM', () => s.records.filter((r) => r['event_type'] === 'tool.call').length === 10 && s.records.some((r) => r['event_type'] === 'key.rotate'));
    await again.close();
    assert.equal(existsSync(join(spool, `cli-${gone}`)) && batches(join(spool, `cli-${gone}`)).length > 0, false);
    const seqs = s.records.map((r) => r['seq'] as number);
    assert.equal(new Set(seqs).size, seqs.length, 'no record sent twice');
  });

  test('a running gateway takes over what an exited CLI command left unsent, without a restart, and removes its spool', async (t) => {
    const { state, s, port } = await siemUp(t);
    const logger = memoryLogger();
    // The gateway runs, looking for spools to take over every 50 ms here (60 s by default).
    const gateway = await openTestLog(state, httpSink(port), { spoolAdoptEveryMs: 50, logger });
    const spool = join(gateway.dir, 'spool', '0');
    // A CLI command runs while the SIEM is down and exits with its record unsent; its spool stays under its pid.
    await s.stop();
    const cli = await openTestLog(state, httpSink(port), { transient: true });
    await cli.emit(seedEvent(1, { event_type: 'key.rotate' }));
    await cli.close();
    const gone = spawnSync(process.execPath, ['-e', '']).pid as number;
    renameSync(join(spool, `cli-${process.pid}`), join(spool, `cli-${gone}`));
    assert.ok(batches(join(spool, `cli-${gone}`)).length > 0);
    // The SIEM is back: the gateway, still running, sends the CLI's record and removes the emptied spool.
    await s.listen(port);
    await until('the CLI\'s record at the SIEM', () => s.records.some((r) => r['event_type'] === 'key.rotate'));
    await until('the CLI\'s spool to be removed', () => !existsSync(join(spool, `cli-${gone}`)));
    assert.ok(logger.lines.some((l) => l.msg?.includes('took over batches') === true), 'the take-over is logged');
    // A CLI spool whose process still runs (this test's) is left alone, sweep after sweep.
    const live = join(spool, `cli-${process.pid}`);
    mkdirSync(live, { recursive: true, mode: 0o700 });
    const name = `${'9'.repeat(15)}1-${'9'.repeat(15)}1-${'0'.repeat(16)}.json`;
    writeFileSync(join(live, name), '{"batch_id":"live","records":[]}', { mode: 0o600 });
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(batches(live), [name], 'a running CLI\'s spool was taken over');
    await gateway.close();
  });

  test('a batch the SIEM refuses for good (400) moves to spool/rejected and does not block the rest', async (t) => {
    const { state, s, port } = await siemUp(t);
    const logger = memoryLogger();
    s.setStatus(400);
    const log = await openTestLog(state, httpSink(port), { logger });
    await Promise.all(Array.from({ length: 5 }, (_, i) => log.emit(seedEvent(i))));
    await until('the rejected batch to be set aside', () => existsSync(join(log.dir, 'spool', '0', 'rejected')));
    s.setStatus(200);
    await Promise.all(Array.from({ length: 5 }, (_, i) => log.emit(seedEvent(5 + i))));
    await until('5 records at the SIEM', () => s.records.length >= 5);
    await log.close();
    assert.ok(logger.lines.some((l) => (l.obj as { alert?: string }).alert === 'audit_batch_rejected'));
  });
});

describe('syslog sink (RFC 5424)', () => {
  const HEADER = /^<(\d{1,3})>1 (\S+) (\S+) gatehouse (\d+) (\S+) - \ufeff(\{.*\})$/s;

  test('UDP: one RFC 5424 message per datagram, the record JSON after the BOM', async (t) => {
    const udp = createSocket('udp4');
    const got: string[] = [];
    udp.on('message', (m) => got.push(m.toString()));
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    t.after(() => udp.close());
    const state = tempDir(t);
    const log = await openTestLog(state, { sinks: [{ type: 'syslog', transport: 'udp', port: udp.address().port, batch_interval: '10ms' }] });
    await log.emit(seedEvent(0));
    await log.emit(seedEvent(1, { result_status: 'error', error: 'Insufficient scope', risk_level: 'low' }));
    await until('2 messages', () => got.length >= 2);
    await log.close();
    const m = HEADER.exec(got[0] as string);
    assert.ok(m, got[0]);
    assert.equal(Number(m[1]), 13 * 8 + 4, 'facility 13 (log audit), warning for a critical operation');
    assert.equal(m[2], '2026-01-01T00:00:00.000Z');
    assert.equal(m[5], 'tool.call');
    assert.equal((JSON.parse(m[6] as string) as { seq: number }).seq, 1);
    assert.equal(Number(HEADER.exec(got[1] as string)?.[1]), 13 * 8 + 4);
  });

  test('TCP with octet-counting framing (RFC 6587), reconnecting after the server drops the connection', async (t) => {
    const frames: string[] = [];
    const sockets = new Set<Socket>();
    const server = createTcpServer((sock) => {
      sockets.add(sock);
      readOctetFrames(sock, frames);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const state = tempDir(t);
    const log = await openTestLog(state, { sinks: [{ type: 'syslog', transport: 'tcp', port: (server.address() as AddressInfo).port, batch_interval: '10ms' }], checkpoint: { every_records: 1000 } });
    await Promise.all([0, 1, 2].map((i) => log.emit(seedEvent(i, { args: { text: 'ünïcødé', i } }))));
    await until('3 frames', () => frames.length >= 3);
    for (const s of sockets) s.destroy();
    await new Promise((r) => setTimeout(r, 50));
    await log.emit(seedEvent(3));
    await log.emit(seedEvent(4));
    await until('5 tool.call frames', () => frames.filter((f) => f.includes('"tool.call"')).length >= 5);
    await log.close();
    for (const f of frames) assert.match(f, HEADER);
    const seqs = frames.map((f) => (JSON.parse(f.slice(f.indexOf('\ufeff') + 1)) as { seq: number }).seq);
    assert.deepEqual([...new Set(seqs)].sort((a, b) => a - b).slice(0, 5), [1, 2, 3, 4, 5]);
  });

  test('TLS (RFC 5425) to a server whose certificate the configured CA file vouches for', async (t) => {
    const dir = tempDir(t);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
    const frames: string[] = [];
    const server = createTlsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (sock) => {
      sock.on('data', (d: Buffer) => frames.push(d.toString()));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const state = tempDir(t);
    const log = await openTestLog(state, { sinks: [{ type: 'syslog', transport: 'tls', port: (server.address() as AddressInfo).port, ca_file: join(dir, 'cert.pem'), server_name: 'localhost', batch_interval: '10ms' }] });
    await log.emit(seedEvent(0));
    await until('the first record', () => frames.join('').includes('"seq":1'));
    await log.close();
    assert.match(frames.join(''), /^\d+ <108>1 /);
  });

  test('message format is bounded and printable in the header', () => {
    const msg = syslogMessage('{"event_type":"a b\\u0000c","timestamp":"2026-01-01T00:00:00Z","result":"success","seq":1}', 16, 'gate house', 'h', 42);
    assert.equal(msg.split(' - ')[0], '<134>1 2026-01-01T00:00:00Z h gate_house 42 a_b_c');
  });
});

describe('stdout sink', () => {
  test('writes JSON Lines in batches', async () => {
    let text = '';
    const stream = new Writable({ write(c: Buffer, _e, cb) { text += c.toString(); cb(); } });
    const sink = createStdoutSink({ batchMax: 2, intervalMs: 5, maxQueue: 10, logger: memoryLogger(), stream });
    sink.deliver(['{"a":1}', '{"a":2}', '{"a":3}']);
    await sink.close();
    assert.equal(text, '{"a":1}\n{"a":2}\n{"a":3}\n');
  });
});

describe('real-time alerts webhook', () => {
  function webhook() {
    const posts: { body: string; signature: string | undefined }[] = [];
    const server: Server = createServer((req, res) => {
      void body(req).then((b) => {
        posts.push({ body: b, signature: req.headers['x-gatehouse-signature'] as string | undefined });
        res.writeHead(204).end();
      });
    });
    return { server, posts };
  }

  test('critical operations, break-glass use and repeated authorization failures from one node, signed and rate-limited', async (t) => {
    const { server, posts } = webhook();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
    const state = tempDir(t);
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`;
    const log = await openTestLog(state, {
      // One flush, at close: the order of alerts and the rate limit are then deterministic.
      alerts: { enabled: true, webhook_url: url, secret_env: 'ALERT_SECRET', batch_interval: '1h', max_per_minute: 4, auth_failures: { threshold: 3, window: '1m' } },
    }, { clock, env: { ALERT_SECRET: 's3cret-for-tests' } });
    await log.emit(seedEvent(0));
    await log.emit(seedEvent(1, { risk_level: 'low', approval: { break_glass: true } }));
    const deny = (i: number, node: string) => seedEvent(i, { event_type: 'authz.deny', result_status: 'error', error: 'Insufficient scope', risk_level: 'low', tailscale: { tailscale_node: node } });
    await log.emit(deny(2, 'dev1'));
    await log.emit(deny(3, 'dev2'));
    await log.emit(deny(4, 'dev1'));
    await log.emit(deny(5, 'dev2'));
    await log.emit(deny(6, 'dev1'));
    clock.advance(61_000);
    await log.emit(deny(7, 'dev2'));
    for (let i = 0; i < 5; i++) await log.emit(seedEvent(10 + i));
    await log.close();
    assert.equal(posts.length, 1);
    const all = posts.map((p) => {
      assert.equal(p.signature, `sha256=${createHmac('sha256', 's3cret-for-tests').update(p.body).digest('hex')}`);
      return JSON.parse(p.body) as { alerts: { kind: string; source?: string; failures?: number }[]; suppressed: number };
    });
    const kinds = all.flatMap((p) => p.alerts.map((a) => a.kind));
    assert.deepEqual(kinds.slice(0, 3), ['critical_operation', 'break_glass', 'repeated_auth_failures']);
    const burst = all.flatMap((p) => p.alerts).find((a) => a.kind === 'repeated_auth_failures');
    assert.deepEqual([burst?.source, burst?.failures], ['dev1', 3]);
    assert.ok(!all.flatMap((p) => p.alerts).some((a) => a.source === 'dev2'), 'dev2 failures were a minute apart');
    assert.equal(kinds.length, 6, 'rate-limited to max_per_minute per kind: 4 of the 6 critical operations, the break-glass use, the failure burst');
    assert.equal(all.reduce((n, p) => n + p.suppressed, 0), 2);
    assert.ok(!posts.some((p) => p.body.includes('"args"')), 'alerts carry no args');
  });
});

test('AlertForwarder (server.workers) forwards only what the alert engine reads, from the records it would look at, never args', async (t) => {
  const state = tempDir(t);
  const sent: Record<string, unknown>[] = [];
  const log = await openTestLog(state, { alerts: { enabled: true, events: ['key.rotate'] } }, { alertsTo: (r) => sent.push(r) });
  await log.emit(seedEvent(0, { event_type: 'tool.call', result_status: 'success', risk_level: 'low', args: { password: 'hunter2' } }));
  await log.emit(seedEvent(1, { event_type: 'auth.failure', result_status: 'error', error_code: 'GH_TOKEN_INVALID', args: { token: 'secret-ish' } }));
  await log.emit(seedEvent(2, { event_type: 'tool.call', result_status: 'success', risk_level: 'critical', tool: 'install_package', args: { package_name: 'x' } }));
  await log.emit(seedEvent(3, { event_type: 'key.rotate', result_status: 'success' }));
  await log.emit(seedEvent(4, { event_type: 'tool.call', result_status: 'success', risk_level: 'low', approval: { break_glass: true } }));
  await log.close();
  assert.deepEqual(sent.map((r) => r['event_type']), ['auth.failure', 'tool.call', 'key.rotate', 'tool.call']);
  assert.equal(sent[1]!['risk_level'], 'critical');
  assert.deepEqual(sent[3]!['approval'], { break_glass: true });
  for (const r of sent) {
    assert.equal(r['args'], undefined);
    assert.ok(Object.keys(r).every((k) => ['event_type', 'timestamp', 'subject', 'auth_method', 'tool', 'action', 'risk_level', 'result', 'error_code', 'source_ip', 'tailscale', 'request_id', 'approval', 'metadata'].includes(k)), Object.keys(r).join());
  }
  assert.doesNotMatch(JSON.stringify(sent), /hunter2|secret-ish/);
});
