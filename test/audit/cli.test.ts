import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.js';
import { auditEventFromExchange } from '../../src/audit/index.js';
import { checkpointMessage } from '../../src/audit/checkpoint.js';
import { keyId } from '../../src/audit/keys.js';
import { criticalApproved, criticalUnapproved, exchange, scopeDenied } from './exchange-fixtures.js';
import { openTestLog, readLines, rechain, seedEvent, tempDir, writeLines, writeLog } from './helpers.js';

function sink(): Writable & { text: string } {
  const w = new Writable({ write(chunk: Buffer, _enc, cb) { (w as unknown as { text: string }).text += chunk.toString(); cb(); } }) as Writable & { text: string };
  w.text = '';
  return w;
}

async function cli(argv: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; stdin?: string } = {}) {
  const stdout = sink();
  const stderr = sink();
  const code = await runCli(argv, { stdout, stderr, stdin: Readable.from([opts.stdin ?? '']), env: opts.env ?? {}, cwd: opts.cwd ?? process.cwd() });
  return { code, out: stdout.text, err: stderr.text };
}

describe('gatehouse audit verify', () => {
  test('exit 0 on a good chain, found from the config (state dir), key derived from the state dir', async (t) => {
    const state = tempDir(t);
    await writeLog(state, 30, { checkpoint: { every_records: 10 } });
    const r = await cli(['audit', 'verify'], { env: { GATEHOUSE_HOME: state } });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^OK: 33 record\(s\) in 1 file\(s\) \(seq 1–33\), 3 checkpoint\(s\) verified with key [0-9a-f]{16}/m);
  });

  test('exit 1 and the break printed when a record was altered; --json gives the report', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 30);
    const file = join(dir, 'audit.jsonl');
    const lines = readLines(file);
    lines[2] = (lines[2] as string).replace('nginx', 'ncat!');
    writeLines(file, lines);
    const r = await cli(['audit', 'verify', dir, '--pubkey', join(state, 'audit-signing.pub')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /audit\.jsonl:3 seq 3: modified: /);
    assert.match(r.err, /^BROKEN: 1 break\(s\)/m);
    const j = await cli(['audit', 'verify', file, '--pubkey', join(state, 'audit-signing.pub'), '--json']);
    assert.equal(j.code, 1);
    assert.equal((JSON.parse(j.out) as { breaks: { kind: string }[] }).breaks[0]?.kind, 'modified');
  });

  test('exit 3 for a torn last line (a crash), which is not reported as tampering', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 10);
    const file = join(dir, 'audit.jsonl');
    truncateSync(file, statSync(file).size - 10);
    const r = await cli(['audit', 'verify', '--dir', dir, '--pubkey', join(state, 'audit-signing.pub')]);
    assert.equal(r.code, 3);
    assert.match(r.out, /torn: the last \d+ byte\(s\) are a partial write left by a crash, not tampering/);
    assert.doesNotMatch(r.out + r.err, /BROKEN/);
  });

  test('the default key is the signing key\'s public half: a .pub swapped next to it does not vouch for a re-signed history', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 30, { checkpoint: { every_records: 10 } });
    const file = join(dir, 'audit.jsonl');
    // The attacker cannot read the 0600 signing key, but can replace the world-readable .pub beside it.
    const mine = generateKeyPairSync('ed25519');
    const kid = keyId(mine.publicKey);
    const forged: string[] = [];
    for (const line of readLines(file).map((l) => l.replace('"nginx"', '"netcat"'))) {
      const prev = forged.length ? (JSON.parse(forged[forged.length - 1] as string) as { hash: string }).hash : '0'.repeat(64);
      const rec = JSON.parse(line) as { seq: number; timestamp: string; checkpoint?: { from_seq: number; key_id: string; signature: string } };
      if (rec.checkpoint) {
        rec.checkpoint.key_id = kid;
        rec.checkpoint.signature = sign(null, checkpointMessage(rec.seq, prev, rec.timestamp, rec.checkpoint.from_seq, kid), mine.privateKey).toString('base64');
      }
      forged.push(rechain([...forged, JSON.stringify(rec)], forged.length)[forged.length] as string);
    }
    writeLines(file, forged);
    writeFileSync(join(state, 'audit-signing.pub'), mine.publicKey.export({ type: 'spki', format: 'pem' }));
    const r = await cli(['audit', 'verify'], { env: { GATEHOUSE_HOME: state } });
    assert.equal(r.code, 1, r.out);
    assert.match(r.err, /forged_checkpoint/);
  });

  test('a wrong public key is a break (forged checkpoint)', async (t) => {
    const state = tempDir(t);
    const dir = await writeLog(state, 5);
    const other = tempDir(t);
    assert.equal((await cli(['audit', 'keygen', '--out', other])).code, 0);
    const r = await cli(['audit', 'verify', dir, '--pubkey', join(other, 'audit-signing.pub')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /forged_checkpoint/);
  });
});

