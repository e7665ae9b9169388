/**
 * Lockout under `server.workers: 2` (docs/limits.md "Lockout"): real processes — the built CLI as supervisor, its two
 * forked workers, a real argon2 hash, a real upstream on loopback. Each worker sends the failures it counts to the
 * other (through the supervisor) on the next turn of its event loop, so one client's guesses draw on one allowance
 * whichever worker checks them. Before, each worker allowed max_failures of its own: 2 × 4 = 8 guesses here.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { hashSecret } from '../../src/authn/index.js';
import { runCliProcess, startServe, twoWorkersConfig, type ServeProcess } from '../helpers/process.js';
import { until } from '../helpers/until.js';
import { startRecordingUpstream } from '../helpers/gateway.js';

const MAX = 4;
const dir = mkdtempSync(join(tmpdir(), 'gh-lockout-workers-'));
let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
const config = join(dir, 'gatehouse.yaml');
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

before(async () => {
  upstream = await startRecordingUpstream();
  const hash = await hashSecret('alice-correct-password');
  writeFileSync(
    config,
    twoWorkersConfig(upstream.url, [
      '  - name: api',
      '    prefix: /api',
      `    upstream: ${upstream.url}`,
      '    auth_required: true',
      'auth:',
      '  methods: [basic]',
      '  basic:',
      '    users:',
      '      - name: alice',
      `        password_hash: ${JSON.stringify(hash)}`,
      '        scopes: [readonly]',
      'limits:',
      '  lockout:',
      `    max_failures: ${MAX}`,
      '    per: [ip]',
      '    duration: 10m',
    ]),
  );
});
after(async () => {
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(home: string): Promise<ServeProcess> {
  const gw = await startServe(['--config', config, '--listen', '127.0.0.1:0'], { GATEHOUSE_HOME: home, GATEHOUSE_ENV: 'development' });
  await until('the workers to serve', () => /2 workers serving/.test(gw.stderr()));
  return gw;
}

/** One guess over a new connection (the supervisor hands connections to the workers in turn). */
async function guess(url: string, password: string): Promise<number> {
  const agent = new Agent({ pipelining: 0 });
  try {
    const r = await request(`${url}/api/x`, { headers: { authorization: basic('alice', password), connection: 'close' }, dispatcher: agent });
    await r.body.text();
    return r.statusCode;
  } finally {
    await agent.close();
  }
}

function workersThatAnswered(gw: ServeProcess, status: number): Set<number> {
  const seen = new Set<number>();
  for (const l of gw.stdout().split('\n')) {
    if (!l.includes('"msg":"request"')) continue;
    const rec = JSON.parse(l) as { worker?: number; status?: number };
    if (rec.status === status && typeof rec.worker === 'number') seen.add(rec.worker);
  }
  return seen;
}

test(`guesses one after another over new connections: the two workers allow ${MAX} in all, not ${MAX} each`, async () => {
  const home = join(dir, 'home-seq');
  const gw = await serve(home);
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 3 * MAX; i++) statuses.push(await guess(gw.url, `guess-${i}`));
    const checked = statuses.filter((s) => s === 401).length;
    // Each failure is sent to the other worker (through the supervisor) as its 401 is written, and a worker past its
    // share (2) lets 10 ms pass before it checks another guess: the lockout has then reached it, and the count is
    // exact. The documented slack — one more guess per failure that reaches the other worker later than that (a
    // loaded machine: CI runs other suites beside this one) — is allowed once. Without sharing, the worker that
    // counted every other guess locked at its own 4th (guess 7 of the run), and the other answered 401 until the
    // lockout reached it from the store: 7 or 8.
    assert.ok(checked >= MAX && checked <= MAX + 1, `${checked} guesses checked: ${statuses.join(',')}`);
    assert.deepEqual(statuses.slice(checked), Array.from({ length: 3 * MAX - checked }, () => 429), 'locked in both workers from then on');
    assert.equal(await guess(gw.url, 'alice-correct-password'), 429, 'the right password too');
    assert.equal(upstream.requests.length, 0);
    // Both workers checked guesses, and both refused once locked: the lockout holds in each.
    await until('request lines of every guess', () => gw.stdout().split('\n').filter((l) => l.includes('"msg":"request"')).length >= 3 * MAX + 1 || undefined);
    assert.deepEqual([...workersThatAnswered(gw, 401)].sort(), [1, 2]);
    assert.deepEqual([...workersThatAnswered(gw, 429)].sort(), [1, 2]);
  } finally {
    assert.equal(await gw.stop('SIGTERM'), 0);
  }
  // The lockout was stored (the CLI lists it) and audited once, by the worker that counted the failure reaching it.
  const listed = await runCliProcess(['limits', 'list', '--json', '--config', config], { GATEHOUSE_HOME: home, GATEHOUSE_ENV: 'development' });
  assert.equal(listed.code, 0, listed.stderr);
  const locks = JSON.parse(listed.stdout) as Array<{ kind: string; subject: string; failures: number }>;
  assert.deepEqual(locks.map((l) => [l.kind, l.subject, l.failures]), [['ip', '127.0.0.1', MAX]]);
  const audited = readFileSync(join(home, 'audit', 'audit.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"event_type":"limits.lockout"'));
  assert.equal(audited.length, 1, audited.join('\n'));
});

test(`40 guesses at once over 64 connections: about ${MAX} are checked across the two workers, not ${2 * MAX}`, async () => {
  const gw = await serve(join(dir, 'home-burst'));
  const agent = new Agent({ connections: 64 });
  try {
    const statuses = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const r = await request(`${gw.url}/api/x`, { headers: { authorization: basic('alice', i === 39 ? 'alice-correct-password' : `guess-${i}`) }, dispatcher: agent });
        await r.body.text();
        return r.statusCode;
      }),
    );
    const checked = statuses.filter((s) => s === 401).length;
    // Each worker checks at most its share of the allowance (ceil(4 / 2) = 2) on its own count, which is never stale;
    // past it, one guess at a time after 10 ms for the other's failures to arrive. The documented bound:
    // max_failures + workers − 1 = 5, and one more per worker whose news of the other's failures came later than that
    // (allowed once, for a loaded machine). Without sharing: up to 8.
    assert.ok(checked <= MAX + 2, `${checked} guesses checked: ${statuses.join(',')}`);
    assert.ok(checked >= MAX, `${checked} guesses checked: the allowance is not smaller than configured`);
    assert.ok(statuses.every((s) => s === 401 || s === 429), statuses.join(','));
    assert.equal(upstream.requests.length, 0, 'the correct guess, sent with the others, is not let in');
  } finally {
    await agent.close();
    assert.equal(await gw.stop('SIGTERM'), 0);
  }
});
