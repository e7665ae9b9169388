import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTokenService } from '../../src/authn/index.js';
import { loadConfig } from '../../src/config/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { cli } from '../helpers/cli.js';
import { FIXTURES } from './helpers.js';

const home = mkdtempSync(join(tmpdir(), 'gh-explain-'));
after(() => rmSync(home, { recursive: true, force: true }));
const configFile = join(home, 'gatehouse.yaml');
writeFileSync(
  configFile,
  `state_dir: ${home}
authz:
  acl_files: [${FIXTURES}seed002-acl.yaml]
  routes:
    - name: streams
      path: /t/:tenant/ns/:namespace/streams/:stream
      resource: "stream:{stream}"
      actions: { POST: publish, GET: subscribe }
approval:
  mode: queue
`,
);
const env = { GATEHOUSE_HOME: home };
const explain = (...args: string[]) => cli(['authz', 'explain', '--config', configFile, ...args], { env });

async function mint(scopes: string, opts: { ttlMs?: number; breakGlass?: boolean; clock?: ManualClock } = {}): Promise<string> {
  const cfg = await loadConfig({ path: configFile, env, cwd: home });
  const svc = openTokenService(cfg, { stateDir: cfg.state_dir, ...(opts.clock ? { clock: opts.clock } : {}) });
  return (await svc.mint({ agent: 'ops-automation', scopes, ttlMs: opts.ttlMs ?? 3_600_000, ...(opts.breakGlass ? { breakGlass: true } : {}) })).token;
}

describe('gatehouse authz explain', () => {
  test('a readonly token and install_package: denied, the missing scope named (exit 1)', async () => {
    const r = await explain('--token', await mint('readonly'), '--tool', 'install_package', '--args', '{"package_name":"nginx"}');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^decision:\s+deny$/m);
    assert.match(r.stdout, /^reason:\s+scope_missing$/m);
    assert.match(r.stdout, /^missing scope:\s+system:admin$/m);
    assert.match(r.stdout, /^policy version:\s+sha256:[0-9a-f]{12}$/m);
    assert.match(r.stdout, /Insufficient scope: install_package requires system:admin/);
    assert.match(r.stdout, /^token:\s+active$/m);
  });

  test('the operation is shown redacted, as the gateway would record it: secrets in --args and in the path never reach the output', async () => {
    const token = await mint('readonly');
    const secret = 'sk_live_51HqLyjWDarjtT1zdp7dcXYZabcdef0123';
    for (const json of [false, true]) {
      const mcp = await explain('--token', token, '--tool', 'install_package', '--args', JSON.stringify({ package_name: 'nginx', api_key: secret, password: 'hunter2-but-longer' }), ...(json ? ['--json'] : []));
      assert.ok(!mcp.stdout.includes(secret) && !mcp.stdout.includes('hunter2-but-longer'), mcp.stdout);
      assert.match(mcp.stdout, /nginx/, 'the rest of the arguments is shown');
      const http = await explain('--token', token, '--method', 'GET', '--path', `/t/acme/ns/prod/streams/orders?access_token=${secret}`, ...(json ? ['--json'] : []));
      assert.ok(!http.stdout.includes(secret), http.stdout);
    }
  });

  test('an admin token: allowed, scopes used, approval through the queue (exit 0)', async () => {
    const r = await explain('--token', await mint('admin'), '--tool', 'install_package', '--args', '{"package_name":"nginx"}', '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.decision.allow, true);
    assert.deepEqual(j.decision.scopes_used, ['admin']);
    assert.equal(j.decision.rule, 'tool:install_package');
    assert.equal(j.approval, 'queue');
    assert.equal(j.principal, 'ops-automation');
  });

  test('the token can come from stdin, and it never appears in the output', async () => {
    const token = await mint('readonly');
    const r = await cli(['authz', 'explain', '--config', configFile, '--token-stdin', '--tool', 'get_system_status'], { env, stdin: token });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes(token) && !r.stderr.includes(token));
  });

  test('an expired token is reported: the gateway would refuse it before authorization', async () => {
    const clock = new ManualClock(Date.now() - 7_200_000);
    const r = await explain('--token', await mint('admin', { clock }), '--tool', 'get_system_status');
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^token:\s+expired: the gateway refuses it/m);
  });

  test('a forged token is refused outright', async () => {
    const token = await mint('readonly');
    const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const r = await explain('--token', forged, '--tool', 'get_system_status');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /GH_TOKEN_INVALID/);
  });

  test('--scopes with --method/--path explains an RBAC decision naming the ACL rule', async () => {
    const r = await explain('--scopes', '', '--principal', 'service-account-publisher', '--tenant', 'acme-corp', '--method', 'post', '--path', '/t/acme-corp/ns/production/streams/orders');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^reason:\s+rbac_rule$/m);
    assert.match(r.stdout, /^rule:\s+acl:.*seed002-acl\.yaml#0\.rules\[0\]$/m);
    const denied = await explain('--scopes', 'admin', '--principal', 'x', '--tenant', 'globex', '--method', 'GET', '--path', '/t/acme-corp/ns/production/streams/orders');
    assert.equal(denied.code, 1);
    assert.match(denied.stdout, /^reason:\s+tenant_mismatch$/m);
  });

  test('--path is decoded and checked as the gateway does: a percent-encoded path explains the same decision, a refused one says so', async () => {
    const encoded = await explain('--scopes', '', '--principal', 'service-account-publisher', '--tenant', 'acme-corp', '--method', 'POST', '--path', '/t/acme-corp/ns/production/streams/%6Frders?x=1');
    assert.equal(encoded.code, 0, encoded.stderr);
    assert.match(encoded.stdout, /^reason:\s+rbac_rule$/m);
    const refused = await explain('--scopes', 'admin', '--method', 'GET', '--path', '/t/acme-corp/ns/production/streams/..%2forders');
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /GH_PATH_INVALID/);
  });

  test('a break-glass principal shows approval as skipped', async () => {
    const r = await explain('--scopes', 'admin', '--break-glass', '--tool', 'install_package', '--args', '{"package_name":"x"}');
    assert.match(r.stdout, /^approval:\s+skipped: break-glass/m);
  });

  test('usage errors exit 2', async () => {
    assert.equal((await explain('--tool', 'x')).code, 2);
    assert.equal((await explain('--scopes', 'readonly')).code, 2);
    assert.equal((await explain('--scopes', 'readonly', '--tool', 'x', '--method', 'GET', '--path', '/')).code, 2);
    assert.equal((await explain('--scopes', 'readonly', '--tool', 'x', '--args', '[1]')).code, 2);
    assert.equal((await explain('--scopes', 'readonly', '--token', 'gh1.x.y.z', '--tool', 'x')).code, 2);
  });
});
