/**
 * Data residency through a real gateway: tenants' tokens against routes whose upstreams lie in other regions. A
 * refused request never reaches its upstream; a bridge crossing is allowed only with the tenant's consent and is in
 * the audit record; MCP callers get a JSON-RPC error that names the cause. Real upstream on loopback.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { openTokenService } from '../../src/authn/index.js';
import { startRecordingUpstream, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RESIDENCY, residencyRoutes } from '../authz/residency-fixtures.js';

describe('residency through the gateway', () => {
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let gw: TestGateway;
  const tokens: Record<string, string> = {};

  before(async () => {
    upstream = await startRecordingUpstream();
    process.env['GH_TEST_RESIDENCY_KEY'] = randomBytes(32).toString('hex');
    gw = await startTestGateway({
      auth: { methods: ['token'] },
      authz: { tenants: ['acme', 'globex', 'initech', 'umbrella'], routes: [{ path: '/*', scopes: ['system:read'] }] },
      residency: RESIDENCY,
      encryption: { enabled: true, key_env: 'GH_TEST_RESIDENCY_KEY', key_id: 'residency-key', transit: { enabled: true } },
      routes: [
        ...residencyRoutes(upstream.url, { auth_required: true }),
        { name: 'pub', prefix: '/pub', upstream: upstream.url, auth_required: false, residency: { region: 'eu-west-1' } },
        { name: 'tools', prefix: '/mcp', upstream: 'demo:mcp', kind: 'mcp', auth_required: true, residency: { region: 'us-east-2' } },
      ],
    });
    const svc = openTokenService(gw.config, { stateDir: gw.config.state_dir });
    for (const tenant of ['acme', 'globex', 'initech', 'umbrella']) tokens[tenant] = (await svc.mint({ agent: `${tenant}-agent`, scopes: 'readonly', tenant, ttlMs: 3_600_000 })).token;
    tokens['none'] = (await svc.mint({ agent: 'ops', scopes: 'readonly', ttlMs: 3_600_000 })).token;
    tokens['narrow'] = (await svc.mint({ agent: 'narrow', scopes: 'file:read', tenant: 'acme', ttlMs: 3_600_000 })).token;
  });

  after(async () => {
    await gw.stop();
    await upstream.close();
    delete process.env['GH_TEST_RESIDENCY_KEY'];
  });

  const get = async (path: string, who: string) => {
    const res = await request(`${gw.url}${path}`, { headers: { authorization: `Bearer ${tokens[who]}` } });
    const text = await res.body.text();
    return { status: res.statusCode, text, json: () => JSON.parse(text) as { error: { code: string; message: string; reason?: string; request_id: string } } };
  };

  test('each tenant reaches the regions it allows and no other; refused requests never reach the upstream', async () => {
    const cases: Array<[string, string, number]> = [
      ['/local/a', 'acme', 200],
      ['/dublin/a', 'acme', 403],
      ['/virginia/a', 'acme', 403],
      ['/dublin/a', 'none', 200],
      ['/dublin/a', 'umbrella', 200],
      ['/virginia/a', 'none', 403],
      ['/virginia/a', 'globex', 200],
      ['/ohio/a', 'globex', 403],
      ['/local/a', 'initech', 403],
    ];
    for (const [path, who, status] of cases) {
      const before = upstream.requests.length;
      const r = await get(path, who);
      assert.equal(r.status, status, `${who} ${path}: ${r.text}`);
      assert.equal(upstream.requests.length - before, status === 200 ? 1 : 0, `${who} ${path}`);
      if (status === 403) {
        const body = r.json();
        assert.equal(body.error.code, 'GH_FORBIDDEN');
        assert.match(body.error.message, /^Forbidden: data residency: /);
      }
    }
  });

  test('the refusal names the route and the regions, never the upstream address', async () => {
    const r = await get('/dublin/reports?token=abc', 'acme');
    assert.equal(r.status, 403);
    const { error } = r.json();
    assert.equal(error.message, 'Forbidden: data residency: route dublin reaches eu-west-1, outside the regions allowed for tenant acme, and the route is not a cross-region bridge');
    assert.ok(!r.text.includes('127.0.0.1') && !r.text.includes(upstream.url));
  });

  test('a public route: open to anyone in the default regions, yet a caller whose token binds a narrower tenant is held to it', async () => {
    const anonymous = await request(`${gw.url}/pub/a`);
    assert.equal(anonymous.statusCode, 200);
    await anonymous.body.dump();
    assert.equal((await get('/pub/a', 'umbrella')).status, 200);
    const before = upstream.requests.length;
    const acme = await get('/pub/a', 'acme');
    assert.equal(acme.status, 403);
    assert.match(acme.json().error.message, /route pub reaches eu-west-1, outside the regions allowed for tenant acme/);
    assert.equal(upstream.requests.length, before);
  });

  test('another reason to deny comes first: a missing scope is reported as such', async () => {
    const r = await get('/ohio/a', 'narrow');
    assert.equal(r.status, 403);
    assert.equal(r.json().error.code, 'GH_SCOPE_MISSING');
  });

  test('an MCP call to a route outside the tenant\'s regions gets a JSON-RPC error naming data residency (HTTP 200, as for every MCP policy refusal)', async () => {
    const res = await request(`${gw.url}/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens['acme']}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'get_system_status', arguments: {} } }),
    });
    const body = (await res.body.json()) as { id: number; error?: { code: number; message: string }; result?: unknown };
    assert.equal(body.id, 7);
    assert.equal(body.result, undefined);
    assert.match(body.error?.message ?? '', /data residency: route tools reaches us-east-2/);
  });

  test('the transit API processes data in this gateway: refused to a tenant whose regions exclude it, served to others', async () => {
    const svc = openTokenService(gw.config, { stateDir: gw.config.state_dir });
    const call = async (tenant: string) => {
      const token = (await svc.mint({ agent: `${tenant}-crypto`, scopes: 'transit:encrypt', tenant, ttlMs: 3_600_000 })).token;
      const res = await request(`${gw.url}/_gatehouse/v1/encrypt/default`, { method: 'POST', body: JSON.stringify({ plaintext: 'QUFBQQ==' }), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
      return { status: res.statusCode, text: await res.body.text() };
    };
    const foreign = await call('initech');
    assert.equal(foreign.status, 403);
    assert.match(foreign.text, /data residency: this gateway runs in eu-central-1, outside the regions allowed for tenant initech/);
    assert.equal((await call('acme')).status, 200);
  });

  test('the audit trail: the crossing through the bridge is recorded with both regions; refusals say why', async () => {
    const crossed = await get('/virginia/audit-me', 'globex');
    assert.equal(crossed.status, 200);
    const refused = await get('/dublin/audit-me', 'acme');
    assert.equal(refused.status, 403);
    const refusedId = refused.json().error.request_id;
    await gw.close(2000);
    const dir = join(gw.stateDir, 'audit');
    const records = readdirSync(dir)
      .filter((f) => f.endsWith('.jsonl'))
      .flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n'))
      .map((l) => JSON.parse(l) as Record<string, unknown> & { metadata?: Record<string, unknown> });
    const crossing = records.filter((r) => r.metadata?.['residency'] !== undefined);
    assert.ok(crossing.length >= 1);
    for (const r of crossing) {
      assert.equal(r['tenant'], 'globex');
      assert.deepEqual(r.metadata?.['residency'], { from: 'eu-central-1', to: 'us-east-1', bridge: 'virginia', rule: 'residency.tenants.globex' });
    }
    assert.ok(crossing.some((r) => r['path'] === '/virginia/audit-me'));
    const denied = records.find((r) => r['request_id'] === refusedId);
    assert.equal(denied?.['error_code'], 'GH_FORBIDDEN');
    assert.equal(denied?.['result'], 'denied');
    assert.deepEqual((denied?.metadata?.['decision'] as Record<string, unknown>)?.['reason'], 'data_residency');
    assert.equal((denied?.metadata?.['decision'] as Record<string, unknown>)?.['rule'], 'residency.tenants.acme');
    // In-region requests carry no residency member: records outside residency stay as they were.
    assert.ok(records.filter((r) => r['path'] === '/local/a').every((r) => r.metadata?.['residency'] === undefined));
  });
});
