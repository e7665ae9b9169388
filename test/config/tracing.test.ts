/**
 * The `tracing` section (docs/configuration.md § tracing): closed schema, OTEL_* environment defaults and which wins,
 * the production refusal of collector credentials over plain http, and `config check`'s redaction of header values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig, productionProblems, redactConfigForDisplay, validateConfig } from '../../src/config/index.js';
import { configRefusal, TEST_ENV } from './helpers.js';

const load = (text: string, env: NodeJS.ProcessEnv = {}) => loadConfig({ text, env: { ...TEST_ENV, ...env } });

test('defaults: off, ratio 1, trusted proxies only, no principal, batches of 512 every 5s, queue 2048, 10s timeout', async () => {
  const t = (await load('{}')).tracing;
  assert.equal(t.enabled, false);
  assert.equal(t.endpoint, undefined, 'nothing is resolved while tracing is off');
  assert.equal(t.sample_ratio, 1);
  assert.equal(t.trust_incoming, 'trusted_proxies');
  assert.equal(t.record_principal, false);
  assert.deepEqual(t.batch, { max_spans: 512, interval: 5000, max_queue: 2048 });
  assert.equal(t.timeout, 10_000);
  assert.equal(t.tls.insecure_skip_verify, false);
});

test('errors name their path: a ratio out of range, an unknown key, a bad endpoint, a reserved or unreferenced header', async () => {
  const ratio = await configRefusal('tracing:\n  sample_ratio: 2\n');
  assert.equal(ratio.code, 'GH_CONFIG_INVALID');
  assert.match(ratio.problems[0] as string, /^tracing\.sample_ratio: /);
  assert.deepEqual((await configRefusal('tracing:\n  sampl_ratio: 0.5\n')).problems, ['tracing.sampl_ratio: unknown key (did you mean "sample_ratio"?)']);
  assert.match((await configRefusal('tracing:\n  batch:\n    max_span: 5\n')).problems[0] as string, /^tracing\.batch\.max_span: unknown key/);
  assert.match((await configRefusal('tracing:\n  endpoint: grpc://collector:4317\n')).problems[0] as string, /^tracing\.endpoint: expected an http/);
  const userinfo = await configRefusal('tracing:\n  endpoint: https://user:hunter2pass@collector/v1/traces\n');
  assert.match(userinfo.problems[0] as string, /^tracing\.endpoint: no credentials in the URL/);
  assert.ok(!userinfo.message.includes('hunter2pass'), 'the value is never quoted');
  assert.match((await configRefusal('tracing:\n  headers:\n    Content-Type: env:X\n')).problems[0] as string, /^tracing\.headers\.Content-Type: this header is set by the exporter/);
  assert.match((await configRefusal('tracing:\n  headers:\n    x-api-key: plaintextvalue\n')).problems[0] as string, /^tracing\.headers\.x-api-key: a reference is/);
  assert.match((await configRefusal('tracing:\n  trust_incoming: everyone\n')).problems[0] as string, /^tracing\.trust_incoming: /);
});

test('endpoint: the config wins, then OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, then OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, then localhost:4318', async () => {
  const on = 'tracing:\n  enabled: true\n';
  const both = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
  assert.equal((await load(`${on}  endpoint: https://mine.example/v1/traces\n`, both)).tracing.endpoint, 'https://mine.example/v1/traces');
  assert.equal((await load(on, both)).tracing.endpoint, 'https://traces.example/otlp');
  assert.equal((await load(on, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).tracing.endpoint, 'http://collector:4318/v1/traces');
  assert.equal((await load(on, { OTEL_EXPORTER_OTLP_ENDPOINT: '  ' })).tracing.endpoint, 'http://localhost:4318/v1/traces', 'blank counts as unset');
  assert.equal((await load(on)).tracing.endpoint, 'http://localhost:4318/v1/traces');
  assert.equal((await load('{}', both)).tracing.endpoint, undefined, 'tracing off: the environment is not read');
  const bad = await configRefusal(on, { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317?key=s3cr3tvalue' });
  assert.match(bad.problems[0] as string, /^tracing\.endpoint \(from OTEL_EXPORTER_OTLP_ENDPOINT\): /);
  assert.ok(!bad.message.includes('s3cr3tvalue'));
});

test('service_name: the config wins, then OTEL_SERVICE_NAME (seed 003 §9), then "gatehouse"', async () => {
  const on = 'tracing:\n  enabled: true\n';
  assert.equal((await load(`${on}  service_name: edge\n`, { OTEL_SERVICE_NAME: 'nodetool-api' })).tracing.service_name, 'edge');
  assert.equal((await load(on, { OTEL_SERVICE_NAME: 'nodetool-api' })).tracing.service_name, 'nodetool-api');
  assert.equal((await load(on)).tracing.service_name, 'gatehouse');
  assert.match((await configRefusal(on, { OTEL_SERVICE_NAME: 'bad\u0001name' })).problems[0] as string, /^tracing\.service_name \(from OTEL_SERVICE_NAME\)/);
});

test('production refuses collector credentials over plain http to another host; loopback and https pass', () => {
  const cfg = (endpoint: string, headers: Record<string, string> = { 'x-api-key': 'env:COLLECTOR_KEY' }) =>
    validateConfig({ state_dir: '/tmp/gh-test-home', tracing: { enabled: true, endpoint, headers } }, { env: { GATEHOUSE_ENV: 'production' } });
  const refusal = (c: ReturnType<typeof cfg>) => productionProblems(c).filter((p) => p.startsWith('tracing.'));
  assert.deepEqual(refusal(cfg('http://collector:4318/v1/traces')), ['tracing.endpoint is plain http to another host and tracing.headers are set: the collector credentials would travel in clear']);
  assert.deepEqual(refusal(cfg('HTTP://10.0.0.5:4318/v1/traces')), [refusal(cfg('http://collector:4318/v1/traces'))[0]]);
  assert.deepEqual(refusal(cfg('http://127.0.0.1:4318/v1/traces')), []);
  assert.deepEqual(refusal(cfg('http://[::1]:4318/v1/traces')), []);
  assert.deepEqual(refusal(cfg('https://collector/v1/traces')), []);
  assert.deepEqual(refusal(cfg('http://collector:4318/v1/traces', {})), [], 'no credentials to expose (doctor warns instead)');
});

test('config check shows tracing.headers as [REDACTED], like every headers map', async () => {
  const shown = redactConfigForDisplay(await load('tracing:\n  headers:\n    x-api-key: env:COLLECTOR_KEY\n')) as { tracing: { headers: Record<string, string> } };
  assert.deepEqual(shown.tracing.headers, { 'x-api-key': '[REDACTED]' });
});

test('a config error is a ConfigError with GH_CONFIG_INVALID (no code of its own)', () => {
  assert.throws(() => validateConfig({ tracing: { batch: { max_queue: 0 } } }, { env: {} }), (e: unknown) => e instanceof ConfigError && e.code === 'GH_CONFIG_INVALID' && /^tracing\.batch\.max_queue: /.test(e.problems[0] as string));
});
