import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ScopeRegistry, SEED001_SCOPE_BUNDLES, SEED001_SCOPE_HIERARCHY, SEED001_TOOLS, ToolRegistry } from '../../src/authz/index.js';
import { GatehouseError } from '../../src/core/errors.js';
import { fakeResolver, makeConfig } from './helpers.js';

const scopes = new ScopeRegistry({ hierarchy: SEED001_SCOPE_HIERARCHY, bundles: SEED001_SCOPE_BUNDLES });
const registry = (tools: Record<string, unknown> = {}, default_tools: 'seed001' | 'none' = 'seed001') =>
  new ToolRegistry(makeConfig({ authz: { default_tools, tools: tools as never } }).authz, scopes);
const resolve = fakeResolver({ 'example.com': ['93.184.215.14'] });

const refusal = (re: RegExp) => (e: unknown) => e instanceof GatehouseError && e.code === 'GH_ARGUMENT_REFUSED' && re.test(e.message);
/** checkArguments throws synchronously for local checks and rejects for URL ones: both count as a refusal here. */
const refused = async (check: () => Promise<unknown> | undefined, re: RegExp) => assert.rejects(async () => check(), refusal(re));

describe('seed 001 tool table', () => {
  test('risk levels, scopes and approval flags match the seed', () => {
    const r = registry();
    const row = (n: string) => {
      const t = r.get(n);
      assert.ok(t, n);
      return [t.scopes.join(','), t.risk_level, t.requires_approval];
    };
    assert.deepEqual(row('get_system_status'), ['system:read', 'low', false]);
    assert.deepEqual(row('list_containers'), ['container:read', 'low', false]);
    assert.deepEqual(row('ping_host'), ['network:diag', 'moderate', false]);
    assert.deepEqual(row('manage_container'), ['container:write', 'high', false]);
    assert.deepEqual(row('install_package'), ['system:admin', 'critical', true]);
    assert.deepEqual(row('pull_docker_image'), ['docker:admin', 'critical', true]);
    assert.deepEqual(row('http_request_test'), ['network:diag', 'moderate', true]);
  });

  test('default_tools none starts empty; config adds and overrides', () => {
    assert.deepEqual(registry({}, 'none').names(), []);
    const r = registry({ read_file: { scopes: ['file:read'], risk_level: 'low' }, ping_host: { scopes: ['admin'], risk_level: 'high' } });
    assert.equal(r.get('read_file')?.risk_level, 'low');
    assert.deepEqual(r.get('ping_host')?.scopes, ['admin']);
    assert.equal(SEED001_TOOLS['ping_host']?.scopes[0], 'network:diag', 'the exported table is not mutated');
  });

  test('an unknown tool is not in the registry', () => {
    assert.equal(registry().get('rm_rf'), undefined);
    assert.equal(registry().get('__proto__'), undefined);
  });
});

