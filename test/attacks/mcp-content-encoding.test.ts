/**
 * A body the policy read as identity bytes must reach the upstream as identity bytes. An MCP POST is parsed as UTF-8
 * JSON and forwarded re-serialised, but the client's Content-Encoding header went upstream too, where Express's
 * body-parser (the MCP SDK's usual host) decodes by it; an HTTP body bound by an approval (its SHA-256) would likewise
 * run as what it decodes to. Both are refused unless the encoding is absent or identity.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicyEngine } from '../../src/authz/index.js';
import { call } from '../authz/http-helpers.js';
import { makeConfig, makeDeps, makeExchange, principal, runPolicy } from '../authz/helpers.js';
import { startRecordingUpstream, startTestGateway } from '../helpers/gateway.js';

const ping = { jsonrpc: '2.0', id: 4, method: 'ping' };
const reader = principal('reader', ['readonly']);

describe('Content-Encoding on bodies the policy reads', () => {
  test('an MCP POST declaring any encoding but identity is GH_JSONRPC_INVALID (-32700, its id unknown), every header line counted', async () => {
    const e = await createPolicyEngine(makeConfig(), makeDeps());
    const refused: Array<Record<string, string> | string[]> = [
      { 'content-encoding': 'br' },
      { 'content-encoding': 'gzip' },
      { 'content-encoding': 'identity, gzip' },
      { 'content-encoding': ' Deflate ' },
      ['Content-Type', 'application/json', 'Content-Encoding', 'identity', 'content-encoding', 'gzip'],
    ];
    for (const h of refused) {
      const ex = makeExchange({ body: ping, principal: reader, headers: Array.isArray(h) ? { 'content-encoding': 'identity' } : h });
      if (Array.isArray(h)) Object.assign(ex.req, { rawHeaders: h });
      const err = await runPolicy(e, ex);
      assert.equal(err?.code, 'GH_JSONRPC_INVALID', JSON.stringify(h));
      const rpc = JSON.parse(e.jsonRpcError(err, ex).toString());
      assert.equal(rpc.error.code, -32700);
      assert.equal(rpc.id, null);
      assert.equal(ex.responseFilter, undefined);
    }
    const accepted: Record<string, string>[] = [{}, { 'content-encoding': 'identity' }, { 'content-encoding': 'IDENTITY' }, { 'content-encoding': '' }];
    for (const h of accepted) {
      assert.equal(await runPolicy(e, makeExchange({ body: ping, principal: reader, headers: h })), undefined, JSON.stringify(h));
    }
  });

  test('an HTTP body an approval would bind is refused when encoded, before any approval request is made', async () => {
    const cfg = makeConfig({
      authz: { routes: [{ name: 'deploy', path: '/deploy', methods: ['POST'], scopes: ['admin'], requires_approval: true }] as never },
      approval: { mode: 'deny' } as never,
    });
    const e = await createPolicyEngine(cfg, makeDeps());
    const admin = principal('ops', ['admin']);
    const ex = makeExchange({ kind: 'http', method: 'POST', path: '/deploy', principal: admin, body: 'x', headers: { 'content-encoding': 'gzip', 'content-length': '1' } });
    const err = await runPolicy(e, ex);
    assert.equal(err?.code, 'GH_BAD_REQUEST');
    assert.equal(err?.data?.['reason'], 'body_encoded');
    assert.equal((await e.approvals.list({})).length, 0, 'no approval request was made');
    // Identity: the approval flow as before (here: mode deny).
    const plain = makeExchange({ kind: 'http', method: 'POST', path: '/deploy', principal: admin, body: 'x', headers: { 'content-length': '1' } });
    assert.match((await runPolicy(e, plain))?.code ?? '', /^GH_APPROVAL_/);
    // A route without approval is not concerned (its body streams to the upstream, unread by the policy).
    const open = await call(await createPolicyEngine(makeConfig({ authz: { routes: [{ name: 'up', path: '/up', methods: ['POST'], any_authenticated: true }] as never } }), makeDeps()), 'POST', '/up', admin);
    assert.equal(open.err, undefined);
    await e.close();
  });

  test('through the gateway: the reviewer\'s PoC (Content-Encoding: br on a ping) never reaches the upstream', async () => {
    const up = await startRecordingUpstream((_q, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"jsonrpc":"2.0","id":1,"result":{}}');
    });
    const gw = await startTestGateway({
      auth: { methods: ['static'], static: { tokens: [{ token: 'reader-static-token-0123456789abc', principal: 'reader', scopes: ['readonly'] }] } },
      routes: [{ name: 'mcp', prefix: '/mcp', upstream: up.url, kind: 'mcp', auth_required: true }],
    });
    try {
      const headers = { authorization: 'Bearer reader-static-token-0123456789abc', 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
      const r = await fetch(`${gw.url}/mcp`, { method: 'POST', headers: { ...headers, 'content-encoding': 'br' }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
      const body = JSON.parse(await r.text());
      assert.equal(body.error.code, -32700);
      assert.equal(body.error.data.gatehouse_code, 'GH_JSONRPC_INVALID');
      assert.equal(up.requests.length, 0);
      const ok = await fetch(`${gw.url}/mcp`, { method: 'POST', headers, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
      assert.deepEqual(JSON.parse(await ok.text()).result, {});
      assert.equal(up.requests.length, 1);
    } finally {
      await gw.stop();
      await up.close();
    }
  });
});
