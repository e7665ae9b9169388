/**
 * auth.token.rotation through real processes, the CLI run from src/ (through tsx): `gatehouse config check` accepts
 * it and refuses it beside a configured secret (exit 2); `gatehouse serve` with two workers, started on a signing key
 * older than rotation.every, rotates it exactly once (both workers look at start; the key file's lock and the check
 * made again under it leave one rotation), and tokens minted before and after are both accepted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { TokenService, ensureTokenSecrets, listTokenKeys, tokenKeyPath } from '../../src/authn/index.js';
import { ROOT } from '../helpers/process.js';
import { until } from '../helpers/until.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).href;
const SCRIPT = `import { main } from ${JSON.stringify(MAIN)}; process.exitCode = await main(process.argv.slice(1));`;

function cliFromSource(args: string[], home: string): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT, ...args], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'], GATEHOUSE_HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function run(args: string[], home: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = cliFromSource(args, home);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

function get(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const auditRecords = (home: string): Record<string, unknown>[] => {
  let text = '';
  try {
    text = readFileSync(join(home, 'audit', 'audit.jsonl'), 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l.endsWith('}')).map((l) => JSON.parse(l) as Record<string, unknown>);
};

describe('auth.token.rotation, real processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-rotation-e2e-'));
  let upstream: Server;
  let upstreamUrl = '';
  before(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      res.end('ok\n');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
  });
  after(async () => {
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('config check accepts rotation.every, and refuses it with a configured secret (exit 2, naming the path)', async () => {
    const home = mkdtempSync(join(dir, 'home-'));
    const good = join(home, 'rotating.yaml');
    writeFileSync(good, 'auth:\n  token:\n    rotation:\n      every: 30d\n');
    const ok = await run(['config', 'check', '--config', good], home);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /rotation:\s*\n\s+every: 2592000000/);

    const bad = join(home, 'configured-secret.yaml');
    writeFileSync(bad, 'auth:\n  token:\n    secret: a-configured-secret-of-32-bytes!!\n    rotation:\n      every: 30d\n');
    const refused = await run(['config', 'check', '--config', bad], home);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /auth\.token\.rotation\.every: the signing secret comes from configuration \(auth\.token\.secret\)/);
    assert.ok(!(refused.stdout + refused.stderr).includes('a-configured-secret'), 'the secret was printed');
  });

  test('serve with two workers on a key older than rotation.every: exactly one rotation, audited; old and new tokens accepted', async () => {
    const home = mkdtempSync(join(dir, 'home-'));
    const config = join(home, 'gatehouse.yaml');
    writeFileSync(
      config,
      ['server:', '  workers: 2', '  shutdown_timeout: 3s', '  tls:', '    enabled: false', 'auth:', '  token:', '    rotation:', '      every: 1h', '      overlap: 1d', 'routes:', '  - name: up', '    prefix: /up', `    upstream: ${upstreamUrl}`, 'authz:', '  routes:', '    - { path: "/up/*", scopes: [system:read] }', ''].join('\n'),
    );
    // A key made two hours ago, and a token it signed.
    const created = new ManualClock(Date.now() - 2 * 3_600_000);
    const oldKeys = ensureTokenSecrets(home, { clock: created });
    const oldToken = (await new TokenService({ keyring: oldKeys }).mint({ agent: 'before', scopes: 'system:read', ttlMs: 3 * 3_600_000 })).token;

    const child = cliFromSource(['serve', '--config', config, '--listen', '127.0.0.1:0'], home);
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const url = (await until(() => `the gateway to listen: ${err.slice(-2000)}`, () => /listening on (http:\/\/[^\s]+)/.exec(err)?.[1], 60_000)) as string;
      // Both workers have made their first look once both serve.
      await until(() => `both workers to serve: ${err.slice(-2000)}`, () => /2 workers serving/.test(err), 60_000);

      const keys = listTokenKeys(home)!;
      assert.equal(keys.length, 2, JSON.stringify(keys));
      const signing = keys.find((k) => k.signing)!;
      assert.notEqual(signing.kid, oldKeys.signing.kid);
      const old = keys.find((k) => !k.signing)!;
      assert.equal(old.kid, oldKeys.signing.kid);
      assert.ok(old.verifying && old.verify_until !== undefined && old.verify_until > Date.now());

      const newToken = (await new TokenService({ keyring: ensureTokenSecrets(home) }).mint({ agent: 'after', scopes: 'system:read', ttlMs: 3_600_000 })).token;
      assert.equal(newToken.split('.')[1], signing.kid);
      // Several requests each: the two workers share the listener, and both must accept both tokens.
      for (let i = 0; i < 6; i++) {
        assert.equal(await get(`${url}/up/x`, oldToken), 200);
        assert.equal(await get(`${url}/up/x`, newToken), 200);
      }
      await until('the token.key.rotate record', () => auditRecords(home).some((r) => r['event_type'] === 'token.key.rotate'));
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    const rotations = auditRecords(home).filter((r) => r['event_type'] === 'token.key.rotate');
    assert.equal(rotations.length, 1);
    const r = rotations[0] as { subject?: string; action?: string; metadata?: Record<string, unknown> };
    assert.equal(r.subject, 'gateway');
    assert.equal(r.action, 'rotate');
    assert.equal(r.metadata?.['automatic'], true);
    assert.equal(r.metadata?.['every'], '1h');
    assert.equal(r.metadata?.['overlap'], '1d');
    assert.deepEqual(r.metadata?.['overlapping'], [oldKeys.signing.kid]);
    // No key bytes in the audit log or the gateway's output.
    const secrets = (JSON.parse(readFileSync(tokenKeyPath(home), 'utf8')) as { keys: { secret: string }[] }).keys.map((k) => k.secret);
    const audit = readFileSync(join(home, 'audit', 'audit.jsonl'), 'utf8');
    for (const s of secrets) assert.ok(!audit.includes(s) && !err.includes(s), 'a key leaked');
    assert.equal(listTokenKeys(home)!.length, 2, 'still one rotation after the workers stopped');
  });
});
