/**
 * Seed 001 defense layer 1 at the gateway (auth.header.trusted_identity.allowed_tags): a request must arrive through
 * the trusted proxy (tailscale serve) naming a node with an allowed tag, whatever credential it carries. A real gateway
 * and upstream on loopback; the test client plays the proxy (127.0.0.1 is the trusted proxy address).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { openTokenService } from '../../src/authn/index.js';
import { validateConfig } from '../../src/config/index.js';
import { startGateway } from '../../src/gateway/start.js';
import { memoryLogger, startRecordingUpstream } from '../helpers/gateway.js';

test('allowed_tags: only requests from a tagged node reach the upstream; refusals are 403 GH_NETWORK_NOT_ALLOWED and audited', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-network-tags-'));
  const upstream = await startRecordingUpstream();
  try {
    const cfg = validateConfig({
      state_dir: join(dir, 'state'),
      server: { tls: { enabled: false }, trusted_proxies: ['127.0.0.1'] },
      routes: [{ name: 'mcp', prefix: '/mcp', upstream: upstream.url }],
      auth: { methods: ['token'], header: { trusted_identity: { enabled: true, tags_header: 'X-Tailscale-Tags', allowed_tags: ['tag:systemmanager-client'] } } },
      authz: { routes: [{ path: '/*', scopes: ['system:read'] }] },
    }, { env: {} });
    const gw = await startGateway(cfg, { listen: '127.0.0.1:0', logger: memoryLogger() });
    let token = '';
    try {
      token = (await openTokenService(cfg, { stateDir: cfg.state_dir }).mint({ agent: 'ci-agent', scopes: 'readonly', ttlMs: 3_600_000 })).token;
      const call = async (headers: Record<string, string>) => {
        const res = await request(`${gw.url}/mcp/x`, { headers: { authorization: `Bearer ${token}`, 'tailscale-user-login': 'ci@example.com', ...headers } });
        return { status: res.statusCode, body: await res.body.text() };
      };
      assert.equal((await call({ 'x-tailscale-tags': 'tag:systemmanager-client' })).status, 200);
      const refused = await call({ 'x-tailscale-tags': 'tag:laptop' });
      assert.equal(refused.status, 403);
      assert.equal((JSON.parse(refused.body) as { error: { code: string } }).error.code, 'GH_NETWORK_NOT_ALLOWED');
      assert.equal((await call({})).status, 403);
      assert.equal(upstream.requests.length, 1, 'a refused request reached the upstream');
    } finally {
      await gw.close(2000);
    }
    const auditDir = join(cfg.state_dir, 'audit');
    const records = readdirSync(auditDir).filter((f) => f.endsWith('.jsonl')).flatMap((f) => readFileSync(join(auditDir, f), 'utf8').split('\n').filter(Boolean)).map((l) => JSON.parse(l) as Record<string, unknown>);
    const denied = records.filter((r) => r['error_code'] === 'GH_NETWORK_NOT_ALLOWED');
    assert.equal(denied.length, 2);
    assert.ok(denied.every((r) => r['event_type'] === 'authz.deny' && r['result'] === 'denied'), JSON.stringify(denied[0]));
    assert.ok(!records.some((r) => JSON.stringify(r).includes(token)), 'the token in the audit trail');
  } finally {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
