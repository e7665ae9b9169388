import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicyEngine } from '../../src/authz/index.js';
import { GatehouseError } from '../../src/core/errors.js';
import { fakeResolver, makeConfig, makeDeps, makeExchange, principal, runPolicy as run, toolCall } from './helpers.js';

const readonly = principal('grafana-datasource', ['readonly']);
const admin = principal('ops-automation', ['admin']);

async function engine(input: Parameters<typeof makeConfig>[0] = {}) {
  return createPolicyEngine(makeConfig(input), makeDeps(), { resolve: fakeResolver({ 'example.com': ['93.184.215.14'] }) });
}

const listResponse = (id: number | string, names: string[]) => ({
  jsonrpc: '2.0',
  id,
  result: { tools: names.map((name) => ({ name, inputSchema: { type: 'object' } })), nextCursor: 'c2' },
});
const ALL = ['get_system_status', 'list_containers', 'ping_host', 'manage_container', 'install_package', 'pull_docker_image', 'http_request_test', 'not_in_registry'];

describe('MCP classification', () => {
  test('tools/call → tool and arguments; the body forwarded is the canonical one', async () => {
    const e = await engine();
    const ex = makeExchange({ body: ' {"params":{"arguments":{"all":true},"name":"list_containers"},"id":3,"method":"tools/call","jsonrpc":"2.0"}', principal: readonly });
    await e.classify(ex);
    assert.deepEqual(ex.operation, { kind: 'mcp', method: 'POST', path: '/mcp', mcp_method: 'tools/call', tool: 'list_containers', args: { all: true } });
    assert.equal(ex.body?.toString(), '{"params":{"arguments":{"all":true},"name":"list_containers"},"id":3,"method":"tools/call","jsonrpc":"2.0"}');
  });

  test('malformed JSON-RPC is GH_JSONRPC_INVALID, answered as a JSON-RPC parse error', async () => {
    const e = await engine();
    const ex = makeExchange({ body: '{"jsonrpc":"2.0",', principal: readonly });
    const err = await run(e, ex);
    assert.equal(err?.code, 'GH_JSONRPC_INVALID');
    const body = JSON.parse(e.jsonRpcError(err as GatehouseError, ex).toString());
    assert.equal(body.error.code, -32700);
    assert.equal(body.id, null);
  });

  test('tools/call without a name is invalid params (-32602)', async () => {
    const e = await engine();
    const ex = makeExchange({ body: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { arguments: {} } }, principal: admin });
    const err = await run(e, ex);
    assert.equal(err?.code, 'GH_JSONRPC_INVALID');
    assert.equal(JSON.parse(e.jsonRpcError(err as GatehouseError, ex).toString()).error.code, -32602);
  });

  test('initialize, ping and notifications pass; GET and DELETE on the MCP route pass', async () => {
    const e = await engine();
    for (const body of [
      { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } },
      { jsonrpc: '2.0', id: 2, method: 'ping' },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 'srv-1', result: {} },
    ]) {
      const ex = makeExchange({ body, principal: readonly });
      assert.equal(await run(e, ex), undefined, JSON.stringify(body));
      assert.equal(ex.decision?.allow, true);
    }
    for (const method of ['GET', 'DELETE']) assert.equal(await run(e, makeExchange({ method, principal: readonly })), undefined);
  });

  test('an unknown JSON-RPC method is refused by default', async () => {
    const e = await engine();
    const err = await run(e, makeExchange({ body: { jsonrpc: '2.0', id: 1, method: 'sampling/createMessage' }, principal: admin }));
    assert.equal(err?.code, 'GH_FORBIDDEN');
    assert.match(err?.message ?? '', /MCP method sampling\/createMessage is not allowed/);
  });

  test('extra_methods lets a configured method through, but never tools/call', async () => {
    const e = await engine({ authz: { mcp: { extra_methods: ['completion/complete'] } } });
    assert.equal(await run(e, makeExchange({ body: { jsonrpc: '2.0', id: 1, method: 'completion/complete', params: {} }, principal: readonly })), undefined);
    await assert.rejects(engine({ authz: { mcp: { extra_methods: ['tools/call'] } } }), /cannot be waved through/);
  });
});

