/**
 * The alert engine's intrusion detectors (docs/audit.md § Alerts): credential_spread, scope_probing,
 * malformed_requests — what each counts, once per key per window, defaults, and bounded, prototype-safe tables.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CountWindow, DistinctWindow, MAX_KEYS } from '../../src/audit/detectors.js';
import { GatehouseError } from '../../src/core/errors.js';
import { auditConfig } from './helpers.js';
import { engineWith, malformed, principal, request } from './alerts-fixtures.js';

const MINUTE = 60_000;

describe('credential_spread', () => {
  test('one principal from three sources within the window: one alert naming the principal and the sources', async () => {
    const t = engineWith({ credential_spread: { enabled: true, threshold: 3, window: '10m' } });
    const ops = principal('ops', 'token');
    t.see(request({ who: ops, ip: '10.0.0.1' }));
    t.see(request({ who: ops, ip: '10.0.0.1' }));
    t.clock.advance(MINUTE);
    t.see(request({ who: ops, ip: '10.0.0.2' }));
    t.clock.advance(MINUTE);
    t.see(request({ who: ops, ip: '203.0.113.9' }));
    // Still inside the same window: more sources do not raise a second alert.
    for (let i = 0; i < 20; i++) t.see(request({ who: ops, ip: `198.51.100.${i}` }));
    const alerts = await t.alerts();
    assert.equal(alerts.length, 1, JSON.stringify(alerts));
    const a = alerts[0];
    assert.equal(a?.kind, 'credential_spread');
    assert.equal(a?.subject, 'ops');
    assert.equal(a?.auth_method, 'token');
    assert.equal(a?.distinct, 3);
    assert.deepEqual(a?.sources, ['10.0.0.1', '10.0.0.2', '203.0.113.9']);
    assert.equal(a?.source_ip, '203.0.113.9', 'the request that crossed the threshold');
    assert.equal(a?.window_ms, 10 * MINUTE);
  });

  test('alerts again for the same principal once its window has passed', async () => {
    const t = engineWith({ credential_spread: { enabled: true, threshold: 2, window: '10m' } });
    t.see(request({ ip: '10.0.0.1' }));
    t.see(request({ ip: '10.0.0.2' }));
    t.see(request({ ip: '10.0.0.3' }));
    t.clock.advance(10 * MINUTE);
    t.see(request({ ip: '10.0.0.4' }));
    t.see(request({ ip: '10.0.0.5' }));
    assert.deepEqual((await t.alerts()).map((a) => a.sources), [['10.0.0.1', '10.0.0.2'], ['10.0.0.4', '10.0.0.5']]);
  });

  test('sources further apart than the window do not add up; the tailscale node is the source when present', async () => {
    const t = engineWith({ credential_spread: { enabled: true, threshold: 3, window: '10m' } });
    t.see(request({ ip: '10.0.0.1' }));
    t.see(request({ ip: '10.0.0.2' }));
    t.clock.advance(11 * MINUTE);
    t.see(request({ ip: '10.0.0.3' }));
    // Three addresses behind one tailscale node are one source.
    for (const ip of ['100.64.0.1', '100.64.0.2', '100.64.0.3']) t.see(request({ ip, node: 'laptop' }));
    assert.deepEqual(await t.alerts(), []);
  });

  test('a subject under two authentication methods is two principals; anonymous requests and failed logins are not sightings', async () => {
    const t = engineWith({ credential_spread: { enabled: true, threshold: 2, window: '10m' } });
    t.see(request({ who: principal('ops', 'token'), ip: '10.0.0.1' }));
    t.see(request({ who: principal('ops', 'mtls'), ip: '10.0.0.2' }));
    t.see(request({ who: undefined, ip: '10.0.0.3' }));
    t.see(request({ who: undefined, ip: '10.0.0.4' }));
    const failed = request({ who: principal('ops', 'token'), ip: '10.0.0.5' });
    failed.error = new GatehouseError('GH_TOKEN_INVALID');
    t.see(failed);
    assert.deepEqual(await t.alerts(), []);
  });

  test('off by default: it looks at every request', async () => {
    assert.equal(auditConfig({}).alerts.credential_spread.enabled, false);
    const t = engineWith({});
    for (let i = 0; i < 10; i++) t.see(request({ ip: `10.0.0.${i}` }));
    assert.deepEqual(await t.alerts(), []);
  });
});

describe('scope_probing', () => {
  test('one principal denied on ten distinct tools within the window: one alert listing the targets', async () => {
    const t = engineWith({});
    for (let i = 0; i < 9; i++) t.see(request({ deny: true, tool: `tool_${i}` }));
    t.see(request({ deny: false, tool: 'allowed_tool' }));
    t.see(request({ deny: true, tool: 'tool_9' }));
    for (let i = 10; i < 30; i++) t.see(request({ deny: true, tool: `tool_${i}` }));
    const alerts = await t.alerts();
    const probes = alerts.filter((a) => a.kind === 'scope_probing');
    assert.equal(probes.length, 1, JSON.stringify(alerts));
    assert.equal(probes[0]?.subject, 'ops');
    assert.equal(probes[0]?.distinct, 10);
    assert.deepEqual(probes[0]?.targets, Array.from({ length: 10 }, (_, i) => `mcp:tool_${i}`));
    assert.equal(probes[0]?.window_ms, 5 * MINUTE);
  });

  test('the same target denied again and again is not probing (repeated_auth_failures covers the volume)', async () => {
    const t = engineWith({ auth_failures: { threshold: 1000, window: '1m' } });
    for (let i = 0; i < 50; i++) t.see(request({ deny: true, tool: 'install_package', args: { i } }));
    assert.deepEqual(await t.alerts(), []);
  });

  test('targets are route and tool, MCP method or action names — never the path, query or resource URI', async () => {
    const t = engineWith({ scope_probing: { threshold: 4 } });
    t.see(request({ deny: true, mcpMethod: 'resources/read', resource: 'file:///etc/shadow?key=uri-secret-1', path: '/mcp?token=path-secret-1' }));
    t.see(request({ deny: true, mcpMethod: 'resources/read', resource: 'file:///other?key=uri-secret-2', path: '/mcp' }));
    t.see(request({ deny: true, route: 'api', action: 'delete', path: '/api/items/1?api_key=path-secret-2' }));
    t.see(request({ deny: true, route: 'api', action: 'write' }));
    t.see(request({ deny: true, route: 'billing', tool: 'refund' }));
    const alerts = await t.alerts();
    assert.equal(alerts.length, 1, JSON.stringify(alerts));
    assert.deepEqual(alerts[0]?.targets, ['mcp:resources/read', 'api:delete', 'api:write', 'billing:refund']);
    assert.doesNotMatch(JSON.stringify(alerts), /secret|shadow|\/mcp|\/api/);
  });

  test('anonymous denials count per source', async () => {
    const t = engineWith({ scope_probing: { threshold: 3 } });
    for (const tool of ['a', 'b']) t.see(request({ who: undefined, deny: true, tool, ip: '192.0.2.1' }));
    for (const tool of ['c', 'd']) t.see(request({ who: undefined, deny: true, tool, ip: '192.0.2.2' }));
    t.see(request({ who: undefined, deny: true, tool: 'e', ip: '192.0.2.1' }));
    const alerts = await t.alerts();
    assert.deepEqual(alerts.map((a) => [a.kind, a.source, a.subject, a.distinct]), [['scope_probing', '192.0.2.1', undefined, 3]]);
  });

  test('on by default, and off when disabled', async () => {
    assert.deepEqual(auditConfig({}).alerts.scope_probing, { enabled: true, threshold: 10, window: 5 * MINUTE });
    const t = engineWith({ scope_probing: { enabled: false } });
    for (let i = 0; i < 20; i++) t.see(request({ deny: true, tool: `t${i}` }));
    assert.deepEqual(await t.alerts(), []);
  });
});

describe('malformed_requests', () => {
  test('ten requests from one source refused as malformed: one alert with the count and the codes', async () => {
    const t = engineWith({});
    const codes = ['GH_PATH_INVALID', 'GH_BODY_TOO_LARGE', 'GH_JSONRPC_INVALID', 'GH_BAD_REQUEST', 'GH_HEADER_INVALID'] as const;
    for (let i = 0; i < 9; i++) t.see(malformed(codes[i % codes.length] as (typeof codes)[number], '198.51.100.7'));
    t.see(malformed('GH_PATH_INVALID', '198.51.100.8'));
    t.see(malformed('GH_PATH_INVALID', '198.51.100.7'));
    for (let i = 0; i < 30; i++) t.see(malformed('GH_PATH_INVALID', '198.51.100.7'));
    const alerts = await t.alerts();
    assert.equal(alerts.length, 1, JSON.stringify(alerts));
    const a = alerts[0];
    assert.deepEqual([a?.kind, a?.source, a?.requests, a?.window_ms], ['malformed_requests', '198.51.100.7', 10, MINUTE]);
    assert.deepEqual(a?.error_codes, [...codes]);
  });

  test('a client hanging up (closed connection, aborted upload) is not malformed; other errors are not counted', async () => {
    const t = engineWith({ malformed_requests: { threshold: 3 } });
    for (let i = 0; i < 5; i++) t.see(malformed('GH_CLIENT_CLOSED', '192.0.2.1', 'The client closed the connection.'));
    for (let i = 0; i < 5; i++) t.see(malformed('GH_CLIENT_CLOSED', '192.0.2.1', 'The request was aborted.'));
    for (let i = 0; i < 5; i++) t.see(malformed('GH_UPSTREAM_UNAVAILABLE', '192.0.2.1'));
    for (let i = 0; i < 5; i++) t.see(malformed('GH_NOT_FOUND', '192.0.2.1'));
    assert.deepEqual(await t.alerts(), []);
  });

  test('refusals further apart than the window do not add up; after the window the source alerts again', async () => {
    const t = engineWith({ malformed_requests: { threshold: 3, window: '1m' } });
    t.see(malformed('GH_PATH_INVALID', '192.0.2.1'));
    t.see(malformed('GH_PATH_INVALID', '192.0.2.1'));
    t.clock.advance(MINUTE);
    t.see(malformed('GH_PATH_INVALID', '192.0.2.1'));
    t.see(malformed('GH_PATH_INVALID', '192.0.2.1'));
    t.see(malformed('GH_PATH_INVALID', '192.0.2.1'));
    t.see(malformed('GH_PATH_INVALID', '192.0.2.1'));
    t.clock.advance(MINUTE);
    for (let i = 0; i < 3; i++) t.see(malformed('GH_PATH_INVALID', '192.0.2.1'));
    assert.deepEqual((await t.alerts()).map((a) => a.requests), [3, 3]);
  });
});

describe('bounded, prototype-safe tables', () => {
  test('a DistinctWindow keeps at most maxKeys keys, evicting the oldest', () => {
    const w = new DistinctWindow({ window: MINUTE, threshold: 3, maxKeys: 100 });
    for (let i = 0; i < 1000; i++) assert.equal(w.add(`k${i}`, 'a', 0), undefined);
    assert.deepEqual(w.size, { keys: 100, entries: 100 });
    // k0 was evicted: its first value is forgotten, so two more values do not reach the threshold of three.
    assert.equal(w.add('k0', 'b', 1), undefined);
    assert.equal(w.add('k0', 'c', 2), undefined);
    // k999 was kept.
    assert.equal(w.add('k999', 'b', 1), undefined);
    assert.deepEqual(w.add('k999', 'c', 2), { distinct: 3, values: ['a', 'b', 'c'] });
  });

  test('a DistinctWindow keeps at most maxEntries values over all keys, evicting idle keys before one in use', () => {
    const w = new DistinctWindow({ window: MINUTE, threshold: 30, maxKeys: 1000, maxEntries: 50 });
    for (let i = 0; i < 20; i++) w.add('busy', `v${i}`, 0);
    for (let i = 0; i < 100; i++) {
      w.add(`k${i}`, 'a', 1 + i);
      w.add(`k${i}`, 'b', 1 + i);
      w.add('busy', `v${i % 20}`, 1 + i);
      assert.ok(w.size.entries <= 50, JSON.stringify(w.size));
    }
    // 'busy' kept its twenty values: ten more reach the threshold of thirty.
    let hit;
    for (let i = 0; i < 10; i++) hit = w.add('busy', `x${i}`, 200);
    assert.equal(hit?.distinct, 30);
  });

  test('a CountWindow keeps at most maxKeys keys; each key holds fewer than threshold times', () => {
    const w = new CountWindow({ window: MINUTE, threshold: 5, mute: true, maxKeys: 10 });
    for (let i = 0; i < 100; i++) for (let j = 0; j < 4; j++) w.add(`s${i}`, j);
    assert.deepEqual(w.size, { keys: 10, entries: 40 });
  });

  test('the default cap is 10 000 keys per detector', () => {
    const w = new DistinctWindow({ window: MINUTE, threshold: 2 });
    for (let i = 0; i < MAX_KEYS + 500; i++) w.add(`p${i}`, 'x', 0);
    assert.equal(w.size.keys, MAX_KEYS);
  });

  test('principals, sources and targets named like Object.prototype members are plain keys', async () => {
    const t = engineWith({ credential_spread: { enabled: true, threshold: 2 }, scope_probing: { threshold: 2 }, malformed_requests: { threshold: 2 } });
    for (const ip of ['__proto__', 'constructor']) t.see(request({ who: principal('__proto__'), ip }));
    for (const tool of ['__proto__', 'hasOwnProperty']) t.see(request({ who: principal('constructor'), deny: true, tool }));
    for (let i = 0; i < 2; i++) t.see(malformed('GH_PATH_INVALID', 'toString'));
    const alerts = await t.alerts();
    assert.deepEqual(alerts.map((a) => a.kind).sort(), ['credential_spread', 'malformed_requests', 'scope_probing']);
    assert.equal(Object.getPrototypeOf({}), Object.prototype);
    assert.deepEqual(Object.keys(Object.prototype), []);
  });
});

describe('configuration', () => {
  test('defaults, and thresholds and windows out of range are refused', () => {
    const a = auditConfig({}).alerts;
    assert.deepEqual(a.credential_spread, { enabled: false, threshold: 3, window: 10 * MINUTE });
    assert.deepEqual(a.malformed_requests, { enabled: true, threshold: 10, window: MINUTE });
    assert.throws(() => auditConfig({ alerts: { credential_spread: { threshold: 1 } } }));
    assert.throws(() => auditConfig({ alerts: { scope_probing: { threshold: 1001 } } }));
    assert.throws(() => auditConfig({ alerts: { malformed_requests: { window: '500ms' } } }));
    assert.throws(() => auditConfig({ alerts: { malformed_requests: { window: '2d' } } }));
    assert.throws(() => auditConfig({ alerts: { scope_probing: { thresold: 3 } } }), 'closed schema');
    assert.throws(() => auditConfig({ alerts: { webhook_url: 'ftp://alerts.internal/x' } }));
  });
});