describe('policy validated at load', () => {
  const invalid = (tools: Record<string, unknown>, re: RegExp) =>
    assert.throws(() => registry(tools), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_CONFIG_INVALID' && re.test(e.message));

  test('a tool naming an unknown scope is an error, not a silent deny-all', () => {
    invalid({ t: { scopes: ['system:reed'], risk_level: 'low' } }, /authz\.tools\.t\.scopes: unknown scope "system:reed"/);
  });
  test('a tool requiring a bundle is an error', () => {
    invalid({ t: { scopes: ['readonly'], risk_level: 'low' } }, /is a bundle/);
  });
  test('a url constraint on a non-string argument is an error', () => {
    invalid({ t: { scopes: [], risk_level: 'low', arguments: { n: { type: 'number', url: {} } } } }, /authz\.tools\.t\.arguments\.n/);
  });
  test('an enum value of the wrong type is an error', () => {
    invalid({ t: { scopes: [], risk_level: 'low', arguments: { n: { type: 'integer', enum: ['x'] } } } }, /enum/);
  });
  test('an invalid allow_cidrs entry is an error', () => {
    invalid({ t: { scopes: [], risk_level: 'low', arguments: { u: { url: { allow_cidrs: ['10.0.0.0/99'] } } } } }, /allow_cidrs/);
  });
  test('an unknown key in a tool is refused by the closed schema', () => {
    assert.throws(() => makeConfig({ authz: { tools: { t: { scopes: [], risk_level: 'low', scopez: [] } as never } } }));
  });
});

describe('argument constraints', () => {
  const r = registry({
    read_file: { scopes: ['file:read'], risk_level: 'low', arguments: { path: { required: true, path_prefixes: ['/srv/data/'] } } },
    free: { scopes: [], risk_level: 'low' },
  });

  test('valid seed 001 arguments pass', async () => {
    await r.checkArguments(r.get('manage_container')!, { name: 'web', action: 'restart' }, resolve);
    await r.checkArguments(r.get('list_containers')!, {}, resolve);
    await r.checkArguments(r.get('http_request_test')!, { url: 'https://example.com/health' }, resolve);
  });
  test('an argument the tool does not declare is refused', async () => {
    await refused(() => r.checkArguments(r.get('install_package')!, { package_name: 'nginx', force: true }, resolve), /install_package\.force is not an argument/);
  });
  test('a missing required argument is refused', async () => {
    await refused(() => r.checkArguments(r.get('install_package')!, {}, resolve), /package_name is required/);
  });
  test('a wrong type is refused', async () => {
    await refused(() => r.checkArguments(r.get('ping_host')!, { host: 'a', count: 1.5 }, resolve), /count must be of type integer/);
    await refused(() => r.checkArguments(r.get('list_containers')!, { all: 'yes' }, resolve), /all must be of type boolean/);
  });
  test('a value outside the enum is refused', async () => {
    await refused(() => r.checkArguments(r.get('manage_container')!, { name: 'web', action: 'delete' }, resolve), /action is not one of/);
  });
  test('max_length is enforced', async () => {
    await refused(() => r.checkArguments(r.get('ping_host')!, { host: 'a'.repeat(254) }, resolve), /longer than 253/);
  });
  test('a path outside the prefix is refused; inside passes', async () => {
    await r.checkArguments(r.get('read_file')!, { path: '/srv/data/report.csv' }, resolve);
    await refused(() => r.checkArguments(r.get('read_file')!, { path: '/etc/passwd' }, resolve), /outside the allowed path prefixes/);
  });
  test('local checks are synchronous; a URL argument resolves, checks in declaration order and rejects', async () => {
    const t = registry({
      fetch: {
        scopes: [],
        risk_level: 'low',
        arguments: { url: { required: true, url: { hosts: ['example.com'] } }, mode: { enum: ['a', 'b'] } },
      },
    });
    const fetch = t.get('fetch')!;
    assert.equal(r.checkArguments(r.get('manage_container')!, { name: 'web', action: 'restart' }, resolve), undefined);
    assert.throws(() => r.checkArguments(r.get('install_package')!, {}, resolve), refusal(/package_name is required/));
    const ok = t.checkArguments(fetch, { url: 'https://example.com/x', mode: 'a' }, resolve);
    assert.ok(ok instanceof Promise);
    await ok;
    // The URL argument is declared first: its refusal wins over a later bad enum, as before the split.
    await assert.rejects(async () => t.checkArguments(fetch, { url: 'https://other.test/', mode: 'z' }, resolve), refusal(/url host other\.test is not on the allow-list/));
    await assert.rejects(async () => t.checkArguments(fetch, { url: 'https://example.com/', mode: 'z' }, resolve), refusal(/mode is not one of/));
  });
  test('a tool without declared arguments accepts any', async () => {
    await r.checkArguments(r.get('free')!, { anything: [1, 2, 3] }, resolve);
  });
  test('a refused URL is never echoed in the message (it may carry a secret)', async () => {
    await assert.rejects(async () => r.checkArguments(r.get('http_request_test')!, { url: 'https://evil.test/?token=s3cr3t-value' }, resolve), (e: unknown) => {
      assert.ok(e instanceof GatehouseError);
      assert.ok(!e.message.includes('s3cr3t'));
      return true;
    });
  });
});
