/**
 * DNS rebinding: a page on evil.example re-points its name at 127.0.0.1 and calls a gateway on loopback. The browser
 * sends `Host: evil.example:PORT` and `Origin: http://evil.example:PORT`, so the gateway would count the page as its
 * own origin and serve it public routes, MCP routes and writes. A loopback listener serves loopback names only
 * (server.allowed_hosts unset); anything else gets 421 GH_HOST_NOT_ALLOWED before identify, audited, never forwarded.
 * Real gateways and a real upstream on loopback.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { auditRecords, startRecordingUpstream, startTestGateway, type TestGateway } from '../helpers/gateway.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request to 127.0.0.1:port carrying whatever Host the test names (what a rebound browser sends). */
function send(port: number, path: string, host: string, opts: { method?: string; headers?: Record<string, string | string[]>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: { host, ...opts.headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const code = (a: Answer): string | undefined => (JSON.parse(a.body) as { error?: { code?: string } }).error?.code;
const RPC = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

describe('DNS rebinding against a gateway on loopback (server.allowed_hosts unset)', () => {
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let gw: TestGateway;

  before(async () => {
    upstream = await startRecordingUpstream((req, res) => {
      res.writeHead(200, { 'content-type': req.url?.startsWith('/mcp') ? 'application/json' : 'text/plain' });
      res.end(req.url?.startsWith('/mcp') ? JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: [] } }) : 'secret page');
    });
    gw = await startTestGateway({
      routes: [
        { name: 'pub', prefix: '/pub', upstream: upstream.url, strip_prefix: false },
        { name: 'mcp', prefix: '/mcp', upstream: upstream.url, kind: 'mcp', strip_prefix: false },
      ],
    });
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  test('a rebound name is refused with 421 on a public route, for reads and writes, and never reaches the upstream', async () => {
    const before = upstream.requests.length;
    const evil = `evil.example:${gw.port}`;
    const read = await send(gw.port, '/pub/data', evil);
    assert.equal(read.status, 421);
    assert.equal(code(read), 'GH_HOST_NOT_ALLOWED');
    assert.ok(!read.body.includes('secret page'));
    const write = await send(gw.port, '/pub/data', evil, { method: 'POST', body: 'x=1', headers: { origin: `http://${evil}`, 'content-type': 'text/plain' } });
    assert.equal(write.status, 421);
    assert.equal(code(write), 'GH_HOST_NOT_ALLOWED');
    assert.equal(upstream.requests.length, before);
  });

  test('a rebound name is refused with 421 on an MCP route, whatever Origin says', async () => {
    const before = upstream.requests.length;
    const evil = `evil.example:${gw.port}`;
    for (const origin of [`http://${evil}`, undefined]) {
      const res = await send(gw.port, '/mcp', evil, { method: 'POST', body: RPC, headers: { ...MCP_HEADERS, ...(origin ? { origin } : {}) } });
      assert.equal(res.status, 421, String(origin));
      assert.equal(code(res), 'GH_HOST_NOT_ALLOWED');
    }
    assert.equal(upstream.requests.length, before);
  });

  test('look-alikes of loopback names are refused too: localhost.evil.example, evil-localhost, 0.0.0.0, a malformed Host', async () => {
    const before = upstream.requests.length;
    for (const host of ['localhost.evil.example', 'evil-localhost', '0.0.0.0', '127.0.0.1.nip.io', 'a..b', '[::1']) {
      const res = await send(gw.port, '/pub/x', host);
      assert.ok(res.status === 421 || res.status === 400, `${host}: ${res.status}`);
    }
    assert.equal(upstream.requests.length, before);
  });

  test('127.0.0.1, localhost, [::1] and *.localhost pass, with or without the port, in any case', async () => {
    const before = upstream.requests.length;
    const hosts = [`127.0.0.1:${gw.port}`, `localhost:${gw.port}`, `[::1]:${gw.port}`, `LocalHost:${gw.port}`, 'localhost', `app.localhost:${gw.port}`, 'localhost.'];
    for (const host of hosts) {
      const res = await send(gw.port, '/pub/ok', host);
      assert.equal(res.status, 200, host);
      assert.equal(res.body, 'secret page');
    }
    const mcp = await send(gw.port, '/mcp', `localhost:${gw.port}`, { method: 'POST', body: RPC, headers: MCP_HEADERS });
    assert.equal(mcp.status, 200, mcp.body);
    assert.equal(upstream.requests.length, before + hosts.length + 1);
  });

  test('/healthz and /readyz answer any Host (orchestrators probe by pod IP); the admin API does not', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const res = await send(gw.port, path, '10.1.2.3:8443');
      assert.equal(res.status, 200, path);
    }
    const admin = await send(gw.port, '/_gatehouse/approvals', `evil.example:${gw.port}`);
    assert.equal(admin.status, 421);
  });

  test('each refusal carries a request id, is logged with the refused Host, and is audited', async () => {
    const res = await send(gw.port, '/pub/audited?token=QUERYSECRET', `rebind.evil.example:${gw.port}`);
    assert.equal(res.status, 421);
    const id = res.headers['x-request-id'] as string;
    assert.match(id, /.+/);
    const line = gw.log.lines.find((l) => l.includes(id));
    assert.match(line ?? '', /"code":"GH_HOST_NOT_ALLOWED"/);
    assert.match(line ?? '', /"host":"rebind\.evil\.example:\d+"/);
    await gw.close(2000);
    const record = auditRecords(gw.stateDir).find((r) => r['request_id'] === id);
    assert.equal(record?.['error_code'], 'GH_HOST_NOT_ALLOWED');
    assert.equal(record?.['status'], 421);
    assert.equal(record?.['path'], '/pub/audited');
    assert.ok(!JSON.stringify(record).includes('QUERYSECRET'));
  });
});

