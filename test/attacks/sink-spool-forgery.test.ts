/**
 * An HTTP audit sink's spool lies in the audit directory by default (`<audit dir>/spool/<i>`). Whoever could write
 * there — but not the state directory and its keys — planted a file named like a batch, and the gateway POSTed it to
 * the SIEM verbatim with its own credentials: a forged `approved: true` install by alice reached the SIEM although the
 * log never held it. Changing a genuine spooled batch, or putting back a copy of one already delivered, worked too.
 *
 * Now every batch file carries an HMAC-SHA256 (key: <state_dir>/keys/audit-spool.key) over the sink's index, its name
 * and its body, and a batch waiting to be sent has a marker in <state_dir>/audit-spool/<i>/, removed once it is
 * delivered. A file failing either is moved to spool/quarantine/ with a warning naming it, never sent. Genuine
 * batches — the gateway's, a former worker's, an exited CLI command's — are still delivered after an outage, in order.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { memoryLogger, openTestLog, seedEvent, tempDir } from '../audit/helpers.js';
import { until } from '../helpers/until.js';

const posix = process.platform === 'win32' ? 'file modes are POSIX' : false;
const TOKEN = 'Bearer siem-token-of-the-gateway';
/** In every forged record: it must never reach the SIEM, nor a log line. */
const FORGED = 'forged-by-the-audit-dir-writer';

interface Post {
  path: string;
  authorization: string | undefined;
  batchId: string;
  body: string;
  records: Record<string, unknown>[];
}

