/**
 * Upstream credential injection (routes[].upstream_auth, docs/secrets.md) through real gateways: secrets from the
 * encrypted store, a mounted file and the environment reach a real upstream on loopback; the client never sees them,
 * cannot substitute its own, and a secret changed or removed while the gateway runs is followed (fail closed).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { openTokenService } from '../../src/authn/index.js';
import { validateConfig, type GatehouseConfig } from '../../src/config/index.js';
import { startGateway, type Gateway } from '../../src/gateway/start.js';
import { openSecrets } from '../../src/secrets/index.js';
import { generateDevCertificates } from '../../src/tls/index.js';
import { openStore } from '../../src/store/index.js';
import { memoryLogger, startRecordingUpstream } from '../helpers/gateway.js';
import { until } from '../helpers/until.js';
import { cli } from '../helpers/cli.js';
import { AUDIENCE, BASIC_CLIENT, signingJwk, startProvider } from '../helpers/oidc.js';

const STORE_SECRET = 'inv-token-7b1e0c55d2a94f3e';
const FILE_SECRET = 'file-secret-9c2d4e6f8a0b1c3d';

interface Setup {
  cfg: GatehouseConfig;
  stateDir: string;
  dir: string;
  setSecret(name: string, value: string): Promise<void>;
  deleteSecret(name: string): Promise<void>;
  close(): Promise<void>;
}

async function setup(routes: Record<string, unknown>[], extra: Record<string, unknown> = {}): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-secrets-gw-'));
  const stateDir = join(dir, 'state');
  const cfg = validateConfig({
    state_dir: stateDir,
    server: { tls: { enabled: false } },
    routes,
    auth: { methods: ['token'] },
    authz: { routes: [{ path: '/*', scopes: ['system:read'] }] },
    secrets: { refresh: '50ms', file_dir: dir },
    ...extra,
  }, { env: {} });
  // The operator's side: the CLI's library calls on the same state directory (the generated development master key).
  const store = openStore({ kind: 'sqlite', path: join(stateDir, 'state.db') });
  const secrets = openSecrets(cfg.secrets, { store, stateDir, profile: 'development', env: {} });
  return {
    cfg, stateDir, dir,
    async setSecret(name, value) {
      await (await secrets.vault()).set('global', name, value, { by: 'test' });
    },
    async deleteSecret(name) {
      await (await secrets.vault()).delete('global', name);
    },
    async close() {
      secrets.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function start(s: Setup): Promise<Gateway & { log: ReturnType<typeof memoryLogger> }> {
  const log = memoryLogger();
  const gw = await startGateway(s.cfg, { listen: '127.0.0.1:0', logger: log });
  return Object.assign(gw, { log });
}

async function mint(cfg: GatehouseConfig): Promise<string> {
  return (await openTokenService(cfg, { stateDir: cfg.state_dir }).mint({ agent: 'ci-agent', scopes: 'readonly', ttlMs: 3_600_000 })).token;
}

async function get(url: string, headers: Record<string, string>): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const res = await request(url, { headers });
  return { status: res.statusCode, body: await res.body.text(), headers: res.headers };
}

function auditText(stateDir: string): string {
  const d = join(stateDir, 'audit');
  return readdirSync(d).filter((f) => f.endsWith('.jsonl')).map((f) => readFileSync(join(d, f), 'utf8')).join('');
}

describe('upstream credentials from secrets', () => {
  test('bearer from the store and a header from a file reach the upstream; the client\'s token and its own X-Api-Key do not', async () => {
    const upstream = await startRecordingUpstream();
    const s = await setup([{ name: 'inv', prefix: '/inv', upstream: upstream.url, auth_required: true, upstream_auth: { bearer: 'secret:inventory_token', headers: { 'X-Api-Key': 'file:api_key' } } }]);
    await s.setSecret('inventory_token', STORE_SECRET);
    writeFileSync(join(s.dir, 'api_key'), `${FILE_SECRET}\n`, { mode: 0o600 });
    const gw = await start(s);
    try {
      const token = await mint(s.cfg);
      const res = await get(`${gw.url}/inv/items`, { authorization: `Bearer ${token}`, 'x-api-key': 'client-chosen-key' });
      assert.equal(res.status, 200);
      const seen = upstream.requests[0]?.headers;
      assert.equal(seen?.['authorization'], `Bearer ${STORE_SECRET}`);
      assert.equal(seen?.['x-api-key'], FILE_SECRET, 'the file\'s trailing newline is not part of the secret; the client\'s header is dropped');
      assert.ok(!JSON.stringify(upstream.requests).includes(token), 'the gateway token reached the upstream');
      assert.ok(!JSON.stringify(res).includes(STORE_SECRET));
      await gw.close(2000);
      const audit = auditText(s.stateDir);
      assert.ok(!audit.includes(STORE_SECRET) && !audit.includes(FILE_SECRET), 'a secret value in the audit log');
      assert.ok(!gw.log.lines.join('\n').includes(STORE_SECRET));
    } finally {
      await gw.close(2000);
      await upstream.close();
      await s.close();
    }
  });

  test('basic: Authorization is Basic base64(username:secret)', async () => {
    const upstream = await startRecordingUpstream();
    const s = await setup([{ name: 'b', prefix: '/b', upstream: upstream.url, auth_required: true, upstream_auth: { basic: { username: 'svc-gatehouse', password: 'secret:svc_password' } } }]);
    await s.setSecret('svc_password', 'pw-with:colon-and-ü');
    const gw = await start(s);
    try {
      const res = await get(`${gw.url}/b/x`, { authorization: `Bearer ${await mint(s.cfg)}` });
      assert.equal(res.status, 200);
      assert.equal(upstream.requests[0]?.headers['authorization'], `Basic ${Buffer.from('svc-gatehouse:pw-with:colon-and-ü').toString('base64')}`);
    } finally {
      await gw.close(2000);
      await upstream.close();
      await s.close();
    }
  });

  test('a secret set again is used within the refresh interval; deleted, the route answers 503 and forwards nothing; set back, it serves', async () => {
    const upstream = await startRecordingUpstream();
    const s = await setup([{ name: 'inv', prefix: '/inv', upstream: upstream.url, auth_required: true, upstream_auth: { bearer: 'secret:inventory_token' } }]);
    await s.setSecret('inventory_token', STORE_SECRET);
    const gw = await start(s);
    try {
      const auth = { authorization: `Bearer ${await mint(s.cfg)}` };
      assert.equal((await get(`${gw.url}/inv/a`, auth)).status, 200);
      await s.setSecret('inventory_token', 'rotated-token-0f9e8d7c6b5a');
      await until('the rotated token upstream', async () => {
        await get(`${gw.url}/inv/b`, auth);
        return upstream.requests.at(-1)?.headers['authorization'] === 'Bearer rotated-token-0f9e8d7c6b5a';
      });
      await s.deleteSecret('inventory_token');
      const refused = await until('a 503 once the secret is gone', async () => {
        const r = await get(`${gw.url}/inv/c`, auth);
        return r.status === 503 ? r : undefined;
      });
      assert.equal((JSON.parse(refused.body) as { error: { code: string } }).error.code, 'GH_UPSTREAM_CREDENTIALS_UNAVAILABLE');
      const forwarded = upstream.requests.length;
      assert.equal((await get(`${gw.url}/inv/d`, auth)).status, 503);
      assert.equal(upstream.requests.length, forwarded, 'a request went upstream without its credential');
      await s.setSecret('inventory_token', 'restored-token-1a2b3c4d5e');
      await until('serving again', async () => (await get(`${gw.url}/inv/e`, auth)).status === 200);
      assert.equal(upstream.requests.at(-1)?.headers['authorization'], 'Bearer restored-token-1a2b3c4d5e');
      await gw.close(2000);
      const audit = auditText(s.stateDir);
      assert.match(audit, /"event_type":"secrets.reload"/);
      assert.ok(!audit.includes('rotated-token-0f9e8d7c6b5a') && !audit.includes(STORE_SECRET));
    } finally {
      await gw.close(2000);
      await upstream.close();
      await s.close();
    }
  });

  test('rotate-master and rekey --prune from the CLI while the gateway runs: it re-reads the replaced development key file and keeps serving', async () => {
    const upstream = await startRecordingUpstream();
    const s = await setup([{ name: 'inv', prefix: '/inv', upstream: upstream.url, auth_required: true, upstream_auth: { bearer: 'secret:inventory_token' } }]);
    await s.setSecret('inventory_token', STORE_SECRET);
    const gw = await start(s);
    try {
      const auth = { authorization: `Bearer ${await mint(s.cfg)}` };
      assert.equal((await get(`${gw.url}/inv/a`, auth)).status, 200);
      const config = join(s.dir, 'gatehouse.yaml');
      writeFileSync(config, `state_dir: ${s.stateDir}\nsecrets:\n  file_dir: ${s.dir}\n`);
      const keyFile = join(s.stateDir, 'keys', 'secrets-master.key');
      const before = readFileSync(keyFile, 'utf8');
      const rotated = await cli(['secrets', 'rotate-master', '--config', config], { env: {} });
      assert.equal(rotated.code, 0, rotated.stderr);
      assert.notEqual(readFileSync(keyFile, 'utf8'), before, 'the generated key file holds a new key');
      const rekeyed = await cli(['secrets', 'rekey', '--prune', '--config', config], { env: {} });
      assert.equal(rekeyed.code, 0, rekeyed.stderr);
      // The value is now sealed under a root only the new key wraps, and the old root is pruned.
      const res = await get(`${gw.url}/inv/b`, auth);
      assert.equal(res.status, 200, res.body);
      assert.equal(upstream.requests.at(-1)?.headers['authorization'], `Bearer ${STORE_SECRET}`);
    } finally {
      await gw.close(2000);
      await upstream.close();
      await s.close();
    }
  });

  test('oauth2: the gateway gets a client credentials token from a real OpenID provider, caches it, and the upstream sees it; the client never does', async () => {
    const op = await startProvider();
    op.configure([await signingJwk('k1')]);
    const upstream = await startRecordingUpstream((req, res) => {
      // /echo answers an error quoting the credential, in its body and a header; anything else succeeds.
      if (req.url !== '/echo') return void res.end('ok');
      res.writeHead(500, { 'content-type': 'text/plain', 'x-debug': `got ${String(req.headers['authorization'])}` });
      res.end(`refused ${String(req.headers['authorization'])}`);
    });
    const s = await setup([{
      name: 'logs', prefix: '/logs', upstream: upstream.url, auth_required: true,
      upstream_auth: { oauth2: { token_url: `${op.issuer}/token`, client_id: BASIC_CLIENT.client_id, client_secret: 'file:oauth_secret', scopes: ['container:read'], resource: AUDIENCE } },
    }]);
    writeFileSync(join(s.dir, 'oauth_secret'), BASIC_CLIENT.client_secret);
    const gw = await start(s);
    try {
      const auth = { authorization: `Bearer ${await mint(s.cfg)}` };
      assert.equal((await get(`${gw.url}/logs/a`, auth)).status, 200);
      const echoed = await get(`${gw.url}/logs/echo`, auth);
      assert.equal(op.tokenRequests(), 1, 'one token for two requests');
      const sent = String(upstream.requests[0]?.headers['authorization']);
      assert.match(sent, /^Bearer eyJ/);
      const claims = JSON.parse(Buffer.from(sent.slice(7).split('.')[1] as string, 'base64url').toString()) as { iss: string; aud: string; client_id: string };
      assert.equal(claims.iss, op.issuer);
      assert.equal(claims.client_id, BASIC_CLIENT.client_id);
      assert.equal(upstream.requests[1]?.headers['authorization'], sent);
      // The upstream echoed the token in its body and a header: neither reaches the client.
      assert.equal(echoed.status, 500);
      assert.ok(!echoed.body.includes(sent.slice(7)), echoed.body);
      assert.ok(!JSON.stringify(echoed.headers).includes(sent.slice(7)), JSON.stringify(echoed.headers));
    } finally {
      await gw.close(2000);
      await upstream.close();
      await op.close();
      await s.close();
    }
  });

  test('oauth2: an upstream 401 drops the cached token and the next request gets a new one; an upstream refusing every token costs one grant per interval, not one per request', async () => {
    const op = await startProvider();
    op.configure([await signingJwk('k1')]);
    const revoked = new Set<string>();
    let refuseAll = false;
    const upstream = await startRecordingUpstream((req, res) => {
      const token = String(req.headers['authorization']);
      if (refuseAll || revoked.has(token)) {
        res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' });
        return void res.end();
      }
      res.end('ok');
    });
    const s = await setup([{
      name: 'logs', prefix: '/logs', upstream: upstream.url, auth_required: true,
      upstream_auth: { oauth2: { token_url: `${op.issuer}/token`, client_id: BASIC_CLIENT.client_id, client_secret: 'file:oauth_secret', scopes: ['container:read'], resource: AUDIENCE } },
    }]);
    writeFileSync(join(s.dir, 'oauth_secret'), BASIC_CLIENT.client_secret);
    const gw = await start(s);
    let closed = false;
    try {
      const auth = { authorization: `Bearer ${await mint(s.cfg)}` };
      const sentAt = (i: number): string => String(upstream.requests[i]?.headers['authorization']);
      assert.equal((await get(`${gw.url}/logs/a`, auth)).status, 200);
      const first = sentAt(0);
      // The upstream revokes the token (a key rotation, an admin's revocation): one request sees the 401 ...
      revoked.add(first);
      assert.equal((await get(`${gw.url}/logs/b`, auth)).status, 401);
      assert.equal(sentAt(1), first);
      // ... and the next one goes out with a new token.
      assert.equal((await get(`${gw.url}/logs/c`, auth)).status, 200);
      assert.equal(op.tokenRequests(), 2);
      const second = sentAt(2);
      assert.notEqual(second, first);
      // An upstream that refuses every token: within the interval the new token is kept, not traded per request.
      refuseAll = true;
      for (const p of ['d', 'e', 'f']) assert.equal((await get(`${gw.url}/logs/${p}`, auth)).status, 401);
      assert.equal(op.tokenRequests(), 2, 'no grant per refused request');
      assert.deepEqual([3, 4, 5].map(sentAt), [second, second, second]);
      // Logged and audited once, naming the route, never the token.
      const warned = gw.log.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => /refused the route's OAuth token/.test(String(l['msg'])));
      assert.equal(warned.length, 1);
      assert.equal(warned[0]?.['route'], 'logs');
      await gw.close(2000);
      closed = true;
      const audit = auditText(s.stateDir);
      assert.equal(audit.match(/"event_type":"secrets\.oauth_refused"/g)?.length, 1);
      for (const t of [first, second]) {
        assert.ok(!audit.includes(t.slice(7)), 'a token in the audit trail');
        assert.ok(!gw.log.lines.join('\n').includes(t.slice(7)), 'a token in the log');
      }
    } finally {
      if (!closed) await gw.close(2000);
      await upstream.close();
      await op.close();
      await s.close();
    }
  });

  test('oauth2: a token endpoint that refuses the client secret makes the route answer 502 GH_OAUTH_TOKEN_FAILED; nothing is forwarded', async () => {
    const op = await startProvider();
    op.configure([await signingJwk('k1')]);
    const upstream = await startRecordingUpstream();
    const s = await setup([{
      name: 'logs', prefix: '/logs', upstream: upstream.url, auth_required: true,
      upstream_auth: { oauth2: { token_url: `${op.issuer}/token`, client_id: BASIC_CLIENT.client_id, client_secret: 'file:oauth_secret' } },
    }]);
    writeFileSync(join(s.dir, 'oauth_secret'), 'not-the-client-secret-000');
    const gw = await start(s);
    try {
      const r = await get(`${gw.url}/logs/a`, { authorization: `Bearer ${await mint(s.cfg)}` });
      assert.equal(r.status, 502);
      assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'GH_OAUTH_TOKEN_FAILED');
      assert.ok(!r.body.includes('not-the-client-secret-000'));
      assert.equal(upstream.requests.length, 0);
    } finally {
      await gw.close(2000);
      await upstream.close();
      await op.close();
      await s.close();
    }
  });

  test('oauth2: a token endpoint behind a private CA is trusted through ca_file, and refused (502) without it', async () => {
    const certs = mkdtempSync(join(tmpdir(), 'gh-oauth-ca-'));
    const files = await generateDevCertificates({ outDir: certs, hosts: ['localhost', '127.0.0.1'] });
    const endpoint = createHttps({ cert: readFileSync(files.serverCert), key: readFileSync(files.serverKey) }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: 'tok-from-private-ca-endpoint-0001', token_type: 'Bearer', expires_in: 300 }));
    });
    await new Promise<void>((r) => endpoint.listen(0, '127.0.0.1', r));
    const upstream = await startRecordingUpstream();
    const tokenUrl = `https://localhost:${(endpoint.address() as AddressInfo).port}/token`;
    const route = (caFile?: string) => ({
      name: 'logs', prefix: '/logs', upstream: upstream.url, auth_required: true,
      upstream_auth: { oauth2: { token_url: tokenUrl, client_id: 'gh', client_secret: 'file:oauth_secret', ...(caFile ? { ca_file: caFile } : {}) } },
    });
    const trusted = await setup([route(files.caCert)]);
    const untrusted = await setup([route()]);
    try {
      for (const s of [trusted, untrusted]) writeFileSync(join(s.dir, 'oauth_secret'), 'private-ca-client-secret-01');
      const a = await start(trusted);
      const b = await start(untrusted);
      try {
        assert.equal((await get(`${a.url}/logs/x`, { authorization: `Bearer ${await mint(trusted.cfg)}` })).status, 200);
        assert.equal(upstream.requests.at(-1)?.headers['authorization'], 'Bearer tok-from-private-ca-endpoint-0001');
        const refused = await get(`${b.url}/logs/x`, { authorization: `Bearer ${await mint(untrusted.cfg)}` });
        assert.equal(refused.status, 502);
        assert.equal(upstream.requests.length, 1, 'nothing forwarded without a token');
      } finally {
        await a.close(2000);
        await b.close(2000);
      }
    } finally {
      endpoint.closeAllConnections();
      endpoint.close();
      await upstream.close();
      await trusted.close();
      await untrusted.close();
      rmSync(certs, { recursive: true, force: true });
    }
  });

  test('a mounted file rotated by rename (as Kubernetes does) is picked up', async () => {
    const upstream = await startRecordingUpstream();
    const s = await setup([{ name: 'f', prefix: '/f', upstream: upstream.url, auth_required: true, upstream_auth: { headers: { 'X-Service-Key': 'file:svc_key' } } }]);
    writeFileSync(join(s.dir, 'svc_key'), 'first-file-key-000000');
    const gw = await start(s);
    try {
      const auth = { authorization: `Bearer ${await mint(s.cfg)}` };
      await get(`${gw.url}/f/a`, auth);
      assert.equal(upstream.requests[0]?.headers['x-service-key'], 'first-file-key-000000');
      writeFileSync(join(s.dir, 'svc_key.new'), 'second-file-key-111111');
      renameSync(join(s.dir, 'svc_key.new'), join(s.dir, 'svc_key'));
      await until('the rotated file key upstream', async () => {
        await get(`${gw.url}/f/b`, auth);
        return upstream.requests.at(-1)?.headers['x-service-key'] === 'second-file-key-111111';
      });
    } finally {
      await gw.close(2000);
      await upstream.close();
      await s.close();
    }
  });

  test('an upstream echoing its credential in an error body: the client sees [REDACTED]', async () => {
    const upstream = await startRecordingUpstream((req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`upstream failed; request had authorization=${req.headers['authorization'] ?? ''}`);
    });
    const s = await setup([{ name: 'inv', prefix: '/inv', upstream: upstream.url, auth_required: true, upstream_auth: { bearer: 'secret:inventory_token' } }]);
    await s.setSecret('inventory_token', STORE_SECRET);
    const gw = await start(s);
    try {
      const res = await get(`${gw.url}/inv/x`, { authorization: `Bearer ${await mint(s.cfg)}` });
      assert.equal(res.status, 500);
      assert.ok(!res.body.includes(STORE_SECRET), res.body);
      assert.match(res.body, /REDACTED/);
    } finally {
      await gw.close(2000);
      await upstream.close();
      await s.close();
    }
  });

  test('a reference that does not resolve stops the start, naming the route and the reference, not a value', async () => {
    const s = await setup([{ name: 'inv', prefix: '/inv', upstream: 'http://127.0.0.1:9', auth_required: true, upstream_auth: { bearer: 'secret:missing_token', headers: { 'X-K': 'env:GH_TEST_UNSET_VARIABLE_42' } } }]);
    try {
      await assert.rejects(startGateway(s.cfg, { listen: '127.0.0.1:0', logger: memoryLogger() }), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'GH_SECRET_NOT_FOUND');
        assert.match(e.message, /routes inv upstream_auth/);
        return true;
      });
    } finally {
      await s.close();
    }
  });

  test('config: upstream_auth on a public route, an unknown reference scheme, a reserved header and bearer with basic are refused at load', () => {
    const base = { prefix: '/x', upstream: 'http://127.0.0.1:9' };
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ ...base, auth_required: false, upstream_auth: { bearer: 'secret:t' } }, /auth_required: false/],
      [{ ...base, upstream_auth: { bearer: 'vault:t' } }, /routes\[0\]\.upstream_auth\.bearer.*secret:NAME/],
      [{ ...base, upstream_auth: { headers: { Host: 'env:X' } } }, /set by the gateway/],
      [{ ...base, upstream_auth: { headers: { 'X-Gatehouse-Principal': 'env:X' } } }, /set by the gateway/],
      [{ ...base, upstream_auth: { bearer: 'secret:a', basic: { username: 'u', password: 'secret:b' } } }, /one of bearer, basic or oauth2/],
      [{ ...base, upstream_auth: { bearer: 'secret:../etc' } }, /a secret owner/],
      [{ ...base, upstream_auth: { bearer: 'secret:a b' } }, /a secret name/],
    ];
    for (const [route, message] of bad) {
      assert.throws(() => validateConfig({ routes: [route] }, { env: {} }), (e: Error) => message.test(e.message) || assert.fail(`${JSON.stringify(route)}: ${e.message}`));
    }
  });
});
