/**
 * The gateway's lifecycle in the audit trail (seed 002: configuration changes, administrative operations): a real
 * gateway on loopback writes gateway.start with the digest of its configuration (secrets redacted), config.change
 * when that digest differs from the last start's, and gateway.stop on close — into the real audit file.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyAuditLog } from '../../src/audit/index.js';
import { validateConfig } from '../../src/config/index.js';
import { startGateway } from '../../src/gateway/start.js';
import { memoryLogger } from '../helpers/gateway.js';

type Json = Record<string, unknown>;

const TOKEN_SECRET = 'lifecycle-token-secret-Zq8v4N2mKp';
const UPSTREAM_TOKEN = 'lifecycle-upstream-bearer-Xw7c3R9tLs';
const ENV_NAME = 'GH_LIFECYCLE_TEST_UPSTREAM_TOKEN';

function auditText(stateDir: string): string {
  const dir = join(stateDir, 'audit');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('');
}

const records = (stateDir: string): Json[] =>
  auditText(stateDir)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Json);
const ofType = (stateDir: string, type: string): Json[] => records(stateDir).filter((r) => r['event_type'] === type);
const meta = (r: Json | undefined): Json => (r?.['metadata'] ?? {}) as Json;

/** A configuration with a token signing secret in it and an upstream credential from the environment. */
function config(stateDir: string, opts: { prefix?: string; tokenSecret?: string } = {}) {
  return validateConfig(
    {
      state_dir: stateDir,
      server: { tls: { enabled: false } },
      auth: { methods: ['token'], token: { secret: opts.tokenSecret ?? TOKEN_SECRET } },
      routes: [{ name: 'api', prefix: opts.prefix ?? '/api', upstream: 'http://127.0.0.1:9', upstream_auth: { bearer: `env:${ENV_NAME}` } }],
    },
    { env: {} },
  );
}

async function startAndStop(stateDir: string, opts: { prefix?: string; tokenSecret?: string } = {}): Promise<void> {
  const gw = await startGateway(config(stateDir, opts), { listen: '127.0.0.1:0', logger: memoryLogger() });
  await gw.close(2000);
}

