/**
 * An HTTP audit sink sends whatever its spool holds under a batch's name. With spool_dir in a directory another
 * local account can write, that account plants a symlink named like a batch pointing at a file only the gateway can
 * read (its token signing secret): the gateway posted the file to the SIEM, again and again (unlink fails in a
 * sticky directory). The spool directory is now judged as state_dir is, and batches are opened without following
 * links and sent only when they are regular files; anything else is set aside with a warning, never sent.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { isGatehouseError } from '../../src/core/errors.js';
import { HttpSink, SPOOL_MAGIC, spoolMac } from '../../src/audit/sinks/index.js';
import { memoryLogger, openTestLog, tempDir } from '../audit/helpers.js';
import { until } from '../helpers/until.js';

const posix = process.platform === 'win32' ? 'file modes, FIFOs and O_NOFOLLOW are POSIX' : false;
const SECRET = 'token-signing-secret-of-the-gateway-0123456789';

/** A SIEM on loopback that keeps every body it is sent. */
async function siem(t: { after(fn: () => unknown): void }): Promise<{ url: string; bodies: string[] }> {
  const bodies: string[] = [];
  const server: Server = createServer((req, res) => {
    let b = '';
    req.on('data', (c: Buffer) => (b += c.toString()));
    req.on('end', () => {
      bodies.push(b);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/siem`, bodies };
}

/** The spool's MAC key (createSinks keeps it in the state directory). */
const SPOOL_KEY = Buffer.alloc(32, 7);
const sinkOptions = (url: string, spoolDir: string, logger = memoryLogger()) => ({
  url, headers: {}, batchMax: 10, intervalMs: 10, timeoutMs: 2000, spoolDir, spoolMaxBytes: 1 << 20, retryMinMs: 50, retryMaxMs: 100, logger, index: 0,
  spoolAuth: { key: SPOOL_KEY },
});
/** A batch file as the sink spools it: its MAC line, then the body it POSTs. */
const spooled = (name: string, body: string): Buffer =>
  Buffer.concat([Buffer.from(`${SPOOL_MAGIC} ${spoolMac(SPOOL_KEY, 0, name, Buffer.from(body)).toString('hex')}\n`), Buffer.from(body)]);

/** A chained-looking record line: the sink reads seq and hash from its trailer to name the batch. */
const line = (seq: number): string => `{"event_type":"http.request","seq":${seq},"prev_hash":"${'0'.repeat(64)}","hash":"${seq.toString(16).padStart(64, 'a')}"}`;
const batchName = (first: number, last: number, hashOfLast: string): string => `${String(first).padStart(16, '0')}-${String(last).padStart(16, '0')}-${hashOfLast.slice(0, 16)}.json`;

const refusedSpool = (e: unknown): boolean => {
  assert.ok(isGatehouseError(e), String(e));
  assert.equal(e.code, 'GH_CONFIG_INVALID');
  assert.match(e.message, /audit\.sinks\[0\]\.spool_dir .*shared.* is writable by group or others/);
  return true;
};

describe('HTTP sink spool planted with links', { skip: posix }, () => {
  test('a spool_dir others can write (1777, 0777) is refused at start: the planted link is never read or sent', async (t) => {
    const { url, bodies } = await siem(t);
    const root = tempDir(t);
    const secret = join(root, 'gw-secret');
    writeFileSync(secret, SECRET, { mode: 0o600 });
    for (const mode of [0o1777, 0o777]) {
      const shared = join(root, `shared-${mode.toString(8)}`);
      mkdirSync(shared);
      chmodSync(shared, mode);
      symlinkSync(secret, join(shared, batchName(1, 1, 'a'.repeat(16))));
      assert.throws(() => new HttpSink(sinkOptions(url, shared)), refusedSpool);
      // Configured in audit.sinks, the audit log does not open either.
      await assert.rejects(openTestLog(join(root, `state-${mode.toString(8)}`), { sinks: [{ type: 'http', url, spool_dir: shared }] }), refusedSpool);
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(bodies, []);
  });

  test('a worker\'s or a CLI command\'s spool inside a shared spool_dir is refused too (the configured directory is judged)', async (t) => {
    const { url } = await siem(t);
    const shared = join(tempDir(t), 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    for (const sub of ['worker-2', `cli-${process.pid}`]) assert.throws(() => new HttpSink(sinkOptions(url, join(shared, sub))), refusedSpool);
  });

  test('in a private spool, a link and a FIFO named like batches are set aside with a warning; only real batches are sent', async (t) => {
    const { url, bodies } = await siem(t);
    const root = tempDir(t);
    const secret = join(root, 'gw-secret');
    writeFileSync(secret, SECRET, { mode: 0o600 });
    const spool = join(root, 'spool');
    mkdirSync(spool, { mode: 0o700 });
    const link = batchName(1, 1, 'a'.repeat(16));
    const fifo = batchName(2, 2, 'b'.repeat(16));
    const genuine = batchName(3, 3, 'c'.repeat(16));
    symlinkSync(secret, join(spool, link));
    execFileSync('mkfifo', [join(spool, fifo)]);
    writeFileSync(join(spool, genuine), spooled(genuine, '{"batch_id":"3-3-cccccccccccccccc","records":[{"event_type":"admin.login"}]}'), { mode: 0o600 });
    const logger = memoryLogger();
    const sink = new HttpSink(sinkOptions(url, spool, logger));
    await until('the genuine batch at the SIEM', () => bodies.length >= 1);
    await sink.close();
    assert.equal(bodies.length, 1);
    assert.match(bodies[0] as string, /3-3-cccccccccccccccc/);
    assert.ok(!bodies.some((b) => b.includes(SECRET)), 'the private file reached the SIEM');
    assert.deepEqual(readdirSync(join(spool, 'quarantine')).sort(), [link, fifo].sort());
    assert.ok(lstatSync(join(spool, 'quarantine', link)).isSymbolicLink());
    assert.equal(readFileSync(secret, 'utf8'), SECRET);
    assert.equal(sink.stats.quarantined, 2);
    const warnings = logger.lines.filter((l) => (l.obj as { alert?: string }).alert === 'audit_spool_foreign_file');
    assert.equal(warnings.length, 2);
    assert.ok(!JSON.stringify(logger.lines).includes(SECRET));
  });

  test('a link planted under a batch\'s temporary name is replaced, not written through', async (t) => {
    const { url, bodies } = await siem(t);
    const root = tempDir(t);
    const victim = join(root, 'victim');
    writeFileSync(victim, 'keep me', { mode: 0o600 });
    const spool = join(root, 'spool');
    mkdirSync(spool, { mode: 0o700 });
    const hash = (7).toString(16).padStart(64, 'a');
    symlinkSync(victim, join(spool, `${batchName(7, 7, hash)}.tmp`));
    const sink = new HttpSink(sinkOptions(url, spool));
    sink.deliver([line(7)]);
    await until('the batch at the SIEM', () => bodies.length >= 1);
    await sink.close();
    assert.equal(readFileSync(victim, 'utf8'), 'keep me');
    assert.match(bodies[0] as string, /"seq":7/);
    assert.equal(existsSync(join(spool, `${batchName(7, 7, hash)}.tmp`)), false);
  });

  test('a sink built without spoolAuth (a library caller) still sends no batch it did not spool itself', async (t) => {
    const { url, bodies } = await siem(t);
    const root = tempDir(t);
    const spool = join(root, 'spool');
    mkdirSync(spool, { mode: 0o700 });
    const planted = batchName(1, 1, 'd'.repeat(16));
    writeFileSync(join(spool, planted), '{"batch_id":"1-1-dddddddddddddddd","records":[{"event_type":"forged"}]}', { mode: 0o600 });
    const { spoolAuth: _ignored, ...noAuth } = sinkOptions(url, spool);
    const sink = new HttpSink(noAuth);
    // Its own batches still flow (MACed with a key of its own); the planted one is set aside, not sent.
    sink.deliver([line(5)]);
    await until('its own batch at the SIEM', () => bodies.length >= 1);
    await until('the planted batch set aside', () => existsSync(join(spool, 'quarantine', planted)));
    await sink.close();
    assert.ok(!bodies.some((b) => b.includes('forged')), 'the planted batch was POSTed');
    assert.equal(sink.stats.unauthenticated, 1);
  });
});