/** A SIEM on loopback: answers `status` (503 = an outage), keeps what it accepted (2xx) in arrival order. */
async function siem(t: { after(fn: () => unknown): void }) {
  const accepted: Post[] = [];
  const seen: string[] = [];
  let status = 200;
  const server: Server = createServer((req, res) => {
    let b = '';
    req.on('data', (c: Buffer) => (b += c.toString()));
    req.on('end', () => {
      seen.push(b);
      if (status >= 200 && status < 300) {
        let records: Record<string, unknown>[] = [];
        let batchId = '';
        try {
          const msg = JSON.parse(b) as { batch_id: string; records: Record<string, unknown>[] };
          records = msg.records;
          batchId = msg.batch_id;
        } catch {
          // Not JSON: kept as a body all the same.
        }
        accepted.push({ path: req.url ?? '', authorization: req.headers['authorization'], batchId, body: b, records });
      }
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    accepted,
    /** Every body posted, accepted or not. */
    seen,
    setStatus: (s: number) => (status = s),
    /** The tool.call records the SIEM accepted, by their args.i, in arrival order. */
    toolCalls: () => accepted.flatMap((p) => p.records).filter((r) => r['event_type'] === 'tool.call').map((r) => (r['args'] as { i: number }).i),
  };
}

const sinkCfg = (origin: string, extra: Record<string, unknown> = {}) => ({
  type: 'http', url: `${origin}/ingest`, headers: { authorization: TOKEN }, batch_max: 1, batch_interval: '20ms',
  retry_min: '50ms', retry_max: '200ms', timeout: '10s', ...extra,
});
const cfgOf = (origin: string, extra: Record<string, unknown> = {}) => ({ sinks: [sinkCfg(origin, extra)] });

const batchFiles = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).sort() : []);
const name = (first: number, last: number, h = '0'.repeat(16)): string => `${String(first).padStart(16, '0')}-${String(last).padStart(16, '0')}-${h}.json`;
const forgedRecord = (seq: number) =>
  JSON.stringify({ approved: true, event_type: 'tool.call', result_status: 'success', risk_level: 'critical', subject: 'alice', tool: 'install_package', args: { i: 9000 + seq, package_name: FORGED }, seq, prev_hash: '0'.repeat(64), hash: 'f'.repeat(64) });
const forgedBody = (seq: number) => `{"batch_id":"${seq}-${seq}-ffffffffffffffff","records":[${forgedRecord(seq)}]}`;

type Logger = ReturnType<typeof memoryLogger>;
const setAside = (logger: Logger) =>
  logger.lines.filter((l) => (l.obj as { alert?: string }).alert === 'audit_spool_unauthenticated').map((l) => l.obj as { file: string; reason: string });

/** A process id that is not running (a CLI command that exited). */
const gonePid = (): number => spawnSync(process.execPath, ['-e', '']).pid as number;

/** `n` records (args.i = from…from+n-1), one batch each, written while the SIEM answers 503: they wait in the spool. */
async function writeDuringOutage(state: string, s: Awaited<ReturnType<typeof siem>>, from: number, n: number, opts: Parameters<typeof openTestLog>[2] = {}, cfg?: Record<string, unknown>) {
  s.setStatus(503);
  const log = await openTestLog(state, cfg ?? cfgOf(s.origin), opts);
  for (let i = from; i < from + n; i++) await log.emit(seedEvent(i));
  await log.close();
  return log.dir;
}

describe('HTTP sink spool: only batches this gateway spooled are sent, once', { skip: posix }, () => {
  test('a batch planted in the spool (no MAC, a MAC of another key, oversized, in an exited CLI\'s spool) is never POSTed with the gateway\'s credentials', async (t) => {
    const s = await siem(t);
    const state = tempDir(t);
    // A first run creates the spool; its record is delivered.
    let log = await openTestLog(state, cfgOf(s.origin, { spool_max_bytes: '64kb' }));
    await log.emit(seedEvent(0));
    await log.close();
    assert.deepEqual(s.toolCalls(), [0]);
    const spool = join(log.dir, 'spool', '0');

    // The attacker writes the audit directory only.
    const plain = name(1, 1, 'f'.repeat(16));
    writeFileSync(join(spool, plain), forgedBody(1));
    // Spelt like an authenticated batch, with a key of the attacker's own.
    const ownKey = name(2, 2, 'f'.repeat(16));
    const mac = createHmac('sha256', randomBytes(32)).update(forgedBody(2)).digest('hex');
    writeFileSync(join(spool, ownKey), `gatehouse-spool-v1 ${mac}\n${forgedBody(2)}`);
    // Larger than spool_max_bytes: not even read whole.
    const big = name(3, 3, 'f'.repeat(16));
    writeFileSync(join(spool, big), forgedBody(3).replace(FORGED, FORGED + ' '.repeat(100 * 1024)));
    // In the spool of a CLI command that exited: the gateway takes it over, and must check it as its own.
    const cli = join(spool, `cli-${gonePid()}`);
    mkdirSync(cli, { mode: 0o700 });
    const adopted = name(4, 4, 'f'.repeat(16));
    writeFileSync(join(cli, adopted), forgedBody(4));

    // The gateway starts again and writes a genuine record: that one is delivered, nothing planted is.
    const logger = memoryLogger();
    log = await openTestLog(state, cfgOf(s.origin, { spool_max_bytes: '64kb' }), { logger });
    await log.emit(seedEvent(1));
    await until(() => `the genuine record (have ${JSON.stringify(s.toolCalls())})`, () => s.toolCalls().includes(1));
    await log.close();

    assert.ok(!s.seen.some((b) => b.includes(FORGED)), 'a planted batch reached the SIEM');
    assert.deepEqual(s.toolCalls(), [0, 1]);
    assert.ok(s.accepted.every((p) => p.authorization === TOKEN));
    // Set aside, not deleted; one warning each, naming the file and why, never its content.
    assert.deepEqual(readdirSync(join(spool, 'quarantine')).sort(), [plain, ownKey, big, adopted].sort());
    assert.deepEqual(batchFiles(spool), []);
    const warned = setAside(logger);
    assert.deepEqual(warned.map((w) => w.file).sort(), [plain, ownKey, big, adopted].sort());
    assert.deepEqual(Object.fromEntries(warned.map((w) => [w.file, w.reason])), { [plain]: 'no_mac', [ownKey]: 'mac_mismatch', [big]: 'too_large', [adopted]: 'no_mac' });
    assert.ok(!JSON.stringify(logger.lines).includes(FORGED), 'a log line carries the planted content');

    // The key lives in the state directory, private; nothing key-like in the audit directory.
    const key = join(state, 'keys', 'audit-spool.key');
    assert.equal(statSync(key).mode & 0o777, 0o600);
    assert.ok(!JSON.stringify(readdirSync(log.dir, { recursive: true })).includes('.key'));
  });

  test('a genuine spooled batch changed on disk, or moved to another batch\'s name, is not sent; the untouched one is', async (t) => {
    const s = await siem(t);
    const state = tempDir(t);
    const dir = await writeDuringOutage(state, s, 0, 3);
    const spool = join(dir, 'spool', '0');
    const [a, b, c] = batchFiles(spool) as [string, string, string];
    assert.ok(c !== undefined, 'three batches wait in the spool');
    // a: a record edited (the tool and the subject), its MAC line kept.
    writeFileSync(join(spool, a), readFileSync(join(spool, a), 'utf8').replace('"ops-automation"', `"${FORGED}"`));
    // b: renamed to a later chain position (its content and MAC unchanged).
    const moved = name(90, 90, '9'.repeat(16));
    renameSync(join(spool, b), join(spool, moved));

    s.setStatus(200);
    const logger = memoryLogger();
    const log = await openTestLog(state, cfgOf(s.origin), { logger });
    await until(() => `the untouched batch (have ${JSON.stringify(s.toolCalls())})`, () => s.toolCalls().includes(2));
    await log.close();
    assert.ok(!s.seen.some((x) => x.includes(FORGED)), 'the changed batch reached the SIEM');
    assert.deepEqual(s.toolCalls(), [2]);
    assert.deepEqual(Object.fromEntries(setAside(logger).map((w) => [w.file, w.reason])), { [a]: 'mac_mismatch', [moved]: 'mac_mismatch' });
    assert.deepEqual(readdirSync(join(spool, 'quarantine')).sort(), [a, moved].sort());
  });

  test('a copy of a delivered batch put back in the spool (or in an exited CLI\'s spool) is not sent again', async (t) => {
    const s = await siem(t);
    const state = tempDir(t);
    const dir = await writeDuringOutage(state, s, 0, 2);
    const spool = join(dir, 'spool', '0');
    const names = batchFiles(spool);
    assert.equal(names.length, 2);
    const saved = tempDir(t);
    for (const n of names) copyFileSync(join(spool, n), join(saved, n));

    // The SIEM is back: both are delivered once.
    s.setStatus(200);
    let log = await openTestLog(state, cfgOf(s.origin));
    await until('the two spooled records', () => s.toolCalls().length === 2);
    await log.close();
    assert.deepEqual(batchFiles(spool), []);

    // The copies come back: one where it was, one in the spool of a CLI command that exited.
    copyFileSync(join(saved, names[0] as string), join(spool, names[0] as string));
    const cli = join(spool, `cli-${gonePid()}`);
    mkdirSync(cli, { mode: 0o700 });
    copyFileSync(join(saved, names[1] as string), join(cli, names[1] as string));
    const logger = memoryLogger();
    log = await openTestLog(state, cfgOf(s.origin), { logger });
    await log.emit(seedEvent(2));
    await until(() => `the new record (have ${JSON.stringify(s.toolCalls())})`, () => s.toolCalls().includes(2));
    await log.close();
    assert.deepEqual(s.toolCalls(), [0, 1, 2], 'a delivered batch was sent again');
    assert.deepEqual(setAside(logger).map((w) => [w.file, w.reason]).sort(), names.map((n) => [n, 'not_pending']).sort());
    // Nothing is left pending in the state directory once delivered.
    assert.deepEqual(readdirSync(join(state, 'audit-spool', '0')), []);
  });

  test('a batch of one sink copied into another sink\'s spool is not sent by that sink (the MAC names the sink)', async (t) => {
    const s = await siem(t);
    const state = tempDir(t);
    // Sink 0 cuts a batch per record, sink 1 one batch of all three: different names, the same records.
    const two = { sinks: [sinkCfg(s.origin, { url: `${s.origin}/zero` }), sinkCfg(s.origin, { url: `${s.origin}/one`, batch_max: 100, batch_interval: '5s' })] };
    const dir = await writeDuringOutage(state, s, 0, 3, {}, two);
    const [zero, one] = [join(dir, 'spool', '0'), join(dir, 'spool', '1')];
    assert.equal(batchFiles(zero).length, 3);
    assert.equal(batchFiles(one).length, 1);
    for (const n of batchFiles(zero)) copyFileSync(join(zero, n), join(one, n));

    s.setStatus(200);
    const logger = memoryLogger();
    const log = await openTestLog(state, two, { logger });
    const at = (path: string) => s.accepted.filter((p) => p.path === path).flatMap((p) => p.records).filter((r) => r['event_type'] === 'tool.call').map((r) => (r['args'] as { i: number }).i);
    await until('both sinks\' records', () => at('/zero').length === 3 && at('/one').length === 3);
    await log.close();
    assert.deepEqual(at('/zero'), [0, 1, 2]);
    assert.deepEqual(at('/one'), [0, 1, 2], 'sink 1 sent sink 0\'s batches as well');
    assert.deepEqual(setAside(logger).map((w) => w.reason), ['mac_mismatch', 'mac_mismatch', 'mac_mismatch']);
  });

  test('genuine batches spooled during an outage — the gateway\'s, a former worker\'s, an exited CLI\'s — are all delivered after it, once, in order', async (t) => {
    const s = await siem(t);
    const state = tempDir(t);
    // Worker 3 of 3, then the gateway alone, then a CLI command that exits with its batch unsent.
    await writeDuringOutage(state, s, 0, 4, { worker: { index: 3, count: 3 } });
    await writeDuringOutage(state, s, 4, 4);
    const dir = await writeDuringOutage(state, s, 8, 2, { transient: true });
    const spool = join(dir, 'spool', '0');
    renameSync(join(spool, `cli-${process.pid}`), join(spool, `cli-${gonePid()}`));
    assert.equal(readdirSync(join(state, 'audit-spool', '0')).length, 10, 'a marker per batch waiting');

    s.setStatus(200);
    const logger = memoryLogger();
    const log = await openTestLog(state, cfgOf(s.origin), { logger });
    await until(() => `the 10 spooled records (have ${JSON.stringify(s.toolCalls())})`, () => s.toolCalls().length >= 10);
    await log.close();
    assert.deepEqual(s.toolCalls(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const seqs = s.accepted.flatMap((p) => p.records).map((r) => r['seq'] as number);
    assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'in chain order');
    assert.equal(new Set(seqs).size, seqs.length, 'none twice');
    assert.ok(s.accepted.every((p) => p.authorization === TOKEN && p.body.startsWith('{"batch_id":')), 'the POSTed body is the batch, without the MAC line');
    assert.deepEqual(setAside(logger), []);
    assert.deepEqual(readdirSync(join(state, 'audit-spool', '0')), []);
    assert.deepEqual(batchFiles(spool), []);
  });
});
