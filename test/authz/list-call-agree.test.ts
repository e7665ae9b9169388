/** Issue 4: tools/list and tools/call always agree — a property test over random scope sets. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createPolicyEngine, SEED001_SCOPE_HIERARCHY } from '../../src/authz/index.js';
import { GatehouseError } from '../../src/core/errors.js';
import { fakeResolver, makeConfig, makeDeps, makeExchange, principal, toolCall } from './helpers.js';

const VALID_ARGS: Record<string, Record<string, unknown>> = {
  get_system_status: {},
  list_containers: { all: true },
  ping_host: { host: 'example.com', count: 1 },
  manage_container: { name: 'web', action: 'restart' },
  install_package: { package_name: 'nginx' },
  pull_docker_image: { image: 'nginx:1.27' },
  http_request_test: { url: 'https://example.com/' },
  read_logs: {},
  multi_scope: {},
};

test('for random scope sets, a tool is listed exactly when calling it is authorized', async () => {
  const e = await createPolicyEngine(
    makeConfig({
      authz: {
        tools: {
          read_logs: { scopes: ['file:read'], risk_level: 'low' },
          multi_scope: { scopes: ['container:read', 'network:diag'], risk_level: 'moderate' },
        },
      },
    }),
    makeDeps(),
    { resolve: fakeResolver({ 'example.com': ['93.184.215.14'] }) },
  );
  const toolNames = [...Object.keys(VALID_ARGS), 'unknown_tool', 'constructor', '__proto__'];
  const scopeArb = fc.uniqueArray(fc.constantFrom(...Object.keys(SEED001_SCOPE_HIERARCHY), 'readonly', 'tenant:*:admin', 'bogus'), { maxLength: 5 });

  await fc.assert(
    fc.asyncProperty(scopeArb, async (scopes) => {
      const p = principal('agent', scopes);
      const listEx = makeExchange({ body: { jsonrpc: '2.0', id: 1, method: 'tools/list' }, principal: p });
      await e.classify(listEx);
      await e.authorize(listEx);
      const upstream = { jsonrpc: '2.0', id: 1, result: { tools: toolNames.map((name) => ({ name })) } };
      const listed = new Set(
        (JSON.parse(listEx.responseFilter!(Buffer.from(JSON.stringify(upstream)), 'application/json').toString()).result.tools as Array<{ name: string }>).map(
          (t) => t.name,
        ),
      );
      for (const name of toolNames) {
        const ex = makeExchange({ body: toolCall(name, VALID_ARGS[name] ?? {}), principal: p });
        await e.classify(ex);
        let allowed = true;
        try {
          await e.authorize(ex);
        } catch (err) {
          assert.ok(err instanceof GatehouseError && (err.code === 'GH_SCOPE_MISSING' || err.code === 'GH_TOOL_UNKNOWN'), String(err));
          allowed = false;
        }
        assert.equal(listed.has(name), allowed, `${name} with [${scopes.join(', ')}]`);
      }
    }),
    { numRuns: 150 },
  );
});
