/**
 * Cross-site request forgery through credentials the browser sends by itself, on routes without cors. A page on
 * another site posts a "simple" request (a form with enctype text/plain, fetch with mode no-cors): no preflight, and
 * the browser attaches the cached Basic password, the client certificate (mTLS) or the session of the proxy that
 * asserts the user's identity. The page never reads the answer; the write is done anyway. Such writes are refused
 * after identify (403 GH_FORBIDDEN, reason cross_origin_ambient), before any body, approval or forward. Bearer tokens
 * are set by the page's own script (a preflight the route does not answer), so they are not ambient; reads, clients
 * without Origin and the gateway's own pages are unaffected; listing the page's origin in routes[].cors allows it.
 * Real gateways, a real upstream on loopback, and a real client certificate.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { openTokenService } from '../../src/authn/index.js';
import { generateDevCertificates, type GeneratedFiles } from '../../src/tls/index.js';
import { auditRecords, startRecordingUpstream, startTestGateway, type TestGateway } from '../helpers/gateway.js';

const APP = 'https://app.example.com';
const EVIL = 'https://evil.example';
const PASSWORD = 'correct horse battery staple';
const ALICE = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`;

type Answer = Awaited<ReturnType<typeof request>>;

async function refusedAmbient(res: Answer, label: string): Promise<string> {
  const body = (await res.body.json()) as { error?: { code: string; reason?: string; request_id: string } };
  assert.equal(res.statusCode, 403, `${label}: ${JSON.stringify(body)}`);
  assert.equal(body.error?.code, 'GH_FORBIDDEN', label);
  assert.equal(body.error?.reason, 'cross_origin_ambient', label);
  return body.error.request_id;
}

async function served(res: Answer, label: string): Promise<void> {
  const text = await res.body.text();
  assert.equal(res.statusCode, 200, `${label}: ${text}`);
}

describe('routes without cors: cross-site writes with Basic or a proxy-asserted identity', () => {
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let gw: TestGateway;
  let token: string;

  before(async () => {
    upstream = await startRecordingUpstream();
    gw = await startTestGateway({
      // The test client is the trusted proxy: it can assert a user's identity (auth.header.trusted_identity).
      server: { trusted_proxies: ['127.0.0.1'] },
      routes: [
        { name: 'app', prefix: '/app', upstream: upstream.url, auth_required: true },
        { name: 'listed', prefix: '/listed', upstream: upstream.url, auth_required: true, cors: { allowed_origins: [APP], allow_credentials: true } },
      ],
      auth: {
        methods: ['token', 'basic', 'header'],
        basic: { users: [{ name: 'alice', password: PASSWORD, scopes: ['admin'] }] },
        header: { trusted_identity: { enabled: true, authenticate: true, scopes: ['admin'] } },
      },
      authz: {
        routes: [
          { name: 'purge', path: '/app/purge', methods: ['POST'], scopes: ['system:admin'], risk_level: 'high', requires_approval: true },
          { path: '/*', scopes: ['system:read'] },
        ],
      },
      approval: { mode: 'queue', queue: { hold_timeout: 0 } },
    });
    token = (await openTokenService(gw.config, { stateDir: gw.stateDir }).mint({ agent: 'web-agent', scopes: ['admin'], ttlMs: 600_000 })).token;
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  /** What a browser sends for a form on another page: the cached credential, Origin, Fetch Metadata. */
  const forged = (path: string, headers: Record<string, string>, method = 'POST') =>
    request(`${gw.url}${path}`, { method, body: 'amount=all', headers: { 'content-type': 'text/plain', ...headers } });

  test('a Basic-authenticated cross-site POST, PUT, PATCH or DELETE is refused and never forwarded', async () => {
    const before = upstream.requests.length;
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      await refusedAmbient(await forged('/app/transfer', { authorization: ALICE, origin: EVIL, 'sec-fetch-site': 'cross-site' }, method), method);
    }
    assert.equal(upstream.requests.length, before);
  });

  test('an opaque origin, or Fetch Metadata alone (no Origin) saying cross-site or same-site, is cross-site too', async () => {
    const before = upstream.requests.length;
    await refusedAmbient(await forged('/app/transfer', { authorization: ALICE, origin: 'null' }), 'Origin: null');
    await refusedAmbient(await forged('/app/transfer', { authorization: ALICE, 'sec-fetch-site': 'cross-site' }), 'cross-site');
    await refusedAmbient(await forged('/app/transfer', { authorization: ALICE, 'sec-fetch-site': 'same-site' }), 'same-site');
    await refusedAmbient(await forged('/app/transfer', { authorization: ALICE, origin: `${gw.url}.evil.example` }), 'look-alike origin');
    assert.equal(upstream.requests.length, before);
  });

  test('the refusal comes before the approval gate: no approval is asked for a forged critical write', async () => {
    const id = await refusedAmbient(await forged('/app/purge', { authorization: ALICE, origin: EVIL }), 'purge');
    assert.match(id, /.+/);
    const pending = await request(`${gw.url}/_gatehouse/approvals?status=pending`, { headers: { authorization: ALICE } });
    const list = (await pending.body.json()) as { approvals?: unknown[] };
    assert.equal(pending.statusCode, 200);
    assert.deepEqual(list.approvals, []);
  });

  test('an identity asserted by the trusted proxy (the user\'s session there) is ambient too', async () => {
    const before = upstream.requests.length;
    await refusedAmbient(await forged('/app/transfer', { 'tailscale-user-login': 'alice@example.com', origin: EVIL }), 'proxy identity');
    await served(await forged('/app/transfer', { 'tailscale-user-login': 'alice@example.com' }), 'proxy identity, no Origin');
    assert.equal(upstream.requests.length, before + 1);
  });

  test('a bearer token is not ambient: its cross-site POST is served', async () => {
    const before = upstream.requests.length;
    await served(await forged('/app/transfer', { authorization: `Bearer ${token}`, origin: EVIL, 'sec-fetch-site': 'cross-site' }), 'bearer');
    assert.equal(upstream.requests.length, before + 1);
  });

  test('reads, clients without Origin (curl, services) and the gateway\'s own pages are served with Basic', async () => {
    const before = upstream.requests.length;
    for (const method of ['GET', 'HEAD']) {
      const res = await request(`${gw.url}/app/balance`, { method, headers: { authorization: ALICE, origin: EVIL, 'sec-fetch-site': 'cross-site' } });
      await served(res, method);
    }
    await served(await forged('/app/transfer', { authorization: ALICE }), 'no Origin');
    await served(await forged('/app/transfer', { authorization: ALICE, 'sec-fetch-site': 'same-origin' }), 'same-origin');
    await served(await forged('/app/transfer', { authorization: ALICE, 'sec-fetch-site': 'none' }), 'typed by the user');
    await served(await forged('/app/transfer', { authorization: ALICE, origin: gw.url, 'sec-fetch-site': 'same-origin' }), 'own origin');
    assert.equal(upstream.requests.length, before + 6);
  });

  test('the opt-out is routes[].cors: a listed origin may write with Basic; others are refused by the cors policy', async () => {
    const before = upstream.requests.length;
    const listed = await forged('/listed/transfer', { authorization: ALICE, origin: APP, 'sec-fetch-site': 'cross-site' });
    assert.equal(listed.headers['access-control-allow-origin'], APP);
    await served(listed, 'listed origin');
    const other = await forged('/listed/transfer', { authorization: ALICE, origin: EVIL });
    assert.equal(other.statusCode, 403);
    assert.equal(((await other.body.json()) as { error: { reason: string } }).error.reason, 'cross_origin');
    assert.equal(upstream.requests.length, before + 1);
  });

  test('refusals are audited, and the password is in no record', async () => {
    const id = await refusedAmbient(await forged('/app/audited', { authorization: ALICE, origin: EVIL }), 'audited');
    await gw.close(2000);
    const records = auditRecords(gw.stateDir);
    const refused = records.find((r) => r['request_id'] === id);
    assert.equal(refused?.['error_code'], 'GH_FORBIDDEN');
    assert.equal(refused?.['status'], 403);
    assert.ok(!JSON.stringify(records).includes(PASSWORD));
  });
});