describe('server.allowed_hosts configured, and X-Forwarded-Host', () => {
  let upstream: Awaited<ReturnType<typeof startRecordingUpstream>>;
  let listed: TestGateway;
  let proxied: TestGateway;

  before(async () => {
    upstream = await startRecordingUpstream();
    const routes = [{ name: 'pub', prefix: '/pub', upstream: upstream.url }];
    listed = await startTestGateway({ server: { allowed_hosts: ['gw.example.com', '*.apps.example.com'] }, routes });
    // The test client is the trusted proxy here (127.0.0.1): its X-Forwarded-Host names the host the browser reached,
    // and its Host the gateway's address as the proxy connects to it — both are listed.
    proxied = await startTestGateway({ server: { allowed_hosts: ['gw.example.com', '127.0.0.1'], trusted_proxies: ['127.0.0.1'] }, routes });
  });
  after(async () => {
    await listed.stop();
    await proxied.stop();
    await upstream.close();
  });

  test('listed names and subdomains under a wildcard pass; the bare wildcard domain, other names and loopback names do not', async () => {
    const before = upstream.requests.length;
    const pass = ['gw.example.com:8443', 'GW.EXAMPLE.COM', 'a.apps.example.com', 'a.b.apps.example.com:1'];
    for (const host of pass) assert.equal((await send(listed.port, '/pub/x', host)).status, 200, host);
    for (const host of ['apps.example.com', 'evil.example', 'gw.example.com.evil.example', `127.0.0.1:${listed.port}`, 'localhost']) {
      const res = await send(listed.port, '/pub/x', host);
      assert.equal(res.status, 421, host);
      assert.equal(code(res), 'GH_HOST_NOT_ALLOWED');
    }
    assert.equal(upstream.requests.length, before + pass.length);
  });

  test('X-Forwarded-Host from an untrusted peer is ignored: the Host header decides', async () => {
    assert.equal((await send(listed.port, '/pub/x', 'gw.example.com', { headers: { 'x-forwarded-host': 'evil.example' } })).status, 200);
    assert.equal((await send(listed.port, '/pub/x', 'evil.example', { headers: { 'x-forwarded-host': 'gw.example.com' } })).status, 421);
  });

  test('from a trusted proxy both the Host header and the nearest X-Forwarded-Host must be served', async () => {
    assert.equal((await send(proxied.port, '/pub/x', '127.0.0.1', { headers: { 'x-forwarded-host': 'gw.example.com' } })).status, 200);
    const rebound = await send(proxied.port, '/pub/x', 'gw.example.com', { headers: { 'x-forwarded-host': 'evil.example' } });
    assert.equal(rebound.status, 421);
    assert.equal(code(rebound), 'GH_HOST_NOT_ALLOWED');
    // Without X-Forwarded-Host the proxy's Host is checked.
    assert.equal((await send(proxied.port, '/pub/x', 'gw.example.com')).status, 200);
    assert.equal((await send(proxied.port, '/pub/x', 'evil.example')).status, 421);
  });

  test('a rebound page setting X-Forwarded-Host itself gets nowhere (attacker review)', async () => {
    const before = upstream.requests.length;
    const refused: [string, string | string[]][] = [
      // Straight to the gateway through a trusted proxy on loopback: the browser's Host is the rebound name.
      ['evil.example', 'gw.example.com'],
      // A proxy that appends: the client's value first, the proxy's (the rebound name) last.
      ['127.0.0.1', 'gw.example.com, evil.example'],
      ['127.0.0.1', ['gw.example.com', 'evil.example']],
    ];
    for (const [host, xfh] of refused) assert.equal((await send(proxied.port, '/pub/x', host, { headers: { 'x-forwarded-host': xfh } })).status, 421, `${host} / ${String(xfh)}`);
    assert.equal(upstream.requests.length, before, 'nothing forwarded');
    // The nearest proxy's value is the one that counts.
    assert.equal((await send(proxied.port, '/pub/x', '127.0.0.1', { headers: { 'x-forwarded-host': 'evil.example, gw.example.com' } })).status, 200);
  });

  test('loopback defaults with a trusted proxy on loopback: a rebound Host is refused whatever X-Forwarded-Host says', async () => {
    const gw = await startTestGateway({ server: { trusted_proxies: ['127.0.0.1'] }, routes: [{ name: 'pub', prefix: '/pub', upstream: upstream.url }] });
    try {
      assert.equal((await send(gw.port, '/pub/x', `evil.example:${gw.port}`, { headers: { 'x-forwarded-host': 'localhost' } })).status, 421);
      assert.equal((await send(gw.port, '/pub/x', `localhost:${gw.port}`, { headers: { 'x-forwarded-host': 'localhost' } })).status, 200);
    } finally {
      await gw.stop();
    }
  });
});

describe('the metrics listener on loopback', () => {
  test('a rebound name cannot read the traffic figures', async () => {
    const gw = await startTestGateway({ metrics: { enabled: true, listen: '127.0.0.1:0' } });
    try {
      const port = Number(new URL(gw.metricsUrl as string).port);
      const evil = await send(port, '/metrics', `evil.example:${port}`);
      assert.equal(evil.status, 421);
      assert.ok(!evil.body.includes('gatehouse_'));
      const own = await send(port, '/metrics', `127.0.0.1:${port}`);
      assert.equal(own.status, 200);
      assert.match(own.body, /gatehouse_/);
    } finally {
      await gw.stop();
    }
  });
});