describe('gatehouse audit query and tail', () => {
  async function sampleLog(t: { after(fn: () => void): void }) {
    const state = tempDir(t);
    const log = await openTestLog(state);
    for (const ex of [exchange(), criticalApproved(), scopeDenied(), criticalUnapproved()]) await log.emit(auditEventFromExchange(ex));
    await log.emit(seedEvent(9, { event_type: 'auth.failure', result_status: 'denied', subject: undefined, tool: undefined, risk_level: undefined, approved: undefined, tenant: 'acme' }));
    await log.close();
    return log.dir;
  }
  const jsonl = (out: string) => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

  test("seed 001's questions as flags", async (t) => {
    const dir = await sampleLog(t);
    const q = async (...flags: string[]) => {
      const r = await cli(['audit', 'query', '--dir', dir, '--format', 'jsonl', ...flags]);
      assert.equal(r.code, 0, r.err);
      return jsonl(r.out);
    };
    assert.equal((await q('--risk', 'critical')).length, 3);
    assert.equal((await q('--user', 'mallory@example.com')).length, 1);
    assert.equal((await q('--user', 'alice@example.com')).length, 4);
    assert.deepEqual((await q('--status', 'error', '--contains', 'insufficient')).map((r) => r['event_type']), ['authz.deny']);
    assert.deepEqual((await q('--risk', 'critical', '--approved', 'false')).map((r) => r['tool']), ['install_package', 'pull_docker_image']);
    assert.equal((await q('--status', 'denied')).length, 3);
    assert.equal((await q('--event', 'auth.*')).length, 1);
    assert.equal((await q('--tenant', 'acme')).length, 1);
    assert.equal((await q('--tool', 'list_containers')).length, 1);
    assert.equal((await q('--subject', 'intruder')).length, 1);
    assert.equal((await q('--limit', '2')).length, 2);
    assert.ok((await q('--event', 'audit.*')).every((r) => r['event_type'] === 'audit.checkpoint'));
    assert.equal((await q('--since', '2026-01-01T00:00:00Z', '--until', '2026-01-02T00:00:00Z')).length, 5);
    assert.equal((await q('--since', '2026-01-01T00:00:01Z')).length, 0);
  });

  test('table output, bad flags are usage errors (exit 2)', async (t) => {
    const dir = await sampleLog(t);
    const r = await cli(['audit', 'query', '--dir', dir, '--risk', 'critical']);
    assert.equal(r.code, 0);
    const [header, ...rows] = r.out.trim().split('\n');
    assert.match(header ?? '', /^TIME\s+EVENT\s+SUBJECT\s+TOOL\/ACTION/);
    assert.equal(rows.length, 3);
    assert.equal((await cli(['audit', 'query', '--dir', dir, '--approved', 'maybe'])).code, 2);
    assert.equal((await cli(['audit', 'query', '--dir', dir, '--since', 'yesterday'])).code, 2);
    assert.equal((await cli(['audit', 'query', '--dir', dir, '--format', 'xml'])).code, 2);
  });

  test('tail -n prints the newest records, oldest first', async (t) => {
    const dir = await sampleLog(t);
    const r = await cli(['audit', 'tail', '--dir', dir, '-n', '2', '--format', 'jsonl']);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(jsonl(r.out).map((x) => x['event_type']), ['approval.denied', 'auth.failure']);
  });
});

describe('gatehouse audit keygen and hash', () => {
  test('keygen writes a 0600 private key and refuses to overwrite it', async (t) => {
    const dir = tempDir(t);
    const r = await cli(['audit', 'keygen', '--out', dir]);
    assert.equal(r.code, 0);
    assert.equal(statSync(join(dir, 'audit-signing.key')).mode & 0o777, 0o600);
    assert.match(readFileSync(join(dir, 'audit-signing.pub'), 'utf8'), /BEGIN PUBLIC KEY/);
    assert.doesNotMatch(r.out, /PRIVATE KEY/);
    const again = await cli(['audit', 'keygen', '--out', dir]);
    assert.equal(again.code, 2);
  });

  test('hash VALUE finds a value the writer stored as hmac:sha256 (Vault style)', async (t) => {
    const state = tempDir(t);
    const log = await openTestLog(state, { hmac_keys: ['Password', 'api_key'] });
    await log.emit(seedEvent(0, { args: { user: 'bob', password: 'hunter2', nested: { API_KEY: 'k-123' } } }));
    await log.close();
    const [line] = readLines(join(log.dir, 'audit.jsonl'));
    assert.doesNotMatch(line ?? '', /hunter2|k-123/);
    const h = await cli(['audit', 'hash', 'hunter2'], { env: { GATEHOUSE_HOME: state } });
    assert.equal(h.code, 0, h.err);
    assert.match(h.out.trim(), /^hmac:sha256:[0-9a-f]{64}$/);
    assert.ok(line?.includes(`"password":"${h.out.trim()}"`));
    const fromStdin = await cli(['audit', 'hash', '-'], { env: { GATEHOUSE_HOME: state }, stdin: 'k-123\n' });
    assert.ok(line?.includes(`"API_KEY":"${fromStdin.out.trim()}"`));
    const found = await cli(['audit', 'query', '--dir', log.dir, '--contains', h.out.trim(), '--format', 'jsonl']);
    assert.equal(found.out.trim().split('\n').length, 1);
  });
});
