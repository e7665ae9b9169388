/**
 * Attack: get route A's upstream credential sent to route B's upstream through a route name both share.
 *
 * The injector keeps credentials by route name, and the gateway keeps its upstreams by route name too. Nothing refuses
 * two routes with the same name: a copied route block whose name was not changed, or an explicit `name: route1` next
 * to an unnamed route at index 1 (whose implicit name is `route1`). A request on B then carries A's credential, to
 * B's upstream — a less trusted service, or one the caller controls — which is exactly what `upstream_auth` promises
 * never to do. The config must be refused at load instead.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { openTokenService } from '../../src/authn/index.js';
import { validateConfig, type GatehouseConfig } from '../../src/config/index.js';
import { startGateway } from '../../src/gateway/start.js';
import { memoryLogger, startRecordingUpstream } from '../helpers/gateway.js';

const INVENTORY_KEY = 'fake-inventory-upstream-key-0001';

/** Refused as a config error about the routes' names, not for some unrelated reason. */
function refusedForTheName(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return err.code === 'GH_CONFIG_INVALID' && /routes/.test(err.message ?? '') && /name/.test(err.message ?? '');
}

async function attempt(routes: (inventory: string, other: string) => Record<string, unknown>[]): Promise<{ leaked: boolean; refusedAtLoad: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-atk-names-'));
  writeFileSync(join(dir, 'inventory_key'), INVENTORY_KEY, { mode: 0o600 });
  const inventory = await startRecordingUpstream();
  const other = await startRecordingUpstream();
  try {
    let cfg: GatehouseConfig;
    try {
      cfg = validateConfig({
        state_dir: join(dir, 'state'),
        server: { tls: { enabled: false } },
        routes: routes(inventory.url, other.url),
        auth: { methods: ['token'] },
        authz: { routes: [{ path: '/*', scopes: ['system:read'] }] },
        secrets: { file_dir: dir },
      }, { env: {} });
    } catch (e) {
      return { leaked: false, refusedAtLoad: refusedForTheName(e) };
    }
    let gw;
    try {
      gw = await startGateway(cfg, { listen: '127.0.0.1:0', logger: memoryLogger() });
    } catch (e) {
      return { leaked: false, refusedAtLoad: refusedForTheName(e) };
    }
    try {
      const token = (await openTokenService(cfg, { stateDir: cfg.state_dir }).mint({ agent: 'ci-agent', scopes: 'readonly', ttlMs: 3_600_000 })).token;
      for (const path of ['/other/x', '/inventory/x']) {
        const res = await request(`${gw.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
        await res.body.text();
      }
      return { leaked: JSON.stringify(other.requests).includes(INVENTORY_KEY), refusedAtLoad: false };
    } finally {
      await gw.close(2000);
    }
  } finally {
    await inventory.close();
    await other.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('two routes with one name', () => {
  test('an explicit name used twice (a copied route block): refused at load, never A\'s credential at B\'s upstream', async () => {
    const r = await attempt((inventory, other) => [
      { name: 'svc', prefix: '/inventory', upstream: inventory, upstream_auth: { headers: { 'X-Api-Key': 'file:inventory_key' } } },
      { name: 'svc', prefix: '/other', upstream: other },
    ]);
    assert.equal(r.leaked, false, 'the inventory key reached the other route\'s upstream');
    assert.equal(r.refusedAtLoad, true, 'a duplicate route name was accepted');
  });

  test('an explicit name equal to another route\'s implicit one (route1): refused at load, never A\'s credential at B\'s upstream', async () => {
    const r = await attempt((inventory, other) => [
      { name: 'route1', prefix: '/inventory', upstream: inventory, upstream_auth: { headers: { 'X-Api-Key': 'file:inventory_key' } } },
      { prefix: '/other', upstream: other },
    ]);
    assert.equal(r.leaked, false, 'the inventory key reached the unnamed route\'s upstream');
    assert.equal(r.refusedAtLoad, true, 'a route name equal to an implicit one was accepted');
  });
});