describe('routes without cors: cross-site writes with a client certificate (mTLS)', () => {
  let dir: string;
  let files: GeneratedFiles;
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let gw: TestGateway;
  let withCert: Agent;
  let withoutCert: Agent;
  let token: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gh-csrf-mtls-'));
    // What `gatehouse certs dev --client browser-user` writes: a CA, a server certificate and a client certificate.
    files = await generateDevCertificates({ outDir: dir, clientNames: ['browser-user'] });
    upstream = await startRecordingUpstream();
    gw = await startTestGateway({
      server: { tls: { enabled: true, cert_file: files.serverCert, key_file: files.serverKey, ca_file: files.caCert, client_auth: 'request' } },
      routes: [{ name: 'app', prefix: '/app', upstream: upstream.url, auth_required: true }],
      auth: { methods: ['mtls', 'token'], mtls: { map: [{ cn: 'browser-user', principal: 'browser-user', scopes: ['admin'] }] } },
      authz: { routes: [{ path: '/*', scopes: ['system:read'] }] },
    });
    const ca = readFileSync(files.caCert);
    const client = files.clients[0] as { cert: string; key: string };
    withCert = new Agent({ connect: { ca, cert: readFileSync(client.cert), key: readFileSync(client.key), servername: 'localhost' } });
    withoutCert = new Agent({ connect: { ca, servername: 'localhost' } });
    token = (await openTokenService(gw.config, { stateDir: gw.stateDir }).mint({ agent: 'web-agent', scopes: ['admin'], ttlMs: 600_000 })).token;
  });
  after(async () => {
    await withCert.close();
    await withoutCert.close();
    await gw.stop();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (agent: Agent, headers: Record<string, string>) =>
    request(`${gw.url}/app/transfer`, { method: 'POST', body: 'amount=all', dispatcher: agent, headers: { 'content-type': 'text/plain', ...headers } });

  test('the certificate identifies the caller (the setup works)', async () => {
    const res = await request(`${gw.url}/app/whoami`, { dispatcher: withCert });
    await served(res, 'GET with the certificate');
  });

  test('a cross-site POST authenticated by the client certificate is refused and never forwarded', async () => {
    const before = upstream.requests.length;
    await refusedAmbient(await post(withCert, { origin: EVIL, 'sec-fetch-site': 'cross-site' }), 'mTLS cross-site');
    await refusedAmbient(await post(withCert, { 'sec-fetch-site': 'same-site' }), 'mTLS same-site, no Origin');
    assert.equal(upstream.requests.length, before);
  });

  test('the same certificate from the gateway\'s own origin or without Origin writes; a bearer token cross-site writes', async () => {
    const before = upstream.requests.length;
    assert.match(gw.url, /^https:\/\//);
    await served(await post(withCert, { origin: gw.url }), 'own origin');
    await served(await post(withCert, {}), 'no Origin');
    await served(await post(withoutCert, { authorization: `Bearer ${token}`, origin: EVIL, 'sec-fetch-site': 'cross-site' }), 'bearer');
    assert.equal(upstream.requests.length, before + 3);
  });
});
