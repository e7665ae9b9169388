/** authz.mcp.sessions: the insecure opt-out refused in production and warned in development; the doctor's check. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync } from 'node:fs';
import { assertProductionReady, developmentWarnings, productionRefusals } from '../../src/gateway/production.js';
import { redactConfigForDisplay } from '../../src/config/index.js';
import { checkOf, config, fileWriter, tempDir } from './helpers.js';

const MCP_ROUTE = { name: 'tools', prefix: '/mcp', upstream: 'http://127.0.0.1:9000', kind: 'mcp' };
const UNBOUND = { routes: [MCP_ROUTE], authz: { mcp: { sessions: { insecure_unbound: true } } } };

describe('authz.mcp.sessions', () => {
  test('insecure_unbound is refused in production, warned about at start in development', () => {
    const refusal = productionRefusals(config(UNBOUND)).find((p) => p.startsWith('authz.mcp.sessions.insecure_unbound'));
    assert.ok(refusal);
    assert.throws(() => assertProductionReady(config(UNBOUND)), { code: 'GH_CONFIG_PRODUCTION_REFUSED' });
    assert.ok(developmentWarnings(config(UNBOUND, 'development')).some((w) => w.startsWith('authz.mcp.sessions.insecure_unbound')));
    assert.equal(productionRefusals(config({ routes: [MCP_ROUTE] })).some((p) => p.startsWith('authz.mcp')), false, 'bound by default');
  });

  test('the schema is closed and config check shows the key file path (a path, not a secret)', () => {
    assert.throws(() => config({ authz: { mcp: { sessions: { bind: false } } } }), /authz\.mcp\.sessions\.bind: unknown key/);
    const shown = redactConfigForDisplay(config({ authz: { mcp: { sessions: { key_file: '/etc/gatehouse/mcp-session.key' } } } })) as { authz: { mcp: { sessions: unknown } } };
    assert.deepEqual(shown.authz.mcp.sessions, { key_file: '/etc/gatehouse/mcp-session.key', insecure_unbound: false });
  });

  test('routes.mcp_sessions: fails on the opt-out in production, warns in development, passes naming the key source, skips without MCP routes', async () => {
    const prod = await checkOf('routes.mcp_sessions', UNBOUND);
    assert.equal(prod.status, 'fail');
    assert.match(prod.detail, /insecure_unbound/);
    const dev = await checkOf('routes.mcp_sessions', UNBOUND, { profile: 'development' });
    assert.equal(dev.status, 'warn');
    assert.match(dev.detail, /refused in production/);
    const generated = await checkOf('routes.mcp_sessions', { routes: [MCP_ROUTE] });
    assert.equal(generated.status, 'pass');
    assert.match(generated.detail, /routes\[0\] \(tools\).*generated in the state directory/);
    assert.equal((await checkOf('routes.mcp_sessions', { routes: [{ ...MCP_ROUTE, kind: 'http' }] })).status, 'skip');
  });

  test('a key file others can read fails files.secret_permissions (the gateway refuses it)', async (t) => {
    const dir = tempDir();
    t.after(() => dir.remove());
    const file = fileWriter(dir.path)('mcp-session.key', randomBytes(32).toString('hex'));
    const raw = { routes: [MCP_ROUTE], authz: { mcp: { sessions: { key_file: file } } } };
    const bound = await checkOf('routes.mcp_sessions', raw);
    assert.equal(bound.status, 'pass');
    assert.match(bound.detail, /authz\.mcp\.sessions\.key_file/);
    assert.notEqual((await checkOf('files.secret_permissions', raw)).status, 'fail');
    if (process.platform === 'win32') return;
    chmodSync(file, 0o644);
    const loose = await checkOf('files.secret_permissions', raw);
    assert.equal(loose.status, 'fail');
    assert.match(loose.detail, /authz\.mcp\.sessions\.key_file is accessible by group or others/);
  });
});