describe('MCP authorization (seed 001)', () => {
  test('readonly is refused install_package with the missing scope named, as a JSON-RPC error', async () => {
    const e = await engine();
    const ex = makeExchange({ body: toolCall('install_package', { package_name: 'nginx' }, 9), principal: readonly });
    const err = await run(e, ex);
    assert.equal(err?.code, 'GH_SCOPE_MISSING');
    assert.equal(err?.message, 'Insufficient scope: install_package requires system:admin');
    assert.equal(ex.decision?.allow, false);
    assert.equal(ex.decision?.missing_scope, 'system:admin');
    assert.equal(ex.decision?.reason, 'scope_missing');
    assert.equal(ex.operation?.risk_level, 'critical');
    const body = JSON.parse(e.jsonRpcError(err as GatehouseError, ex).toString());
    assert.deepEqual(body, {
      jsonrpc: '2.0',
      id: 9,
      error: { code: -32010, message: 'Insufficient scope: install_package requires system:admin', data: { gatehouse_code: 'GH_SCOPE_MISSING', missing_scope: 'system:admin' } },
    });
  });

  test('readonly may call get_system_status: decision names rule, scopes used and policy version', async () => {
    const e = await engine();
    const ex = makeExchange({ body: toolCall('get_system_status'), principal: readonly });
    assert.equal(await run(e, ex), undefined);
    assert.deepEqual(ex.decision, {
      allow: true,
      reason: 'scope_satisfied',
      rule: 'tool:get_system_status',
      scopes_used: ['readonly'],
      policy_version: e.policyVersion,
      risk_level: 'low',
      requires_approval: false,
    });
    assert.match(e.policyVersion, /^sha256:[0-9a-f]{12}$/);
    assert.equal(ex.approval, undefined);
  });

  test('an admin install_package is authorized, then denied at the gate: no approver configured', async () => {
    const e = await engine();
    const ex = makeExchange({ body: toolCall('install_package', { package_name: 'nginx' }), principal: admin });
    const err = await run(e, ex);
    assert.equal(ex.decision?.allow, true);
    assert.equal(ex.decision?.requires_approval, true);
    assert.equal(err?.code, 'GH_APPROVAL_UNAVAILABLE');
    assert.match(err?.message ?? '', /^no approver configured: critical operations are denied/);
  });

  test('an unknown tool is denied by default', async () => {
    const e = await engine();
    const err = await run(e, makeExchange({ body: toolCall('rm_rf_slash'), principal: admin }));
    assert.equal(err?.code, 'GH_TOOL_UNKNOWN');
    assert.match(err?.message ?? '', /rm_rf_slash/);
  });

  test('authorize is synchronous for a tool without URL arguments and a promise for one that resolves a host', async () => {
    const e = await engine();
    const plain = makeExchange({ body: toolCall('get_system_status'), principal: readonly });
    e.classify(plain);
    assert.equal(e.authorize(plain), undefined);
    assert.equal(plain.decision?.allow, true);
    const url = makeExchange({ body: toolCall('http_request_test', { url: 'https://example.com/health' }), principal: admin });
    e.classify(url);
    const pending = e.authorize(url);
    assert.ok(pending instanceof Promise);
    const decided = () => url.decision;
    assert.equal(decided(), undefined, 'decided only once the host resolved');
    await pending;
    assert.equal(decided()?.allow, true);
  });

  test('a refused argument is GH_ARGUMENT_REFUSED (SSRF through http_request_test)', async () => {
    const e = await engine({ approval: { modes: { moderate: 'queue' }, queue: { hold_timeout: 0 } } });
    const err = await run(e, makeExchange({ body: toolCall('http_request_test', { url: 'http://169.254.169.254/latest/meta-data/' }), principal: admin }));
    assert.equal(err?.code, 'GH_ARGUMENT_REFUSED');
  });

  test('a batch is denied when any call in it is denied', async () => {
    const e = await engine();
    const ex = makeExchange({ body: [toolCall('get_system_status', {}, 1), toolCall('install_package', { package_name: 'x' }, 2)], principal: readonly });
    const err = await run(e, ex);
    assert.equal(err?.code, 'GH_SCOPE_MISSING');
    assert.deepEqual(
      (JSON.parse(e.jsonRpcError(err as GatehouseError, ex).toString()) as Array<{ id: number }>).map((m) => m.id),
      [1, 2],
    );
    assert.deepEqual(ex.meta['mcp_batch'], ['tools/call:get_system_status', 'tools/call:install_package']);
  });

  test('an allowed batch reports the union of scopes used and the highest risk', async () => {
    const e = await engine();
    const p = principal('c', ['container:write', 'system:read']);
    const ex = makeExchange({ body: [toolCall('get_system_status', {}, 1), toolCall('manage_container', { name: 'w', action: 'stop' }, 2)], principal: p });
    assert.equal(await run(e, ex), undefined);
    assert.deepEqual(ex.decision?.scopes_used.sort(), ['container:write', 'system:read']);
    assert.equal(ex.decision?.risk_level, 'high');
  });

  test('a batch with a call needing approval is refused: approval calls go one per request', async () => {
    const e = await engine({ approval: { mode: 'queue', queue: { hold_timeout: 0 } } });
    const err = await run(e, makeExchange({ body: [toolCall('get_system_status', {}, 1), toolCall('install_package', { package_name: 'x' }, 2)], principal: admin }));
    assert.equal(err?.code, 'GH_APPROVAL_DENIED');
    assert.match(err?.message ?? '', /cannot be batched/);
  });

  test('no principal, or an anonymous one, is refused', async () => {
    const e = await engine();
    assert.equal((await run(e, makeExchange({ body: toolCall('get_system_status') })))?.code, 'GH_AUTH_REQUIRED');
    const anon = principal('anonymous', [], { type: 'anonymous', method: 'none' });
    assert.equal((await run(e, makeExchange({ body: toolCall('get_system_status'), principal: anon })))?.code, 'GH_AUTH_REQUIRED');
  });

  test('resources/read and prompts/get follow their configured scopes; unknown ones are refused', async () => {
    const e = await engine({ authz: { mcp: { resources: [{ uri_prefix: 'file:///logs/', scopes: ['file:read'] }], prompts: { triage: { scopes: ['system:read'] } } } } });
    const read = (uri: string, p = readonly) => run(e, makeExchange({ body: { jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri } }, principal: p }));
    assert.equal(await read('file:///logs/app.log'), undefined);
    assert.equal((await read('file:///etc/shadow'))?.code, 'GH_FORBIDDEN');
    assert.equal((await read('file:///logs/app.log', principal('n', ['network:read'])))?.code, 'GH_SCOPE_MISSING');
    const prompt = (name: string) => run(e, makeExchange({ body: { jsonrpc: '2.0', id: 1, method: 'prompts/get', params: { name } }, principal: readonly }));
    assert.equal(await prompt('triage'), undefined);
    assert.equal((await prompt('other'))?.code, 'GH_FORBIDDEN');
  });
});

