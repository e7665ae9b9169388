/**
 * Issue 4 end to end: a real MCP client (@modelcontextprotocol/sdk) through the gateway to the demo MCP upstream,
 * with token identity, tool policy, list filtering and the approval queue decided by the CLI in another process.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { ApprovalStore } from '../../src/approval/index.js';
import { openTokenService } from '../../src/authn/index.js';
import { systemClock } from '../../src/core/clock.js';
import { SqliteStore } from '../../src/store/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { ROOT } from '../helpers/process.js';

let gw: TestGateway;
const clients: Client[] = [];

before(async () => {
  gw = await startTestGateway({
    demo: { enabled: true },
    routes: [{ name: 'mcp', prefix: '/mcp', upstream: 'demo:mcp', kind: 'mcp', auth_required: true }],
    approval: { mode: 'queue', queue: { hold_timeout: '20s', poll_interval: '50ms' } },
  });
});
after(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await gw.stop();
});

async function connect(scopes: string, agent = 'e2e-agent'): Promise<Client> {
  const svc = openTokenService(gw.config, { stateDir: gw.stateDir });
  const { token } = await svc.mint({ agent, scopes, ttlMs: 3_600_000 });
  const client = new Client({ name: 'gatehouse-e2e', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  clients.push(client);
  return client;
}

async function mcpError(p: Promise<unknown>): Promise<McpError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof McpError) return e;
    throw e;
  }
  assert.fail('expected a JSON-RPC error');
}

/** Waits for the pending approval whose arguments mention `needle` (the gateway holds the call meanwhile). */
async function pendingFor(needle: string): Promise<string> {
  const store = new SqliteStore(join(gw.stateDir, 'state.db'));
  try {
    const q = new ApprovalStore(store, systemClock, 3_600_000);
    for (let i = 0; i < 400; i++) {
      const found = (await q.list({ status: 'pending' })).find((r) => JSON.stringify(r.args).includes(needle));
      if (found) return found.id;
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    await store.close();
  }
  throw new Error(`no pending approval for ${needle}`);
}

/** `gatehouse approvals <verb> ID` as a separate process on the gateway's state directory. */
async function cliProcess(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', `import('./src/cli/main.ts').then(async (m) => { process.exitCode = await m.main(${JSON.stringify(args)}); })`], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'], GATEHOUSE_HOME: gw.stateDir, USER: 'e2e-operator' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  return { code, stdout, stderr };
}

describe('MCP policy through the gateway', () => {
  test('a readonly token lists only the tools its scopes allow', async () => {
    const client = await connect('readonly');
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['get_system_status', 'list_containers']);
    const status = await client.callTool({ name: 'get_system_status', arguments: {} });
    assert.equal(status.isError ?? false, false);
  });

  test('a readonly token is refused install_package with the missing scope named (a JSON-RPC error, not a 403)', async () => {
    const client = await connect('readonly');
    const err = await mcpError(client.callTool({ name: 'install_package', arguments: { package_name: 'nginx' } }));
    assert.equal(err.code, -32010);
    assert.match(err.message, /Insufficient scope: install_package requires system:admin/);
    assert.equal((err.data as Record<string, unknown>)['missing_scope'], 'system:admin');
    assert.equal((err.data as Record<string, unknown>)['gatehouse_code'], 'GH_SCOPE_MISSING');
  });

  test("an admin token's install_package waits, is approved by the CLI in another process, and proceeds", async () => {
    const client = await connect('admin', 'ops-automation');
    assert.equal((await client.listTools()).tools.length, 10);
    const call = client.callTool({ name: 'install_package', arguments: { package_name: 'nginx' } });
    const id = await pendingFor('nginx');
    const approved = await cliProcess(['approvals', 'approve', id, '--reason', 'e2e']);
    assert.equal(approved.code, 0, approved.stderr);
    const result = await call;
    assert.equal(result.isError ?? false, false);
    assert.match(JSON.stringify(result.content), /nginx/);
  });

  test('a different argument set needs its own approval (denied here from the CLI)', async () => {
    const client = await connect('admin', 'ops-automation');
    const call = mcpError(client.callTool({ name: 'install_package', arguments: { package_name: 'netcat' } }));
    const id = await pendingFor('netcat');
    const denied = await cliProcess(['approvals', 'deny', id, '--reason', 'why netcat?']);
    assert.equal(denied.code, 0, denied.stderr);
    const err = await call;
    assert.equal(err.code, -32021);
    assert.match(err.message, new RegExp(`Approval ${id} for install_package was denied by cli:e2e-operator: why netcat\\?`));
  });

  test('the refusals reach the audit log for seed 001 queries ("Insufficient")', async () => {
    await gw.close(2000);
    const dir = join(gw.stateDir, 'audit');
    const records = readdirSync(dir)
      .filter((f) => f.endsWith('.jsonl'))
      .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(records.some((r) => typeof r['error'] === 'string' && (r['error'] as string).includes('Insufficient')));
    assert.ok(records.some((r) => r['event_type'] === 'approval.approved'));
    assert.ok(records.some((r) => r['event_type'] === 'approval.denied'));
  });
});
