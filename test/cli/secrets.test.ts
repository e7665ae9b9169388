/**
 * `gatehouse secrets …` (docs/secrets.md): values in through stdin and out through get, metadata only in list, every
 * read and write audited without the value, master key rotation, and a running `gatehouse serve` process whose
 * upstream credential follows `secrets set` and `secrets delete` run in other processes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';
import { runCliProcess, startServe } from '../helpers/process.js';
import { startRecordingUpstream } from '../helpers/gateway.js';
import { until } from '../helpers/until.js';
import { getOverNewConnection } from '../helpers/raw-http.js';

const VALUE = 'cli-secret-value-5d41402abc4b2a76';

function auditRecords(home: string): Record<string, unknown>[] {
  const d = join(home, 'audit');
  return readdirSync(d)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) => readFileSync(join(d, f), 'utf8').split('\n').filter(Boolean))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('gatehouse secrets (in-process)', () => {
  const home = mkdtempSync(join(tmpdir(), 'gh-secrets-cli-'));
  let env: NodeJS.ProcessEnv;
  before(async () => {
    const key = await cli(['secrets', 'generate-key']);
    assert.equal(key.code, 0);
    assert.match(key.stdout, /^[A-Za-z0-9_-]{43}\n$/);
    env = { GATEHOUSE_HOME: home, USER: 'ops-tester', SECRETS_MASTER_KEY: key.stdout.trim() };
  });
  after(() => rmSync(home, { recursive: true, force: true }));

  test('set from stdin (one trailing newline dropped), get prints it, list shows metadata only; set and read are audited without the value', async () => {
    const set = await cli(['secrets', 'set', 'inventory_token', '--description', 'inventory API'], { env, stdin: `${VALUE}\n` });
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /stored global\/inventory_token version 1/);
    const got = await cli(['secrets', 'get', 'inventory_token'], { env });
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout, `${VALUE}\n`);
    const list = await cli(['secrets', 'list'], { env });
    assert.match(list.stdout, /^global\/inventory_token {2}version 1 \(kept: 1\) {2}updated .* by cli:ops-tester {2}"inventory API"$/m);
    assert.ok(!list.stdout.includes(VALUE));
    const json = JSON.parse((await cli(['secrets', 'list', '--json'], { env })).stdout) as { name: string; version: number }[];
    assert.deepEqual(json.map((s) => [s.name, s.version]), [['inventory_token', 1]]);
    const records = auditRecords(home);
    assert.ok(records.some((r) => r['event_type'] === 'secrets.set' && r['resource'] === 'secret:global/inventory_token' && r['subject'] === 'cli:ops-tester'));
    assert.ok(records.some((r) => r['event_type'] === 'secrets.read'));
    assert.ok(!JSON.stringify(records).includes(VALUE), 'the value in the audit log');
  });

  test('versions: a second set is version 2; --version 1 still reads the first', async () => {
    assert.equal((await cli(['secrets', 'set', 'rot', '--owner', 'tenant:acme'], { env, stdin: 'first-value-aaaa' })).code, 0);
    assert.equal((await cli(['secrets', 'set', 'rot', '--owner', 'tenant:acme'], { env, stdin: 'second-value-bbbb' })).code, 0);
    assert.equal((await cli(['secrets', 'get', 'rot', '--owner', 'tenant:acme'], { env })).stdout, 'second-value-bbbb\n');
    assert.equal((await cli(['secrets', 'get', 'rot', '--owner', 'tenant:acme', '--version', '1'], { env })).stdout, 'first-value-aaaa\n');
    // Another owner does not see it.
    const other = await cli(['secrets', 'get', 'rot', '--owner', 'tenant:other'], { env });
    assert.equal(other.code, 1);
    assert.match(other.stderr, /GH_SECRET_NOT_FOUND/);
  });

  test('--from-file keeps the bytes exactly; an empty value, a bad name or owner is refused and nothing stored', async () => {
    const f = join(home, 'value.bin');
    writeFileSync(f, 'exact-bytes\n');
    assert.equal((await cli(['secrets', 'set', 'exact', '--from-file', f], { env })).code, 0);
    assert.equal((await cli(['secrets', 'get', 'exact'], { env })).stdout, 'exact-bytes\n\n');
    for (const args of [['set', 'empty'], ['set', '../x'], ['set', 'x', '--owner', 'root']]) {
      const r = await cli(['secrets', ...args], { env, stdin: args[1] === 'empty' ? '\n' : 'some-value' });
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, /GH_SECRET_INVALID/, args.join(' '));
    }
    assert.ok(!(await cli(['secrets', 'list'], { env })).stdout.includes('empty'));
  });

  test('a wrong master key: GH_SECRETS_MASTER_KEY_MISMATCH, the key not in the message', async () => {
    const wrong = 'A'.repeat(43);
    const r = await cli(['secrets', 'get', 'inventory_token'], { env: { ...env, SECRETS_MASTER_KEY: wrong } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /GH_SECRETS_MASTER_KEY_MISMATCH/);
    assert.ok(!r.stderr.includes(wrong) && !r.stderr.includes(String(env['SECRETS_MASTER_KEY'])));
  });

  test('rotate-master --new-key-env: the new key reads every value, the old one is refused', async () => {
    const next = (await cli(['secrets', 'generate-key'])).stdout.trim();
    const rotated = await cli(['secrets', 'rotate-master', '--new-key-env', 'NEXT_KEY'], { env: { ...env, NEXT_KEY: next } });
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.equal((await cli(['secrets', 'get', 'inventory_token'], { env })).code, 1);
    const after = { ...env, SECRETS_MASTER_KEY: next };
    assert.equal((await cli(['secrets', 'get', 'inventory_token'], { env: after })).stdout, `${VALUE}\n`);
    const status = JSON.parse((await cli(['secrets', 'status', '--json'], { env: after })).stdout) as { master_key: { source: string }; master_rotated_at?: string; secrets: number };
    assert.equal(status.master_key.source, 'env');
    assert.ok(status.master_rotated_at);
    const rekey = await cli(['secrets', 'rekey', '--prune'], { env: after });
    assert.equal(rekey.code, 0, rekey.stderr);
    assert.match(rekey.stdout, /root generation 2: \d+ secrets re-encrypted\npruned root generations 1/);
    assert.equal((await cli(['secrets', 'get', 'inventory_token'], { env: after })).stdout, `${VALUE}\n`);
    env = after;
  });

  test('a get that finds nothing is on record twice: the attempt, then its failure with the code', async () => {
    const r = await cli(['secrets', 'get', 'never_set'], { env });
    assert.equal(r.code, 1);
    const reads = auditRecords(home).filter((x) => x['event_type'] === 'secrets.read' && x['resource'] === 'secret:global/never_set');
    assert.deepEqual(reads.map((x) => [x['result_status'], x['error_code']]), [['success', undefined], ['error', 'GH_SECRET_NOT_FOUND']]);
  });

  test('delete: exit 0 once, then 1', async () => {
    assert.equal((await cli(['secrets', 'delete', 'exact'], { env })).code, 0);
    const again = await cli(['secrets', 'delete', 'exact'], { env });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no secret global\/exact/);
  });
});

describe('gatehouse secrets and a running gateway in another process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-secrets-serve-'));
  const home = join(dir, 'home');
  const config = join(dir, 'gatehouse.yaml');
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;

  before(async () => {
    upstream = await startRecordingUpstream();
    writeFileSync(config, [
      'server:', '  tls:', '    enabled: false',
      'auth:', '  methods: [token]',
      'authz:', '  routes:', '    - path: /inv/*', '      scopes: [system:read]',
      'secrets:', '  refresh: 100ms',
      'routes:', '  - name: inv', '    prefix: /inv', `    upstream: ${upstream.url}`,
      '    upstream_auth:', '      bearer: secret:inventory_token', '',
    ].join('\n'));
  });
  after(async () => {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (url: string, token: string) => getOverNewConnection(url, { authorization: `Bearer ${token}` });

  test('the gateway injects the stored secret, follows `secrets set` and answers 503 after `secrets delete`', async () => {
    const key = (await runCliProcess(['secrets', 'generate-key'], {})).stdout.trim();
    const env = { GATEHOUSE_HOME: home, GATEHOUSE_ENV: 'development', USER: 'ops-tester', SECRETS_MASTER_KEY: key };
    const set = await runCliProcess(['secrets', 'set', 'inventory_token', '--config', config], env, `${VALUE}\n`);
    assert.equal(set.code, 0, set.stderr);
    const gw = await startServe(['--config', config, '--listen', '127.0.0.1:0'], env);
    try {
      const minted = await runCliProcess(['token', 'mint', '--agent', 'e2e', '--scopes', 'readonly', '--ttl', '1h', '--config', config], env);
      assert.equal(minted.code, 0, minted.stderr);
      const token = minted.stdout.trim().split('\n').pop() as string;
      assert.equal((await get(`${gw.url}/inv/a`, token)).status, 200);
      assert.equal(upstream.requests.at(-1)?.headers['authorization'], `Bearer ${VALUE}`);

      assert.equal((await runCliProcess(['secrets', 'set', 'inventory_token', '--config', config], env, 'second-value-from-cli-77')).code, 0);
      await until('the new value upstream', async () => {
        await get(`${gw.url}/inv/b`, token);
        return upstream.requests.at(-1)?.headers['authorization'] === 'Bearer second-value-from-cli-77';
      }, 10_000, 50);

      assert.equal((await runCliProcess(['secrets', 'delete', 'inventory_token', '--config', config], env)).code, 0);
      const refused = await until('503 after delete', async () => {
        const r = await get(`${gw.url}/inv/c`, token);
        return r.status === 503 ? r : undefined;
      }, 10_000, 50);
      assert.equal((JSON.parse(refused.body) as { error: { code: string } }).error.code, 'GH_UPSTREAM_CREDENTIALS_UNAVAILABLE');
      assert.ok(!gw.stderr().includes(VALUE) && !gw.stdout().includes(VALUE), 'a secret value in the gateway\'s output');
    } finally {
      assert.equal(await gw.stop('SIGTERM'), 0);
    }
  });
});
