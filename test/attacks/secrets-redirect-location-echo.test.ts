/**
 * Attack: read the injected credential from the response headers of an upstream that echoes it.
 *
 * The gateway redacts known secrets from upstream error bodies, but response headers pass as they are. An upstream
 * redirect that carries the credential it was called with (a legacy API moving `X-Api-Key` into `?api_key=` for the
 * next hop, a "continue" link, a debug header) hands the client the key the gateway injected: the client just reads
 * `Location`. Known secrets should be redacted from response header values as from error bodies.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { openTokenService } from '../../src/authn/index.js';
import { validateConfig } from '../../src/config/index.js';
import { startGateway } from '../../src/gateway/start.js';
import { memoryLogger, startRecordingUpstream } from '../helpers/gateway.js';

const API_KEY = 'fake-redirected-upstream-key-001';

describe('response headers echoing the injected credential', () => {
  test('a 302 Location and a debug header quoting the injected key do not reach the client with it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-atk-location-'));
    writeFileSync(join(dir, 'api_key'), API_KEY, { mode: 0o600 });
    const upstream = await startRecordingUpstream((req, res) => {
      const k = String(req.headers['x-api-key']);
      res.writeHead(302, { location: `https://files.example.test/download?api_key=${k}`, 'x-debug-auth': `key=${k}` });
      res.end();
    });
    const cfg = validateConfig({
      state_dir: join(dir, 'state'),
      server: { tls: { enabled: false } },
      routes: [{ name: 'svc', prefix: '/svc', upstream: upstream.url, upstream_auth: { headers: { 'X-Api-Key': 'file:api_key' } } }],
      auth: { methods: ['token'] },
      authz: { routes: [{ path: '/*', scopes: ['system:read'] }] },
      secrets: { file_dir: dir },
    }, { env: {} });
    const gw = await startGateway(cfg, { listen: '127.0.0.1:0', logger: memoryLogger() });
    try {
      const token = (await openTokenService(cfg, { stateDir: cfg.state_dir }).mint({ agent: 'ci-agent', scopes: 'readonly', ttlMs: 3_600_000 })).token;
      const res = await request(`${gw.url}/svc/export`, { headers: { authorization: `Bearer ${token}` } });
      await res.body.text();
      assert.equal(res.statusCode, 302);
      assert.equal(upstream.requests[0]?.headers['x-api-key'], API_KEY);
      assert.ok(!JSON.stringify(res.headers).includes(API_KEY), `the client read the injected key from the response headers: ${JSON.stringify(res.headers)}`);
    } finally {
      await gw.close(2000);
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
