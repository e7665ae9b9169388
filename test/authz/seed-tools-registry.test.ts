/** Seed 001's risk table, the rows the registry lacked: dns_lookup, file_operations, update_docker_container. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { createPolicyEngine, ScopeRegistry, SEED001_SCOPE_BUNDLES, SEED001_SCOPE_HIERARCHY, SEED001_TOOLS, ToolRegistry } from '../../src/authz/index.js';
import { buildDemoMcpServer } from '../../src/gateway/demo/mcp.js';
import { fakeResolver, makeConfig, makeDeps, makeExchange, principal, runPolicy as run, toolCall } from './helpers.js';

async function engine(input: Parameters<typeof makeConfig>[0] = {}) {
  return createPolicyEngine(makeConfig(input), makeDeps(), { resolve: fakeResolver({}) });
}

describe('seed 001 table rows', () => {
  test('risk levels, scopes and approval flags follow the seed', () => {
    const r = new ToolRegistry(makeConfig().authz, new ScopeRegistry({ hierarchy: SEED001_SCOPE_HIERARCHY, bundles: SEED001_SCOPE_BUNDLES }));
    const row = (n: string) => {
      const t = r.get(n);
      assert.ok(t, n);
      return [t.scopes.join(','), t.risk_level, t.requires_approval];
    };
    assert.deepEqual(row('dns_lookup'), ['network:diag', 'moderate', false]);
    assert.deepEqual(row('file_operations'), ['file:write', 'high', false]);
    assert.deepEqual(row('update_docker_container'), ['docker:admin,container:admin', 'critical', true]);
  });

});

describe('the demo MCP server simulates the new tools', () => {
  /** A real SDK client on the demo server, in memory. */
  async function demoClient(): Promise<Client> {
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await buildDemoMcpServer().connect(serverSide);
    const client = new Client({ name: 'seed-tools-test', version: '1.0.0' });
    await client.connect(clientSide);
    return client;
  }
  const result = (r: unknown) => JSON.parse((r as { content: Array<{ text: string }> }).content[0]!.text) as Record<string, unknown>;

  test('it serves exactly the registry tools', async () => {
    const client = await demoClient();
    try {
      assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), Object.keys(SEED001_TOOLS).sort());
    } finally {
      await client.close();
    }
  });

  test('plausible results, marked simulated; a file "written" does not appear on the host', async () => {
    const client = await demoClient();
    const dir = mkdtempSync(join(tmpdir(), 'gh-demo-files-'));
    try {
      const dns = result(await client.callTool({ name: 'dns_lookup', arguments: { host: 'db.internal', record_type: 'AAAA' } }));
      assert.deepEqual(dns, { host: 'db.internal', record_type: 'AAAA', answers: ['2001:db8::10'], ttl: 300, simulated: true });
      const target = join(dir, 'written.txt');
      const wrote = result(await client.callTool({ name: 'file_operations', arguments: { operation: 'write', path: target, content: 'hello' } }));
      assert.deepEqual(wrote, { operation: 'write', path: target, bytes_written: 5, result: 'ok', simulated: true });
      assert.equal(existsSync(target), false, 'the demo touched no file');
      assert.deepEqual(readdirSync(dir), []);
      const update = result(await client.callTool({ name: 'update_docker_container', arguments: { name: 'web', image: 'nginx:1.28' } }));
      assert.deepEqual(update, { container: 'web', previous_image: 'nginx:1.27', image: 'nginx:1.28', result: 'updated', simulated: true });
      const again = result(await client.callTool({ name: 'list_containers', arguments: { all: true } }));
      assert.deepEqual((again['containers'] as Array<{ name: string; image: string }>).find((c) => c.name === 'web')?.image, 'nginx:1.27', 'the simulated update changed no state');
    } finally {
      await client.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('file_operations', () => {
  test('a readonly token is refused, the missing scope named (file:read is not file:write)', async () => {
    const e = await engine();
    const ex = makeExchange({ body: toolCall('file_operations', { operation: 'read', path: '/srv/files/report.txt' }, 4), principal: principal('grafana', ['readonly']) });
    const err = await run(e, ex);
    assert.equal(err?.code, 'GH_SCOPE_MISSING');
    assert.equal(err?.message, 'Insufficient scope: file_operations requires file:write');
    assert.equal(ex.decision?.missing_scope, 'file:write');
    assert.equal(ex.operation?.risk_level, 'high');
  });

  test('file:write may call it under /srv/files without approval; traversal and other directories are refused', async () => {
    const e = await engine();
    const writer = principal('backup-agent', ['file:write']);
    const ok = makeExchange({ body: toolCall('file_operations', { operation: 'write', path: '/srv/files/out/report.txt', content: 'x' }), principal: writer });
    assert.equal(await run(e, ok), undefined);
    assert.equal(ok.decision?.allow, true);
    assert.equal(ok.approval, undefined, 'high risk is scoped, not approval-gated (seed 001)');
    for (const path of ['/etc/shadow', '/srv/files/../../etc/passwd', '/srv/files-evil/x', 'srv/files/x', '/srv/files/%2e%2e/x']) {
      const err = await run(e, makeExchange({ body: toolCall('file_operations', { operation: 'read', path }), principal: writer }));
      assert.equal(err?.code, 'GH_ARGUMENT_REFUSED', path);
      assert.match(err?.message ?? '', /file_operations\.path/);
    }
    const badOp = await run(e, makeExchange({ body: toolCall('file_operations', { operation: 'chmod', path: '/srv/files/x' }), principal: writer }));
    assert.equal(badOp?.code, 'GH_ARGUMENT_REFUSED');
  });
});

describe('dns_lookup', () => {
  test('works with network:diag (and admin); readonly, which holds network:read only, is refused', async () => {
    const e = await engine();
    assert.equal(await run(e, makeExchange({ body: toolCall('dns_lookup', { host: 'db.internal' }), principal: principal('root', ['admin']) })), undefined);
    const ex = makeExchange({ body: toolCall('dns_lookup', { host: 'db.internal', record_type: 'AAAA' }), principal: principal('netops', ['network:diag']) });
    assert.equal(await run(e, ex), undefined);
    assert.equal(ex.decision?.allow, true);
    assert.deepEqual(ex.decision?.scopes_used, ['network:diag']);
    assert.equal(ex.decision?.risk_level, 'moderate');
    assert.equal(ex.approval, undefined);
    const err = await run(e, makeExchange({ body: toolCall('dns_lookup', { host: 'db.internal' }), principal: principal('grafana', ['readonly']) }));
    assert.equal(err?.code, 'GH_SCOPE_MISSING');
    assert.equal(err?.message, 'Insufficient scope: dns_lookup requires network:diag');
  });

  test('arguments are checked: a record type outside the list, an overlong host, an extra argument', async () => {
    const e = await engine();
    const p = principal('netops', ['network:diag']);
    for (const args of [{ host: 'a', record_type: 'AXFR' }, { host: 'a'.repeat(254) }, { host: 'a', server: '10.0.0.1' }, {}]) {
      const err = await run(e, makeExchange({ body: toolCall('dns_lookup', args), principal: p }));
      assert.equal(err?.code, 'GH_ARGUMENT_REFUSED', JSON.stringify(args));
    }
  });
});

describe('update_docker_container', () => {
  test('needs both docker:admin and container:admin: either alone is refused, naming the other', async () => {
    const e = await engine();
    const docker = await run(e, makeExchange({ body: toolCall('update_docker_container', { name: 'web' }), principal: principal('a', ['docker:admin']) }));
    assert.equal(docker?.code, 'GH_SCOPE_MISSING');
    assert.match(docker?.message ?? '', /requires container:admin/);
    const container = await run(e, makeExchange({ body: toolCall('update_docker_container', { name: 'web' }), principal: principal('b', ['container:admin']) }));
    assert.equal(container?.code, 'GH_SCOPE_MISSING');
    assert.match(container?.message ?? '', /requires docker:admin/);
  });

  test('requires approval: authorized for admin, then denied without an approver, pending with the queue', async () => {
    const admin = principal('ops-automation', ['admin']);
    const body = toolCall('update_docker_container', { name: 'web', image: 'nginx:1.28' });
    const noApprover = makeExchange({ body, principal: admin });
    const err = await run(await engine(), noApprover);
    assert.equal(noApprover.decision?.allow, true);
    assert.equal(noApprover.decision?.requires_approval, true);
    assert.equal(noApprover.decision?.risk_level, 'critical');
    assert.equal(err?.code, 'GH_APPROVAL_UNAVAILABLE');
    assert.match(err?.message ?? '', /update_docker_container requires approval/);
    const queued = await run(await engine({ approval: { mode: 'queue', queue: { hold_timeout: 0 } } }), makeExchange({ body, principal: admin }));
    assert.equal(queued?.code, 'GH_APPROVAL_PENDING');
  });
});
