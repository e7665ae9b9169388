import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApprovalStore } from '../../src/approval/index.js';
import { createPolicyEngine } from '../../src/authz/index.js';
import { systemClock } from '../../src/core/clock.js';
import { SqliteStore } from '../../src/store/index.js';
import { makeConfig, makeDeps, makeExchange, principal, toolCall } from '../authz/helpers.js';
import { cli } from '../helpers/cli.js';
import { ROOT } from '../helpers/process.js';

const home = mkdtempSync(join(tmpdir(), 'gh-approvals-cli-'));
after(() => rmSync(home, { recursive: true, force: true }));
const env = { GATEHOUSE_HOME: home, USER: 'tester' };

async function withStore<T>(fn: (q: ApprovalStore) => Promise<T>): Promise<T> {
  const store = new SqliteStore(join(home, 'state.db'));
  try {
    return await fn(new ApprovalStore(store, systemClock, 3_600_000));
  } finally {
    await store.close();
  }
}
const request = (pkg: string) =>
  withStore(async (q) => (await q.request({ principal: 'ops-automation', kind: 'tool', subject: 'install_package', args: { package_name: pkg }, risk_level: 'critical', mode: 'queue' })).record);

describe('gatehouse approvals', () => {
  test('list shows pending requests with their arguments; show prints the exact arguments', async () => {
    const rec = await request('nginx');
    const list = await cli(['approvals', 'list', '--status', 'pending'], { env });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`${rec.id}\\s+pending\\s+critical\\s+ops-automation`));
    assert.match(list.stdout, /install_package \{"package_name":"nginx"\}/);
    const show = await cli(['approvals', 'show', rec.id], { env });
    assert.match(show.stdout, /arguments:\s+\{"package_name":"nginx"\}/);
    assert.match(show.stdout, new RegExp(`args hmac:\\s+${rec.args_hmac}`));
    const json = JSON.parse((await cli(['approvals', 'show', rec.id, '--json'], { env })).stdout);
    assert.equal(json.effective_status, 'pending');
  });

  test('approve records the OS user as approver, with reason and window', async () => {
    const rec = await request('curl');
    const r = await cli(['approvals', 'approve', rec.id, '--reason', 'ticket OPS-42', '--window', '10m'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`approved ${rec.id}: ops-automation install_package until `));
    const after = await withStore((q) => q.get(rec.id));
    assert.equal(after?.approver, 'cli:tester');
    assert.equal(after?.reason, 'ticket OPS-42');
    assert.ok(after?.window_until);
  });

  test('deny, then deciding again fails with GH_APPROVAL_ALREADY_DECIDED', async () => {
    const rec = await request('netcat');
    assert.equal((await cli(['approvals', 'deny', rec.id, '--reason', 'no'], { env })).code, 0);
    const again = await cli(['approvals', 'approve', rec.id], { env });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /GH_APPROVAL_ALREADY_DECIDED/);
  });

  test('usage errors: unknown id, missing id, window above max_window, bad status', async () => {
    const unknown = await cli(['approvals', 'approve', 'apr_AAAAAAAAAAAAAAAA'], { env });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /GH_APPROVAL_NOT_FOUND/);
    assert.equal((await cli(['approvals', 'approve'], { env })).code, 2);
    const rec = await request('vim');
    assert.equal((await cli(['approvals', 'approve', rec.id, '--window', '30d'], { env })).code, 2);
    assert.equal((await cli(['approvals', 'list', '--status', 'weird'], { env })).code, 2);
  });

  test('show and list make invisible and bidi-control characters visible, and mark cut-off arguments', async () => {
    // A requester must not make the approver read something other than what is approved: a right-to-left override
    // or a zero-width character in an argument is printed as an escape, and the list marks what it cuts off.
    const rec = await request('nginx\u202e\u200b\u2066x');
    const show = await cli(['approvals', 'show', rec.id], { env });
    assert.equal(show.code, 0, show.stderr);
    assert.doesNotMatch(show.stdout, /[\u202e\u200b\u2066]/u);
    assert.match(show.stdout, /nginx\\u\{202e\}\\u\{200b\}\\u\{2066\}x/);
    const long = await request(`nginx-${'x'.repeat(80)}`);
    const list = await cli(['approvals', 'list'], { env });
    const row = list.stdout.split('\n').find((l) => l.startsWith(long.id)) ?? '';
    assert.match(row, /…$/, row);
  });

  test('a call held by the gateway proceeds when a separate CLI process approves it', async () => {
    const gwStore = new SqliteStore(join(home, 'state.db'));
    try {
      const cfg = { ...makeConfig({ approval: { mode: 'queue', queue: { hold_timeout: '20s', poll_interval: '25ms' } } }), state_dir: home };
      const e = await createPolicyEngine(cfg, makeDeps({ store: gwStore, clock: systemClock as never }));
      const ex = makeExchange({ body: toolCall('install_package', { package_name: 'htop' }), principal: principal('ops-automation', ['admin']) });
      await e.classify(ex);
      await e.authorize(ex);
      const held = Promise.resolve(e.approve(ex));
      const id = await withStore(async (q) => {
        for (;;) {
          const found = (await q.list({ status: 'pending' })).find((r) => JSON.stringify(r.args).includes('htop'));
          if (found) return found.id;
          await new Promise((r) => setTimeout(r, 20));
        }
      });
      const child = spawn(process.execPath, ['--import', 'tsx', '-e', `import('./src/cli/main.ts').then(async (m) => { process.exitCode = await m.main(['approvals', 'approve', '${id}']); })`], {
        cwd: ROOT,
        env: { PATH: process.env['PATH'], GATEHOUSE_HOME: home, USER: 'operator' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const code = await new Promise<number | null>((r) => child.on('exit', r));
      assert.equal(code, 0, err);
      await held;
      assert.equal(ex.approval?.approver, 'cli:operator');
      assert.equal(ex.approval?.id, id);
    } finally {
      await gwStore.close();
    }
  });
});
