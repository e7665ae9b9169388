/**
 * resources/read is governed by the first `authz.mcp.resources[].uri_prefix` the URI starts with. The MCP SDK looks a
 * resource up by `new URL(uri).toString()`, which resolves dot segments (raw or %2e), turns backslashes into slashes,
 * drops tabs and newlines and moves `prefix@host` into userinfo. A URI that is under a weak prefix as written but
 * names a protected resource once normalised must not get the weak prefix's scopes.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicyEngine } from '../../src/authz/index.js';
import { GatehouseError } from '../../src/core/errors.js';
import { makeConfig, makeDeps, makeExchange, principal } from '../authz/helpers.js';

const reader = principal('log-reader', ['file:read']);
const RESOURCES = [
  { uri_prefix: 'file:///srv/public/', scopes: ['file:read'] },
  { uri_prefix: 'https://docs.example.com', scopes: ['file:read'] },
  { uri_prefix: 'file:///', scopes: ['admin'] },
];

async function read(uri: string) {
  const e = await createPolicyEngine(makeConfig({ authz: { mcp: { resources: RESOURCES } } as never }), makeDeps());
  const ex = makeExchange({ body: { jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri } }, principal: reader });
  try {
    await e.classify(ex);
    await e.authorize(ex);
    return { err: undefined, ex };
  } catch (err) {
    if (err instanceof GatehouseError) return { err, ex };
    throw err;
  }
}

describe('resources/read: URIs that leave their prefix once normalised', () => {
  test('a plain URI under the weak prefix passes', async () => {
    assert.equal((await read('file:///srv/public/readme.txt')).err, undefined);
    assert.equal((await read('https://docs.example.com/guide')).err, undefined);
  });

  for (const uri of [
    'file:///srv/public/../../etc/shadow',
    'file:///srv/public/%2e%2e/%2E%2E/etc/shadow',
    'file:///srv/public/.%2e/secret/key',
    'file:///srv/public/..\\..\\etc\\shadow',
    'file:///srv/public/.\t./.\n./etc/shadow',
    'https://docs.example.com@internal.example.com/admin',
  ]) {
    test(`refuses ${JSON.stringify(uri)}`, async () => {
      const { err, ex } = await read(uri);
      assert.ok(err, 'the read must not be allowed under file:read');
      assert.equal(ex.decision?.allow, false);
      assert.notEqual(ex.decision?.rule, 'mcp.resources[0]');
    });
  }

  test('the list filter agrees: such a URI is never listed under the weak prefix', async () => {
    const e = await createPolicyEngine(makeConfig({ authz: { mcp: { resources: RESOURCES } } as never }), makeDeps());
    const ex = makeExchange({ body: { jsonrpc: '2.0', id: 3, method: 'resources/list' }, principal: reader });
    await e.classify(ex);
    await e.authorize(ex);
    const upstream = { jsonrpc: '2.0', id: 3, result: { resources: [{ uri: 'file:///srv/public/a.txt' }, { uri: 'file:///srv/public/../../etc/shadow' }] } };
    const out = JSON.parse((ex.responseFilter as NonNullable<typeof ex.responseFilter>)(Buffer.from(JSON.stringify(upstream)), 'application/json').toString());
    assert.deepEqual(out.result.resources.map((r: { uri: string }) => r.uri), ['file:///srv/public/a.txt']);
  });
});
