/**
 * Charset smuggling: the gateway reads an MCP body as UTF-8, but the MCP SDK's SSE transport (raw-body, as Express's
 * body-parser does) decodes it in the charset the Content-Type declares. Under UTF-7, `+ACI-` is a `"`: a string the
 * gateway sees as harmless closes early and adds a second "name", so the upstream runs another tool than the one
 * authorized. The canonical re-serialisation keeps those ASCII bytes, so only refusing the charset closes it.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingMessage, type Server } from 'node:http';
import { createPolicyEngine, parseJsonRpc } from '../../src/authz/index.js';
import { GatehouseError } from '../../src/core/errors.js';
import { makeConfig, makeDeps, makeExchange, principal } from '../authz/helpers.js';
import { startSseMcpUpstream } from '../helpers/sse-mcp-upstream.js';

const readonly = principal('grafana-datasource', ['readonly']);
const UTF7_CT = 'application/json; charset=utf-7';

/** `"x":"+…-"` whose UTF-7 reading is `"x":"","name":"install_package"`. */
function smuggledBody(): string {
  const injected = Buffer.from('","name":"install_package', 'utf16le').swap16().toString('base64').replace(/=+$/, '');
  return JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'get_system_status', arguments: {}, x: `+${injected}-` } });
}


function openSession(base: string): Promise<{ endpoint: string; stream: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    request(`${base}/sse`, { headers: { accept: 'text/event-stream' } }, (stream) => {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        buf += chunk;
        const m = /event: endpoint\ndata: (\S+)\n/.exec(buf);
        if (m) resolve({ endpoint: m[1] as string, stream });
      });
    })
      .on('error', reject)
      .end();
  });
}

function post(url: string, body: Buffer, contentType: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': contentType, 'content-length': String(body.length) } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('MCP charset smuggling', () => {
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) s.closeAllConnections();
    for (const s of servers) s.close();
  });

  test('the forwarded body, read as UTF-7 by a real SDK upstream, runs a different tool than the one classified', async () => {
    const up = await startSseMcpUpstream();
    servers.push(up.server);
    const { endpoint, stream } = await openSession(up.url);
    const parsed = parseJsonRpc(Buffer.from(smuggledBody()), 32);
    assert.equal(parsed.messages[0]?.params?.['name'], 'get_system_status'); // what the gateway sees
    assert.equal(await post(`${up.url}${endpoint}`, parsed.canonical, UTF7_CT), 202);
    for (const end = Date.now() + 10_000; up.ran.length === 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
    stream.destroy();
    assert.deepEqual(up.ran, ['install_package']); // what the upstream did
  });

  test('so a body declared in a charset other than UTF-8 is refused as a parse error, never forwarded', async () => {
    const e = await createPolicyEngine(makeConfig(), makeDeps());
    for (const ct of [UTF7_CT, 'application/json;charset="UTF-7"', 'application/json; charset=utf-16le', 'application/json; charset=utf-8; charset=utf-7']) {
      const ex = makeExchange({ body: smuggledBody(), principal: readonly, headers: { 'content-type': ct } });
      let err: unknown;
      try {
        await e.classify(ex);
        await e.authorize(ex);
      } catch (x) {
        err = x;
      }
      assert.ok(err instanceof GatehouseError, ct);
      assert.equal(err.code, 'GH_JSONRPC_INVALID', ct);
      assert.equal(JSON.parse(e.jsonRpcError(err, ex).toString()).error.code, -32700, ct);
    }
  });

  test('a second Content-Type header (Node keeps the first, the proxy forwards both) is checked too', async () => {
    const e = await createPolicyEngine(makeConfig(), makeDeps());
    const ex = makeExchange({ body: smuggledBody(), principal: readonly, headers: { 'content-type': 'application/json' } });
    Object.assign(ex.req, { rawHeaders: ['Content-Type', 'application/json', 'content-type', UTF7_CT] });
    await assert.rejects(async () => e.classify(ex), (x: unknown) => x instanceof GatehouseError && x.code === 'GH_JSONRPC_INVALID');
  });

  test('UTF-8, declared or not, still passes', async () => {
    const e = await createPolicyEngine(makeConfig(), makeDeps());
    for (const ct of [undefined, 'application/json', 'application/json; charset=utf-8', 'application/json;charset="UTF-8"']) {
      const ex = makeExchange({ body: smuggledBody(), principal: readonly, ...(ct ? { headers: { 'content-type': ct } } : {}) });
      await e.classify(ex);
      await e.authorize(ex);
      assert.equal(ex.decision?.allow, true, ct);
    }
  });
});
