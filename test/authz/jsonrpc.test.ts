import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildJsonRpcError, jsonRpcCodeFor, parseJsonRpc } from '../../src/authz/index.js';
import { GatehouseError } from '../../src/core/errors.js';
import { safeJsonParse } from '../../src/core/safe.js';

const parse = (v: unknown, max = 32) => parseJsonRpc(Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)), max);
const invalid = (v: unknown, code: number) =>
  assert.throws(
    () => parse(v),
    (e: unknown) => e instanceof GatehouseError && e.code === 'GH_JSONRPC_INVALID' && e.data?.['jsonrpc_code'] === code,
  );

describe('JSON-RPC parsing', () => {
  test('a single request, a notification and a response', () => {
    const r = parse({ jsonrpc: '2.0', id: 7, method: 'tools/list' });
    assert.equal(r.batch, false);
    assert.deepEqual(r.messages, [{ kind: 'request', id: 7, method: 'tools/list', params: undefined }]);
    assert.equal(parse({ jsonrpc: '2.0', method: 'notifications/initialized' }).messages[0]?.kind, 'notification');
    assert.equal(parse({ jsonrpc: '2.0', id: 'a', result: {} }).messages[0]?.kind, 'response');
  });

  test('a batch', () => {
    const r = parse([
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
    ]);
    assert.equal(r.batch, true);
    assert.equal(r.messages.length, 2);
  });

  test('not JSON, not UTF-8 or empty → parse error -32700', () => {
    invalid('{"jsonrpc":', -32700);
    invalid('', -32700);
    assert.throws(() => parseJsonRpc(Buffer.from([0x7b, 0xff, 0x7d]), 32), (e: unknown) => (e as GatehouseError).data?.['jsonrpc_code'] === -32700);
  });

  test('structurally invalid → invalid request -32600', () => {
    invalid({ id: 1, method: 'x' }, -32600); // no jsonrpc
    invalid({ jsonrpc: '1.0', id: 1, method: 'x' }, -32600);
    invalid({ jsonrpc: '2.0', id: 1, method: 5 }, -32600);
    invalid({ jsonrpc: '2.0', id: {}, method: 'x' }, -32600);
    invalid({ jsonrpc: '2.0', id: 1.5, method: 'x' }, -32600);
    invalid({ jsonrpc: '2.0', id: 1, method: 'x', params: [1] }, -32600);
    invalid({ jsonrpc: '2.0', id: 1, method: 'x', extra: 1 }, -32600);
    invalid({ jsonrpc: '2.0', id: 1, result: 1, error: {} }, -32600);
    invalid([], -32600);
    invalid([1], -32600);
    invalid('"just a string"', -32600);
    invalid([{ jsonrpc: '2.0', id: 1, method: 'a' }, { jsonrpc: '2.0', id: 1, method: 'b' }], -32600); // duplicate ids
  });

  test('a batch larger than max_batch is refused', () => {
    const many = Array.from({ length: 4 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'ping' }));
    assert.throws(() => parse(many, 3), /batch larger than 3/);
  });

  test('the canonical body is what was parsed (duplicate keys collapse to the one we saw)', () => {
    const r = parse('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"install_package","name":"get_system_status"}}');
    assert.deepEqual(JSON.parse(r.canonical.toString()).params, { name: 'get_system_status' });
    assert.equal(r.messages[0]?.params?.['name'], 'get_system_status');
  });

  test('deeply nested params are GH_JSONRPC_INVALID, not an internal error (the stack is not a parser limit)', () => {
    const depth = 200_000; // 400 kB, well under the 4 MiB body bound
    const nested = '['.repeat(depth) + ']'.repeat(depth);
    for (const text of [
      `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":${nested}}}`,
      `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":${nested},"b":"\\u0041"}}`, // an escape takes the reviver path
    ]) {
      assert.throws(
        () => parse(text),
        (e: unknown) => e instanceof GatehouseError && e.code === 'GH_JSONRPC_INVALID',
      );
    }
  });

  test('__proto__ keys are dropped, never reaching policy or upstream', () => {
    const r = parse('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"__proto__":{"admin":true}}}}');
    assert.ok(!r.canonical.toString().includes('__proto__'));
  });

  test('property: arbitrary input either parses or throws GH_JSONRPC_INVALID — never anything else', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify(v))), (text) => {
        try {
          const r = parseJsonRpc(Buffer.from(text), 32);
          assert.ok(r.messages.length > 0);
        } catch (e) {
          assert.ok(e instanceof GatehouseError && e.code === 'GH_JSONRPC_INVALID', String(e));
        }
      }),
      { numRuns: 500 },
    );
  });

  test('property: valid generated requests round-trip', () => {
    const req = fc.record({
      jsonrpc: fc.constant('2.0'),
      id: fc.oneof(fc.integer(), fc.string({ maxLength: 20 })),
      method: fc.stringMatching(/^[a-z/]{1,20}$/),
      params: fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.jsonValue(), { maxKeys: 4 }),
    });
    fc.assert(
      fc.property(req, (m) => {
        const r = parse(m);
        assert.equal(r.messages[0]?.method, m.method);
        // Equal to the input, minus the __proto__/constructor/prototype keys the parser drops on purpose.
        assert.deepEqual(JSON.parse(r.canonical.toString()), safeJsonParse(JSON.stringify(m)));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('JSON-RPC error responses', () => {
  test('a scope refusal names the scope, carries the id and the gatehouse code', () => {
    const parsed = parse({ jsonrpc: '2.0', id: 42, method: 'tools/call', params: { name: 'install_package' } });
    const err = new GatehouseError('GH_SCOPE_MISSING', 'Insufficient scope: install_package requires system:admin', { data: { missing_scope: 'system:admin' } });
    const body = JSON.parse(buildJsonRpcError(err, parsed).toString());
    assert.deepEqual(body, {
      jsonrpc: '2.0',
      id: 42,
      error: {
        code: -32010,
        message: 'Insufficient scope: install_package requires system:admin',
        data: { gatehouse_code: 'GH_SCOPE_MISSING', missing_scope: 'system:admin' },
      },
    });
  });

  test('a batch gets one error per request, none for notifications', () => {
    const parsed = parse([
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'a' } },
      { jsonrpc: '2.0', method: 'notifications/x' },
      { jsonrpc: '2.0', id: 'b', method: 'tools/list' },
    ]);
    const body = JSON.parse(buildJsonRpcError(new GatehouseError('GH_TOOL_UNKNOWN'), parsed).toString()) as Array<{ id: unknown }>;
    assert.deepEqual(body.map((m) => m.id), [1, 'b']);
  });

  test('a parse error answers id null with -32700; 5xx errors never leak their detail', () => {
    const err = new GatehouseError('GH_JSONRPC_INVALID', 'Invalid JSON-RPC: body is not JSON', { data: { jsonrpc_code: -32700 } });
    const body = JSON.parse(buildJsonRpcError(err, undefined).toString());
    assert.equal(body.id, null);
    assert.equal(body.error.code, -32700);
    assert.equal(body.error.data.jsonrpc_code, undefined);
    const internal = JSON.parse(buildJsonRpcError(new GatehouseError('GH_INTERNAL', 'db at 10.0.0.5 down'), undefined).toString());
    assert.equal(internal.error.code, -32603);
    assert.ok(!JSON.stringify(internal).includes('10.0.0.5'));
  });

  test('policy codes stay clear of the MCP SDK codes', () => {
    for (const code of ['GH_SCOPE_MISSING', 'GH_FORBIDDEN', 'GH_TOOL_UNKNOWN', 'GH_ARGUMENT_REFUSED', 'GH_APPROVAL_PENDING', 'GH_APPROVAL_DENIED', 'GH_APPROVAL_EXPIRED', 'GH_APPROVAL_UNAVAILABLE'] as const) {
      const n = jsonRpcCodeFor(new GatehouseError(code));
      assert.ok(n <= -32010 && n >= -32039, `${code} → ${n}`);
    }
  });
});
