/**
 * Production refused collector credentials (tracing.headers) sent over plain http off this host, but accepted the same
 * for a route's injected upstream credential (routes[].upstream_auth) and for audit sink and alert webhook headers.
 * The rule now covers all of them; loopback stays allowed, as for tracing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../src/config/index.js';
import { productionRefusals } from '../../src/gateway/production.js';
import { runDoctor } from '../../src/doctor/index.js';

const base = {
  state_dir: '/tmp/gh-prod-test',
  server: { tls: { cert_file: '/etc/gh/server.crt', key_file: '/etc/gh/server.key' } },
  auth: { methods: ['token'], token: { secret: 'c'.repeat(32) } },
};
const prod = (raw: Record<string, unknown>, profile = 'production') => validateConfig({ ...base, ...raw }, { env: { GATEHOUSE_ENV: profile, UP_KEY: 'k' } });
const route = (upstream: string, upstream_auth: Record<string, unknown>) => ({ routes: [{ prefix: '/api', upstream, upstream_auth }] });

const CREDENTIALS: Record<string, unknown>[] = [
  { bearer: 'env:UP_KEY' },
  { basic: { username: 'svc', password: 'env:UP_KEY' } },
  { headers: { 'X-Api-Key': 'env:UP_KEY' } },
  { oauth2: { token_url: 'https://idp.example/token', client_id: 'gw', client_secret: 'env:UP_KEY' } },
];

test('routes[].upstream_auth over plain http to another host is refused, for every kind of credential', () => {
  for (const ua of CREDENTIALS) {
    for (const upstream of ['http://api.internal:8080', 'HTTP://10.0.0.7/base']) {
      const problems = productionRefusals(prod(route(upstream, ua)));
      assert.ok(problems.includes('routes[0].upstream_auth is set and routes[0].upstream is plain http to another host: the injected upstream credential would travel in clear'), `${upstream} ${JSON.stringify(ua)}:\n${problems.join('\n')}`);
    }
  }
});

test('loopback and https upstreams with credentials, and plain http without one, stay accepted', () => {
  for (const upstream of ['http://127.0.0.1:8080', 'http://localhost:9000/x', 'http://[::1]:8080', 'https://api.internal']) {
    assert.deepEqual(productionRefusals(prod(route(upstream, CREDENTIALS[0] as Record<string, unknown>))), [], upstream);
  }
  assert.deepEqual(productionRefusals(prod({ routes: [{ prefix: '/api', upstream: 'http://api.internal' }] })), []);
});

test('routes[].upstream_auth with error_bodies: pass is refused (the injected credential is scrubbed from error bodies only when they are redacted or replaced)', () => {
  for (const ua of CREDENTIALS) {
    const problems = productionRefusals(prod({ routes: [{ prefix: '/api', upstream: 'https://api.internal', upstream_auth: ua, error_bodies: 'pass' }] }));
    assert.deepEqual(problems, ['routes[0].upstream_auth is set and routes[0].error_bodies is pass: an upstream that echoes its request in an error body would hand the injected credential to the client; use redact (the default) or replace'], JSON.stringify(ua));
  }
  for (const error_bodies of ['redact', 'replace']) assert.deepEqual(productionRefusals(prod({ routes: [{ prefix: '/api', upstream: 'https://api.internal', upstream_auth: CREDENTIALS[0], error_bodies }] })), [], error_bodies);
  assert.deepEqual(productionRefusals(prod({ routes: [{ prefix: '/api', upstream: 'https://api.internal', error_bodies: 'pass' }] })), [], 'pass without an injected credential: warned by doctor only');
});

test('audit.sinks[].headers and audit.alerts.headers over plain http to another host are refused; loopback and https are not', () => {
  const sink = (url: string) => ({ audit: { sinks: [{ type: 'stdout' }, { type: 'http', url, headers: { Authorization: 'Splunk abc' } }] } });
  assert.ok(productionRefusals(prod(sink('http://siem.example:8088/services/collector'))).includes('audit.sinks[1].headers are set and audit.sinks[1].url is plain http to another host: the sink credentials would travel in clear'));
  for (const url of ['http://127.0.0.1:8088/c', 'https://siem.example/c']) assert.deepEqual(productionRefusals(prod(sink(url))), [], url);
  assert.deepEqual(productionRefusals(prod({ audit: { sinks: [{ type: 'http', url: 'http://siem.example/c' }] } })), [], 'no headers: warned by doctor only');

  const alerts = (webhook_url: string, enabled = true) => ({ audit: { alerts: { enabled, webhook_url, headers: { 'X-Token': 'abc' } } } });
  assert.ok(productionRefusals(prod(alerts('http://alerts.example/hook'))).includes('audit.alerts.headers are set and audit.alerts.webhook_url is plain http to another host: the webhook credentials would travel in clear'));
  assert.deepEqual(productionRefusals(prod(alerts('http://localhost:9/hook'))), []);
  assert.deepEqual(productionRefusals(prod(alerts('http://alerts.example/hook', false))), [], 'alerts off: nothing is sent');
});

test('doctor fails routes.plain_http, audit.sink_transport and audit.alerts in production, each reported once', async () => {
  const cfg = prod({
    ...route('http://api.internal', { bearer: 'env:UP_KEY' }),
    audit: { sinks: [{ type: 'http', url: 'http://siem.example/c', headers: { Authorization: 'x' } }], alerts: { enabled: true, webhook_url: 'http://alerts.example/hook', headers: { 'X-Token': 'abc' } } },
  });
  const report = await runDoctor(cfg, { env: {} });
  for (const [id, path] of [['routes.plain_http', 'routes[0].upstream_auth'], ['audit.sink_transport', 'audit.sinks[0].headers'], ['audit.alerts', 'audit.alerts.headers']] as const) {
    const c = report.checks.find((x) => x.id === id);
    assert.equal(c?.status, 'fail', `${id}: ${c?.detail}`);
    assert.equal(c?.detail.split(path).length, 2, `${id} names ${path} once: ${c?.detail}`);
  }
});
