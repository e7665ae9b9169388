/**
 * On an MCP endpoint the gateway reads and classifies only a POST body; GET (the SSE stream) and DELETE (session end)
 * pass as transport. A tools/call put in the body of a DELETE was forwarded unchecked, and an MCP upstream on the
 * SDK's SSE transport that hands every non-GET request to handlePostMessage (as the charset-smuggling test's does) ran
 * it: a readonly principal installed a package, with no scope check and no approval.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { openTokenService } from '../../src/authn/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startSseMcpUpstream, type SseMcpUpstream } from '../helpers/sse-mcp-upstream.js';
import { until } from '../helpers/until.js';

const toolCall = (id: number, name: string): Buffer => Buffer.from(JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } }));

describe('MCP endpoint: a JSON-RPC body on GET or DELETE', () => {
  let up: SseMcpUpstream;
  let gw: TestGateway;
  let auth: Record<string, string>;
  let endpoint: string;
  let stream: IncomingMessage | undefined;

  const call = (method: string, body: Buffer): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request(`${gw.url}${endpoint}`, { method, headers: { ...auth, 'content-type': 'application/json', 'content-length': String(body.length) } }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (data += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      });
      req.on('error', reject);
      req.end(body);
    });

  before(async () => {
    up = await startSseMcpUpstream();
    gw = await startTestGateway({ auth: { methods: ['token'] }, routes: [{ name: 'mcp', prefix: '/mcp', upstream: up.url, kind: 'mcp', auth_required: true }] });
    const { token } = await openTokenService(gw.config, { stateDir: gw.stateDir }).mint({ agent: 'reader', scopes: ['readonly'], ttlMs: 3_600_000 });
    auth = { authorization: `Bearer ${token}` };
    // The SSE session, opened through the gateway as a client would (a bodiless GET still passes as transport).
    endpoint = await new Promise<string>((resolve, reject) => {
      request(`${gw.url}/mcp/sse`, { headers: { accept: 'text/event-stream', ...auth } }, (s) => {
        stream = s;
        let buf = '';
        s.setEncoding('utf8');
        s.on('data', (chunk: string) => {
          buf += chunk;
          const m = /event: endpoint\ndata: (\S+)\n/.exec(buf);
          if (m) resolve(m[1] as string);
        });
      })
        .on('error', reject)
        .end();
    });
  });
  after(async () => {
    stream?.destroy();
    await gw.stop();
    up.server.closeAllConnections();
    up.server.close();
  });

  test('the policy is in force: a readonly principal’s POST of install_package is refused', async () => {
    const res = await call('POST', toolCall(1, 'install_package'));
    assert.match(res.body, /GH_SCOPE_MISSING/);
  });

  test('the same tools/call in a DELETE body is refused at the door and never reaches the upstream', async () => {
    const res = await call('DELETE', toolCall(2, 'install_package'));
    assert.equal(res.status, 400, res.body.slice(0, 200));
    assert.match(res.body, /GH_BAD_REQUEST/);
    // A permitted call afterwards, on the same session: once it ran, anything sent before it would have run too.
    await call('POST', toolCall(3, 'get_system_status'));
    await until(() => `the permitted tool to run (ran ${JSON.stringify(up.ran)})`, () => up.ran.includes('get_system_status'));
    assert.deepEqual(up.ran, ['get_system_status'], 'a tool ran that the policy never saw');
    assert.ok(!up.seen.includes('DELETE /messages'), `the upstream saw: ${JSON.stringify(up.seen)}`);
  });

  test('a GET with a body is refused the same way', async () => {
    const res = await call('GET', toolCall(4, 'install_package'));
    assert.equal(res.status, 400, res.body.slice(0, 200));
    assert.ok(!up.seen.includes('GET /messages'), `the upstream saw: ${JSON.stringify(up.seen)}`);
  });
});