describe('tools/list filtering', () => {
  test('readonly sees only the tools its scopes allow (application/json)', async () => {
    const e = await engine();
    const ex = makeExchange({ body: { jsonrpc: '2.0', id: 5, method: 'tools/list' }, principal: readonly });
    assert.equal(await run(e, ex), undefined);
    assert.ok(ex.responseFilter);
    const out = JSON.parse(ex.responseFilter(Buffer.from(JSON.stringify(listResponse(5, ALL))), 'application/json; charset=utf-8').toString());
    assert.deepEqual(out.result.tools.map((t: { name: string }) => t.name), ['get_system_status', 'list_containers']);
    assert.equal(out.result.nextCursor, 'c2');
  });

  test('an answer whose id is spelled otherwise ("5" for 5, which loosely comparing clients accept) is filtered by its shape', async () => {
    const e = await engine();
    const ex = makeExchange({ body: { jsonrpc: '2.0', id: 5, method: 'tools/list' }, principal: readonly });
    assert.equal(await run(e, ex), undefined);
    const answer = { ...listResponse(5, ALL), id: '5' };
    const out = JSON.parse(ex.responseFilter!(Buffer.from(JSON.stringify(answer)), 'application/json').toString());
    assert.deepEqual(out.result.tools.map((t: { name: string }) => t.name), ['get_system_status', 'list_containers']);
    assert.equal(out.id, '5');
  });

  test('text/event-stream: each data line is filtered, other fields kept', async () => {
    const e = await engine();
    const ex = makeExchange({ body: { jsonrpc: '2.0', id: 'L', method: 'tools/list' }, principal: principal('c', ['container:admin']) });
    await run(e, ex);
    const sse = `: keepalive\r\n\r\nevent: message\r\nid: 17\r\ndata: ${JSON.stringify(listResponse('L', ALL))}\r\n\r\nevent: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{}}\n\n`;
    const out = ex.responseFilter!(Buffer.from(sse), 'text/event-stream').toString();
    const events = out.split('\n\n').filter((s) => s !== '');
    assert.equal(events[0], ': keepalive');
    assert.match(events[1] ?? '', /^event: message\nid: 17\ndata: /);
    const msg = JSON.parse((events[1] ?? '').split('data: ')[1] ?? '');
    assert.deepEqual(msg.result.tools.map((t: { name: string }) => t.name), ['list_containers', 'manage_container']);
    assert.match(events[2] ?? '', /notifications\/message/);
  });

  test('a multi-line SSE data payload is reassembled before filtering', async () => {
    const e = await engine();
    const ex = makeExchange({ body: { jsonrpc: '2.0', id: 1, method: 'tools/list' }, principal: readonly });
    await run(e, ex);
    const json = JSON.stringify(listResponse(1, ALL), null, 1).split('\n');
    const out = ex.responseFilter!(Buffer.from(json.map((l) => `data: ${l}`).join('\n') + '\n\n'), 'text/event-stream').toString();
    assert.ok(!out.includes('install_package'));
    assert.ok(out.includes('get_system_status'));
  });

  test('an unparseable list response is withheld (fail closed)', async () => {
    const e = await engine();
    const ex = makeExchange({ body: { jsonrpc: '2.0', id: 1, method: 'tools/list' }, principal: readonly });
    await run(e, ex);
    const out = ex.responseFilter!(Buffer.from('{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"install_package"'), 'application/json').toString();
    assert.ok(!out.includes('install_package'));
    assert.equal(JSON.parse(out).error.code, -32603);
    assert.ok(!ex.responseFilter!(Buffer.from('install_package'), 'text/plain').toString().includes('install_package'));
  });

  test('a response for another id in the same stream is untouched', async () => {
    const e = await engine();
    const ex = makeExchange({ body: [{ jsonrpc: '2.0', id: 1, method: 'tools/list' }, toolCall('get_system_status', {}, 2)], principal: readonly });
    await run(e, ex);
    const body = JSON.stringify([listResponse(1, ALL), { jsonrpc: '2.0', id: 2, result: { content: [], tools: ['kept as is'] } }]);
    const out = JSON.parse(ex.responseFilter!(Buffer.from(body), 'application/json').toString());
    assert.equal(out[0].result.tools.length, 2);
    assert.deepEqual(out[1].result.tools, ['kept as is']);
  });

  test('every POST carrying a request gets the list filters (a list may answer on it under a reused id); notifications alone do not', async () => {
    const e = await engine();
    const ex = makeExchange({ body: toolCall('get_system_status'), principal: readonly });
    await run(e, ex);
    assert.ok(ex.responseFilter && ex.streamFilter);
    const note = makeExchange({ body: { jsonrpc: '2.0', method: 'notifications/initialized' }, principal: readonly });
    await run(e, note);
    assert.equal(note.responseFilter, undefined);
  });
});