describe('gateway lifecycle audit records', () => {
  const dirs: string[] = [];
  const stateDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'gh-lifecycle-'));
    dirs.push(d);
    return d;
  };
  process.env[ENV_NAME] = UPSTREAM_TOKEN;
  after(() => {
    delete process.env[ENV_NAME];
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('start writes gateway.start with the config digest and facts; close writes gateway.stop; no secret anywhere', async () => {
    const dir = stateDir();
    const gw = await startGateway(config(dir), { listen: '127.0.0.1:0', logger: memoryLogger() });
    let closed = false;
    try {
      // Awaited at start: the record is durable before startGateway resolves.
      const start = ofType(dir, 'gateway.start');
      assert.equal(start.length, 1);
      assert.equal(start[0]?.['result_status'], 'success');
      assert.equal(start[0]?.['subject'], 'gateway');
      const m = meta(start[0]);
      assert.match(String(m['config_sha256']), /^[0-9a-f]{64}$/);
      assert.equal(m['listen'], `127.0.0.1:${gw.port}`);
      assert.equal(m['profile'], 'development');
      assert.equal(m['workers'], 1);
      assert.equal(m['version'], (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version);
      // The first start ever: nothing to compare with.
      assert.equal(ofType(dir, 'config.change').length, 0);
      assert.equal(ofType(dir, 'gateway.stop').length, 0);
      // The digest is remembered, privately, for the next start.
      const marker = join(dir, 'last-config.sha256');
      assert.equal(readFileSync(marker, 'utf8').trim(), m['config_sha256']);
      assert.equal(statSync(marker).mode & 0o777, 0o600);

      await gw.close(2000);
      await gw.close(2000); // a second close writes no second record
      closed = true;
      const stops = ofType(dir, 'gateway.stop');
      assert.equal(stops.length, 1);
      assert.equal(meta(stops[0])['reason'], 'close');
      assert.equal(typeof meta(stops[0])['uptime_s'], 'number');
      // The last record but the log's own (audit.checkpoint on close).
      assert.equal(records(dir).filter((r) => !String(r['event_type']).startsWith('audit.')).at(-1)?.['event_type'], 'gateway.stop');

      const text = auditText(dir) + readFileSync(marker, 'utf8');
      assert.ok(!text.includes(TOKEN_SECRET), 'the token signing secret is nowhere in the audit trail');
      assert.ok(!text.includes(UPSTREAM_TOKEN), 'the upstream credential is nowhere in the audit trail');
      const report = await verifyAuditLog(join(dir, 'audit'));
      assert.equal(report.ok, true, JSON.stringify(report).slice(0, 500));
    } finally {
      if (!closed) await gw.close(2000);
    }
  });

  test('a restart with the same configuration writes no config.change; a changed route does, with both digests', async () => {
    const dir = stateDir();
    await startAndStop(dir);
    await startAndStop(dir);
    const starts = ofType(dir, 'gateway.start');
    assert.equal(starts.length, 2);
    assert.equal(meta(starts[0])['config_sha256'], meta(starts[1])['config_sha256']);
    assert.equal(ofType(dir, 'config.change').length, 0);

    await startAndStop(dir, { prefix: '/moved' });
    const after = ofType(dir, 'gateway.start');
    assert.equal(after.length, 3);
    const before = meta(after[1])['config_sha256'];
    const now = meta(after[2])['config_sha256'];
    assert.notEqual(now, before);
    const changes = ofType(dir, 'config.change');
    assert.equal(changes.length, 1);
    assert.deepEqual(meta(changes[0]), { previous_sha256: before, config_sha256: now });
    assert.equal(changes[0]?.['subject'], 'gateway');
    // Recorded right after the start it belongs to.
    const types = records(dir).map((r) => r['event_type']).filter((t) => String(t).startsWith('gateway.') || t === 'config.change');
    assert.deepEqual(types, ['gateway.start', 'gateway.stop', 'gateway.start', 'gateway.stop', 'gateway.start', 'config.change', 'gateway.stop']);
  });

  test('the digest is not over secrets: a changed token secret alone changes no digest (a hash of a secret can be guessed), yet is reported as a change of hidden values', async () => {
    const dir = stateDir();
    await startAndStop(dir);
    await startAndStop(dir, { tokenSecret: 'another-token-secret-Hk5p2Qw8Ze' });
    const starts = ofType(dir, 'gateway.start');
    assert.equal(starts.length, 2);
    assert.equal(meta(starts[0])['config_sha256'], meta(starts[1])['config_sha256']);
    const changes = ofType(dir, 'config.change');
    assert.equal(changes.length, 1, 'a rotated secret is a configuration change');
    const digest = meta(starts[0])['config_sha256'];
    assert.deepEqual(meta(changes[0]), { previous_sha256: digest, config_sha256: digest, hidden_values_changed: true });
    // The keyed digest that told stays in the state directory: no record holds it, nor anything derived from the secret.
    const mac = readFileSync(join(dir, 'last-config.mac'), 'utf8').trim();
    assert.match(mac, /^[0-9a-f]{64}$/);
    assert.ok(!auditText(dir).includes(mac));
    assert.equal(statSync(join(dir, 'keys', 'config-mac.key')).mode & 0o777, 0o600);
    await startAndStop(dir, { tokenSecret: 'another-token-secret-Hk5p2Qw8Ze' });
    assert.equal(ofType(dir, 'config.change').length, 1, 'the same secret again: no change');
  });

  test('an upstream moved to another path on the same host changes no shown digest (paths may be credentials) but is reported', async () => {
    const dir = stateDir();
    const start = async (upstream: string) => {
      const cfg = config(dir);
      const gw = await startGateway({ ...cfg, routes: cfg.routes.map((r) => ({ ...r, upstream })) }, { listen: '127.0.0.1:0', logger: memoryLogger() });
      await gw.close(2000);
    };
    await start('http://127.0.0.1:9/v1');
    await start('http://127.0.0.1:9/v2');
    const starts = ofType(dir, 'gateway.start');
    assert.equal(meta(starts[0])['config_sha256'], meta(starts[1])['config_sha256']);
    assert.equal(meta(ofType(dir, 'config.change')[0])['hidden_values_changed'], true);
  });

  test('a remembered digest that is not one is reported as a change from an unknown configuration', async () => {
    const dir = stateDir();
    await startAndStop(dir);
    writeFileSync(join(dir, 'last-config.sha256'), 'not a digest\n', { mode: 0o600 });
    await startAndStop(dir);
    const changes = ofType(dir, 'config.change');
    assert.equal(changes.length, 1);
    assert.equal(meta(changes[0])['previous_sha256'], null);
    assert.match(String(meta(changes[0])['config_sha256']), /^[0-9a-f]{64}$/);
  });
});
