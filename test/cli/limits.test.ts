/**
 * `gatehouse limits show|list|lock|unlock` (docs/limits.md): the policy a config file sets, the lockouts in the
 * state store, and a running `gatehouse serve` process that honours a lock and an unlock made by another process.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';
import { runCliProcess, startServe } from '../helpers/process.js';
import { startRecordingUpstream } from '../helpers/gateway.js';
import { until } from '../helpers/until.js';

const CONFIG = `
routes:
  - name: streams
    prefix: /streams
    upstream: http://127.0.0.1:9
limits:
  burst_tolerance: 2x
  connection_rate_limit: 10/sec
  rates:
    - name: per-token
      per: token
      limit: 100/min
      burst: 20
    - name: tenant-publish
      per: [tenant, route]
      limit: 1000/sec
      routes: [streams]
      methods: [POST]
  lockout:
    max_failures: 5
    window: 10m
    duration: 30m
    per: [ip, principal]
    exempt: [10.0.0.0/8]
`;

describe('gatehouse limits show', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-limits-show-'));
  const file = join(dir, 'gatehouse.yaml');
  const env = { GATEHOUSE_HOME: dir };
  before(() => writeFileSync(file, CONFIG));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('prints the rules, the connection rate and the lockout policy of the config file', async () => {
    const r = await cli(['limits', 'show', '--config', file], { env });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.ok(lines.some((l) => /^rate per-token: 100\/60s per token, burst 20$/.test(l)), r.stdout);
    // No burst given: limit × burst_tolerance (1000 × 2).
    assert.ok(lines.some((l) => /^rate tenant-publish: 1000\/1s per tenant\+route, burst 2000 +routes=streams methods=POST$/.test(l)), r.stdout);
    assert.ok(lines.some((l) => /^connections: 10\/1s per client, burst 20$/.test(l)), r.stdout);
    assert.ok(lines.some((l) => /^lockout: 5 failed authentications within 600s lock the ip and the principal out for 1800s$/.test(l)), r.stdout);
  });

  test('--json gives the same as data', async () => {
    const r = await cli(['limits', 'show', '--json', '--config', file], { env });
    assert.equal(r.code, 0, r.stderr);
    const view = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(view, {
      enabled: true,
      rates: [
        { name: 'per-token', per: ['token'], limit: '100/60s', burst: 20 },
        { name: 'tenant-publish', per: ['tenant', 'route'], limit: '1000/1s', burst: 2000, routes: ['streams'], methods: ['POST'] },
      ],
      connection_rate_limit: { limit: '10/1s', burst: 20 },
      lockout: { max_failures: 5, window_ms: 600_000, duration_ms: 1_800_000, per: ['ip', 'principal'], exempt: ['10.0.0.0/8'] },
    });
  });

  test('without a limits section: no rates, no connection rate, the default lockout', async () => {
    const bare = join(dir, 'bare.yaml');
    writeFileSync(bare, 'routes: []\n');
    const r = await cli(['limits', 'show', '--json', '--config', bare], { env });
    assert.equal(r.code, 0, r.stderr);
    const view = JSON.parse(r.stdout) as { rates: unknown[]; connection_rate_limit: unknown; lockout: Record<string, unknown> };
    assert.deepEqual(view.rates, []);
    assert.equal(view.connection_rate_limit, null);
    assert.deepEqual(view.lockout, { max_failures: 10, window_ms: 900_000, duration_ms: 900_000, per: ['ip'], exempt: [] });
  });

  test('limits.enabled: false shows nothing as enforced, and lock warns that this config enforces no lockout', async () => {
    const off = join(dir, 'off.yaml');
    writeFileSync(off, CONFIG.replace('limits:\n', 'limits:\n  enabled: false\n'));
    const text = await cli(['limits', 'show', '--config', off], { env });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^limits: disabled/);
    assert.doesNotMatch(text.stdout, /^(rate|lockout|connections):/m);
    const json = JSON.parse((await cli(['limits', 'show', '--json', '--config', off], { env })).stdout) as Record<string, unknown>;
    assert.deepEqual(json, { enabled: false, rates: [], connection_rate_limit: null, lockout: null });
    const lock = await cli(['limits', 'lock', 'ip:198.51.100.4', '--for', '1m', '--config', off], { env });
    assert.equal(lock.code, 0, lock.stderr);
    assert.match(lock.stderr, /warning: this configuration enforces no lockouts \(limits\.enabled is false\)/);
  });

  test('a config error is reported (exit 2), not shown as if valid', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'limits:\n  rates:\n    - name: x\n      limit: 10/fortnight\n');
    const r = await cli(['limits', 'show', '--config', bad], { env });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /GH_CONFIG_INVALID/);
    assert.match(r.stderr, /limits\.rates/);
  });
});

interface ListedLockout {
  key: string;
  kind: string;
  subject: string;
  reason: string;
  note?: string;
  since: string;
  until: string;
}

describe('gatehouse limits list|lock|unlock', () => {
  const home = mkdtempSync(join(tmpdir(), 'gh-limits-lock-'));
  const env = { GATEHOUSE_HOME: home, USER: 'ops-tester' };
  after(() => rmSync(home, { recursive: true, force: true }));

  const list = async (): Promise<ListedLockout[]> => {
    const r = await cli(['limits', 'list', '--json'], { env });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as ListedLockout[];
  };

  test('lock an address for 1h with a reason; list --json shows it; unlock once (exit 0), twice (exit 1)', async () => {
    assert.deepEqual(await list(), []);
    const before = Date.now();
    const locked = await cli(['limits', 'lock', 'ip:203.0.113.7', '--for', '1h', '--reason', 'x'], { env });
    assert.equal(locked.code, 0, locked.stderr);
    assert.match(locked.stdout, /locked ip:203\.0\.113\.7 until /);

    const all = await list();
    assert.equal(all.length, 1, JSON.stringify(all));
    const rec = all[0] as ListedLockout;
    assert.equal(rec.key, 'ip:203.0.113.7');
    assert.equal(rec.kind, 'ip');
    assert.equal(rec.subject, '203.0.113.7');
    assert.equal(rec.reason, 'manual');
    assert.equal(rec.note, 'x');
    const until = Date.parse(rec.until);
    assert.ok(until >= before + 3_600_000 - 1000 && until <= Date.now() + 3_600_000 + 1000, `until ${rec.until}`);

    const text = await cli(['limits', 'list'], { env });
    assert.equal(text.code, 0);
    assert.match(text.stdout, /^ip:203\.0\.113\.7 +until .* manual: "x"$/m);

    const unlocked = await cli(['limits', 'unlock', 'ip:203.0.113.7'], { env });
    assert.equal(unlocked.code, 0, unlocked.stderr);
    assert.match(unlocked.stdout, /unlocked ip:203\.0\.113\.7/);
    assert.deepEqual(await list(), []);

    const again = await cli(['limits', 'unlock', 'ip:203.0.113.7'], { env });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /ip:203\.0\.113\.7 is not locked out/);

    // lock and unlock are audited, the operator named.
    const auditDir = join(home, 'audit');
    const records = readdirSync(auditDir)
      .filter((f) => f.endsWith('.jsonl'))
      .flatMap((f) => readFileSync(join(auditDir, f), 'utf8').split('\n').filter(Boolean))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const lockRec = records.find((r) => r['event_type'] === 'limits.lock');
    assert.ok(lockRec, 'limits.lock audited');
    assert.equal(lockRec['subject'], 'cli:ops-tester');
    assert.equal((lockRec['metadata'] as Record<string, unknown>)['lockout'], 'ip:203.0.113.7');
    // One unlock happened, so one is audited: the refused second one wrote no record.
    assert.equal(records.filter((r) => r['event_type'] === 'limits.unlock').length, 1, 'limits.unlock audited once');
  });

  test('a subject that is not an address, a kind that does not exist, or no --for: exit 2, GH_USAGE; nothing locked', async () => {
    for (const args of [
      ['ip:not-an-ip', '--for', '1h'],
      ['host:203.0.113.7', '--for', '1h'],
      ['203.0.113.7', '--for', '1h'],
      ['ip:203.0.113.8'],
    ]) {
      const r = await cli(['limits', 'lock', ...args], { env });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^error GH_USAGE: /, args.join(' '));
    }
    const notIp = await cli(['limits', 'lock', 'ip:not-an-ip', '--for', '1h'], { env });
    assert.match(notIp.stderr, /not an IP address/);
    assert.deepEqual(await list(), []);
  });

  test('--for beyond 365d (or below 1s, or not a duration) is refused', async () => {
    for (const d of ['400d', '366d', '500ms', 'forever']) {
      const r = await cli(['limits', 'lock', 'ip:203.0.113.9', '--for', d], { env });
      assert.equal(r.code, 2, `--for ${d}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /GH_USAGE/, `--for ${d}`);
    }
    assert.deepEqual(await list(), []);
    // The bound itself is accepted.
    const max = await cli(['limits', 'lock', 'ip:203.0.113.9', '--for', '365d'], { env });
    assert.equal(max.code, 0, max.stderr);
    assert.equal((await cli(['limits', 'unlock', 'ip:203.0.113.9'], { env })).code, 0);
  });

  test('an IPv6 address is locked by its /64: another address of the prefix unlocks it', async () => {
    const locked = await cli(['limits', 'lock', 'ip:2001:db8:1:2::5', '--for', '1h'], { env });
    assert.equal(locked.code, 0, locked.stderr);
    const all = await list();
    assert.deepEqual(all.map((r) => r.key), ['ip:2001:db8:1:2::/64']);
    // Another /64 is not the same client.
    const other = await cli(['limits', 'unlock', 'ip:2001:db8:1:3::5'], { env });
    assert.equal(other.code, 1);
    const unlocked = await cli(['limits', 'unlock', 'ip:2001:db8:1:2::9'], { env });
    assert.equal(unlocked.code, 0, unlocked.stderr);
    assert.deepEqual(await list(), []);
  });

  test('a principal is locked and unlocked by name', async () => {
    assert.equal((await cli(['limits', 'lock', 'principal:alice', '--for', '30m'], { env })).code, 0);
    assert.deepEqual((await list()).map((r) => [r.key, r.kind, r.subject]), [['principal:alice', 'principal', 'alice']]);
    assert.equal((await cli(['limits', 'unlock', 'principal:alice'], { env })).code, 0);
    assert.equal((await cli(['limits', 'lock', 'principal:has space', '--for', '30m'], { env })).code, 2);
    assert.deepEqual(await list(), []);
  });
});

describe('a running gateway and the CLI in another process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-limits-serve-'));
  const home = join(dir, 'home');
  const config = join(dir, 'gatehouse.yaml');
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;

  before(async () => {
    upstream = await startRecordingUpstream();
    writeFileSync(
      config,
      ['server:', '  tls:', '    enabled: false', 'routes:', '  - name: up', '    prefix: /up', `    upstream: ${upstream.url}`, '    auth_required: false', ''].join('\n'),
    );
  });
  after(async () => {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (url: string): Promise<{ status: number; body: string; retryAfter: string | undefined }> =>
    new Promise((resolve, reject) => {
      const req = request(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, retryAfter: res.headers['retry-after'] }));
      });
      req.on('error', reject);
      req.end();
    });

  test('`limits lock ip:127.0.0.1` refuses the client within a poll; `limits unlock` lets it in again', async () => {
    const env = { GATEHOUSE_HOME: home, GATEHOUSE_ENV: 'development', USER: 'ops-tester' };
    const gw = await startServe(['--config', config, '--listen', '127.0.0.1:0'], env);
    try {
      assert.equal((await get(`${gw.url}/up/before`)).status, 200);

      const locked = await runCliProcess(['limits', 'lock', 'ip:127.0.0.1', '--for', '1h', '--reason', 'e2e', '--config', config], env);
      assert.equal(locked.code, 0, locked.stderr);
      // limits.lockout.poll is 250ms: the bound only stops a hang, it does not measure the delay.
      const refused = await until('the gateway to refuse 127.0.0.1', async () => {
        const r = await get(`${gw.url}/up/while-locked`);
        return r.status === 429 ? r : undefined;
      }, 10_000, 50);
      assert.equal((JSON.parse(refused.body) as { error: { code: string } }).error.code, 'GH_LOCKED_OUT');
      assert.ok(Number(refused.retryAfter) > 3500 && Number(refused.retryAfter) <= 3600, `retry-after ${String(refused.retryAfter)}`);
      // Health checks stay open to a locked-out client (a load balancer's probe must not take the gateway out).
      assert.equal((await get(`${gw.url}/healthz`)).status, 200);

      const unlocked = await runCliProcess(['limits', 'unlock', 'ip:127.0.0.1', '--config', config], env);
      assert.equal(unlocked.code, 0, unlocked.stderr);
      await until('the gateway to serve 127.0.0.1 again', async () => (await get(`${gw.url}/up/after`)).status === 200, 10_000, 50);
    } finally {
      assert.equal(await gw.stop('SIGTERM'), 0);
    }
  });
});
