/**
 * Only POST carries JSON-RPC on an MCP endpoint, so only POST is classified. GET (the SSE stream) and DELETE (session
 * end) pass as transport; any other HTTP method would reach the upstream with an unclassified body (a tools/call in a
 * PUT is never checked), so it is refused, as docs/authorization.md's method table says.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicyEngine } from '../../src/authz/index.js';
import type { Exchange } from '../../src/core/types.js';
import { makeConfig, makeDeps, makeExchange, principal, runPolicy, toolCall } from '../authz/helpers.js';

const readonly = principal('grafana-datasource', ['readonly']);

const run = async (ex: Exchange) => runPolicy(await createPolicyEngine(makeConfig(), makeDeps()), ex);

describe('MCP endpoint: HTTP methods other than POST, GET and DELETE', () => {
  for (const method of ['PUT', 'PATCH', 'OPTIONS', 'PROPFIND']) {
    test(`a tools/call smuggled in a ${method} body is refused, not waved through as transport`, async () => {
      const ex = makeExchange({ method, body: toolCall('install_package', { package_name: 'nginx' }), principal: readonly });
      const err = await run(ex);
      assert.equal(err?.code, 'GH_FORBIDDEN');
      assert.equal(ex.decision?.allow, false);
      assert.equal(ex.decision?.reason, 'mcp_method_unknown');
    });
  }

  test('GET and DELETE still pass as transport', async () => {
    for (const method of ['GET', 'DELETE']) {
      const ex = makeExchange({ method, principal: readonly });
      assert.equal(await run(ex), undefined, method);
      assert.equal(ex.decision?.reason, 'mcp_transport');
    }
  });
});
