/**
 * The admin API sits behind the same door checks as any route: when the audit log cannot be written, an admin action
 * (an approval decided) is refused before its handler runs, fail closed, as a proxied request is.
 * The capabilities here are stand-ins for the composition under test (the real audit failure is exercised in
 * test/audit/durability.test.ts with a full disk): only the server's wiring is asked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { validateConfig } from '../../src/config/index.js';
import type { Capabilities } from '../../src/gateway/pipeline.js';
import { listenGateway } from '../../src/gateway/server.js';
import { memoryLogger } from '../helpers/gateway.js';

test('an unwritable audit log refuses admin actions (503 GH_AUDIT_UNAVAILABLE) before the admin handler runs', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'gh-admin-door-'));
  const cfg = validateConfig({ state_dir: stateDir, server: { tls: { enabled: false } }, routes: [] }, { env: {} });
  let healthy = false;
  const calls: string[] = [];
  const caps: Capabilities = {
    stages: {},
    publicStages: {},
    audit: { waitForDurable: false, emit: async () => {}, record: () => {}, healthy: () => healthy, close: async () => {} },
    auditEvent: () => ({ event_type: 'http.request', result_status: 'success' }),
    logger: memoryLogger(),
    redactText: (t) => t,
    close: async () => {},
  };
  const admin = async (_req: unknown, res: import('node:http').ServerResponse, subpath: string) => {
    calls.push(subpath);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"approvals":[]}');
  };
  const gw = await listenGateway({ config: cfg, capabilities: caps, upstreamUrls: new Map(), tls: undefined, admin }, '127.0.0.1:0');
  try {
    const refused = await request(`${gw.url}/_gatehouse/approvals/x/approve`, { method: 'POST', body: '{}' });
    assert.equal(refused.statusCode, 503);
    assert.equal(((await refused.body.json()) as { error: { code: string } }).error.code, 'GH_AUDIT_UNAVAILABLE');
    assert.deepEqual(calls, [], 'the admin handler ran while its action could not be audited');
    healthy = true;
    const ok = await request(`${gw.url}/_gatehouse/approvals`);
    assert.equal(ok.statusCode, 200, await ok.body.text());
    assert.deepEqual(calls, ['/approvals']);
  } finally {
    await gw.close(200);
    rmSync(stateDir, { recursive: true, force: true });
  }
});
