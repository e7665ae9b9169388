/**
 * The OpenTelemetry environment variables the `tracing` section reads at load (docs/gateway.md § Tracing, "Endpoint
 * and environment"): OTEL_EXPORTER_OTLP_(TRACES_)HEADERS, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG) and
 * OTEL_SDK_DISABLED; which wins over which; bounds; errors that name the variable and the entry, never a value; and
 * `config check` showing collector headers from the environment as [REDACTED].
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, productionProblems, redactConfigForDisplay } from '../../src/config/index.js';
import { ENV_HEADER_PREFIX } from '../../src/config/schema/tracing.js';
import { cli } from '../helpers/cli.js';
import { configRefusal, TEST_ENV } from './helpers.js';

const load = (text: string, env: NodeJS.ProcessEnv = {}) => loadConfig({ text, env: { ...TEST_ENV, ...env } });
const ON = 'tracing:\n  enabled: true\n';
const SECRET = 'otlp-key-s3cr3t-0123456789';

/** The header values as the gateway will send them (the prefix marks values read from the environment). */
const headerValues = (h: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [k, v.startsWith(ENV_HEADER_PREFIX) ? v.slice(ENV_HEADER_PREFIX.length) : `ref ${v}`]));

describe('OTEL_EXPORTER_OTLP_HEADERS and OTEL_EXPORTER_OTLP_TRACES_HEADERS', () => {
  test('a comma-separated key=value list, white space trimmed, values percent-decoded ("+" stays a plus)', async () => {
    const t = (await load(ON, { OTEL_EXPORTER_OTLP_HEADERS: ` x-api-key = ${SECRET} ,Authorization=Basic%20dXNlcjpwYXNz+x==,, ` })).tracing;
    assert.deepEqual(headerValues(t.headers), { 'x-api-key': SECRET, Authorization: 'Basic dXNlcjpwYXNz+x==' });
  });

  test('the TRACES_ variable wins whole (no merge); the config\'s headers win over both, even an empty map', async () => {
    const both = { OTEL_EXPORTER_OTLP_HEADERS: 'x-general=general-value', OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-traces=traces-value' };
    assert.deepEqual(headerValues((await load(ON, both)).tracing.headers), { 'x-traces': 'traces-value' });
    assert.deepEqual(headerValues((await load(ON, { ...both, OTEL_EXPORTER_OTLP_TRACES_HEADERS: '  ' })).tracing.headers), { 'x-general': 'general-value' }, 'blank counts as unset');
    assert.deepEqual(headerValues((await load(`${ON}  headers:\n    x-mine: env:MINE\n`, both)).tracing.headers), { 'x-mine': 'ref env:MINE' });
    assert.deepEqual((await load(`${ON}  headers: {}\n`, both)).tracing.headers, {}, 'an explicit empty map: no collector headers');
    assert.deepEqual((await load('{}', both)).tracing.headers, {}, 'tracing off: the environment is not read');
  });

  test('bounded like tracing.headers: at most 64, RFC 9110 token names, none the exporter sets, none twice', async () => {
    const many = Array.from({ length: 65 }, (_, i) => `x-h${i}=v`).join(',');
    assert.deepEqual((await configRefusal(ON, { OTEL_EXPORTER_OTLP_HEADERS: many })).problems, ['OTEL_EXPORTER_OTLP_HEADERS: more than 64 entries']);
    assert.equal(Object.keys((await load(ON, { OTEL_EXPORTER_OTLP_HEADERS: many.slice(0, many.lastIndexOf(',')) })).tracing.headers).length, 64);
    const cases: Array<[string, RegExp]> = [
      ['x-ok=1,bad name=v', /^tracing\.headers \(from OTEL_EXPORTER_OTLP_HEADERS, entry 2\): the name is not a header name/],
      ['Content-Length=5', /^tracing\.headers \(from OTEL_EXPORTER_OTLP_HEADERS, entry 1\): this header is set by the exporter itself$/],
      ['x-a=1,X-A=2', /^tracing\.headers \(from OTEL_EXPORTER_OTLP_HEADERS, entry 2\): a header is named twice/],
      ['x-a=', /^tracing\.headers \(from OTEL_EXPORTER_OTLP_HEADERS, entry 1\): the value is empty$/],
      ['x-a=line%0Abreak', /^tracing\.headers \(from OTEL_EXPORTER_OTLP_HEADERS, entry 1\): the value is longer than 4096 characters or holds a character/],
      [`x-a=${'v'.repeat(4097)}`, /entry 1\): the value is longer than 4096/],
      [`x-a=${'v'.repeat(16_385)}`, /^OTEL_EXPORTER_OTLP_HEADERS: longer than 16384 characters$/],
    ];
    for (const [value, expected] of cases) assert.match((await configRefusal(ON, { OTEL_EXPORTER_OTLP_HEADERS: value })).problems[0] as string, expected, value.slice(0, 40));
  });

  test('an unparsable entry is a config error naming the variable and the entry, never the value', async () => {
    const leaked = `Bearer-${SECRET}`;
    for (const [value, expected] of [
      [`x-ok=1,${leaked}`, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS entry 2: expected key=value'],
      [`x-ok=1,,=${leaked}`, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS entry 3: expected key=value'],
      [`x-key=${leaked}%zz`, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS entry 1: the value is not valid percent-encoding'],
    ] as const) {
      const e = await configRefusal(ON, { OTEL_EXPORTER_OTLP_TRACES_HEADERS: value });
      assert.equal(e.code, 'GH_CONFIG_INVALID');
      assert.deepEqual(e.problems, [expected]);
      assert.ok(!e.message.includes(SECRET), 'the value is never quoted');
    }
  });

  test('config check prints them as [REDACTED]; neither the value nor its encoded form appears', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-otel-env-'));
    try {
      const file = join(dir, 'gatehouse.yaml');
      writeFileSync(file, `${ON}  endpoint: http://127.0.0.1:4318/v1/traces\n`);
      const env = { ...TEST_ENV, GATEHOUSE_HOME: join(dir, 'home'), OTEL_EXPORTER_OTLP_HEADERS: `x-api-key=${SECRET},x-plain=short%2Fvalue` };
      const res = await cli(['config', 'check', '--config', file], { env });
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /x-api-key: "?\[REDACTED\]"?/);
      assert.match(res.stdout, /x-plain: "?\[REDACTED\]"?/);
      for (const leak of [SECRET, 'short/value', 'short%2Fvalue', ENV_HEADER_PREFIX]) assert.ok(!`${res.stdout}${res.stderr}`.includes(leak), leak);
      const shown = redactConfigForDisplay(await load(ON, env)) as { tracing: { headers: Record<string, string> } };
      assert.deepEqual(shown.tracing.headers, { 'x-api-key': '[REDACTED]', 'x-plain': '[REDACTED]' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('production refuses them over plain http to another host, as it refuses tracing.headers', async () => {
    const cfg = await load(`${ON}  endpoint: http://collector.internal:4318/v1/traces\n`, { OTEL_EXPORTER_OTLP_HEADERS: `x-api-key=${SECRET}` });
    assert.deepEqual(productionProblems(cfg).filter((p) => p.startsWith('tracing.')), ['tracing.endpoint is plain http to another host and tracing.headers are set: the collector credentials would travel in clear']);
  });

  test('a file cannot smuggle a value in through the environment marker: it is no reference', async () => {
    const e = await configRefusal(`${ON}  headers:\n    x-api-key: ${ENV_HEADER_PREFIX}${SECRET}\n`);
    assert.match(e.problems[0] as string, /^tracing\.headers\.x-api-key: a reference is/);
  });
});

describe('OTEL_RESOURCE_ATTRIBUTES and tracing.resource_attributes', () => {
  test('merged, the config winning per key; values percent-decoded', async () => {
    const t = (await load(`${ON}  resource_attributes:\n    team: core\n    region: eu-west-1\n`, { OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=staging, team=edge ,note=a%2Cb%3Dc' })).tracing;
    assert.deepEqual({ ...t.resource_attributes }, { 'deployment.environment': 'staging', team: 'core', note: 'a,b=c', region: 'eu-west-1' });
    assert.equal(Object.getPrototypeOf(t.resource_attributes), null, 'a prototype-free map');
  });

  test('service.name: tracing.service_name, then OTEL_SERVICE_NAME, then the attributes\' service.name (config over env), then "gatehouse"', async () => {
    const attrs = { OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-env-attributes,k8s.pod.name=p-1' };
    const name = async (yaml: string, env: NodeJS.ProcessEnv) => {
      const t = (await load(`${ON}${yaml}`, env)).tracing;
      assert.equal(t.resource_attributes['service.name'], undefined, 'service.name is service_name\'s');
      return t.service_name;
    };
    assert.equal(await name('  service_name: from-config\n', { ...attrs, OTEL_SERVICE_NAME: 'from-otel-service-name' }), 'from-config');
    assert.equal(await name('', { ...attrs, OTEL_SERVICE_NAME: 'from-otel-service-name' }), 'from-otel-service-name');
    assert.equal(await name('  resource_attributes:\n    service.name: from-config-attributes\n', attrs), 'from-config-attributes');
    assert.equal(await name('', attrs), 'from-env-attributes');
    assert.equal(await name('', {}), 'gatehouse');
    assert.match((await configRefusal(ON, { OTEL_RESOURCE_ATTRIBUTES: 'service.name=bad%01name' })).problems[0] as string, /^tracing\.resource_attributes \(from OTEL_RESOURCE_ATTRIBUTES, entry 1\)/);
  });

  test('bounded: 64 attributes, names of at most 128, values of at most 256 without control characters', async () => {
    const list = (n: number) => Array.from({ length: n }, (_, i) => `a${i}=v`).join(',');
    assert.deepEqual((await configRefusal(ON, { OTEL_RESOURCE_ATTRIBUTES: list(65) })).problems, ['OTEL_RESOURCE_ATTRIBUTES: more than 64 entries']);
    const yaml64 = `${ON}  resource_attributes:\n${Array.from({ length: 64 }, (_, i) => `    c${i}: v\n`).join('')}`;
    assert.match((await configRefusal(yaml64, { OTEL_RESOURCE_ATTRIBUTES: 'extra=1' })).problems[0] as string, /^tracing\.resource_attributes \(with OTEL_RESOURCE_ATTRIBUTES\): at most 64/);
    const cases: Array<[string, RegExp]> = [
      ['ok=1,=v', /^OTEL_RESOURCE_ATTRIBUTES entry 2: expected key=value$/],
      ['ok=1,novalue', /^OTEL_RESOURCE_ATTRIBUTES entry 2: expected key=value$/],
      ['9lives=1', /^tracing\.resource_attributes \(from OTEL_RESOURCE_ATTRIBUTES, entry 1\): an attribute name/],
      ['__proto__=x', /entry 1\): an attribute name/],
      [`a=${'v'.repeat(257)}`, /entry 1\): the value must be 1 to 256 characters/],
      ['a=%E0%A4%A', /^OTEL_RESOURCE_ATTRIBUTES entry 1: the value is not valid percent-encoding$/],
    ];
    for (const [value, expected] of cases) assert.match((await configRefusal(ON, { OTEL_RESOURCE_ATTRIBUTES: value })).problems[0] as string, expected, value.slice(0, 40));
    assert.match((await configRefusal(`${ON}  resource_attributes:\n    a: "x\\ty"\n`)).problems[0] as string, /^tracing\.resource_attributes\.a: no control characters/);
    assert.match((await configRefusal(`${ON}  resource_attributes:\n    "bad key": x\n`)).problems[0] as string, /^tracing\.resource_attributes\.bad key: an attribute name/);
  });
});

describe('OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG', () => {
  const sampling = async (env: NodeJS.ProcessEnv, yaml = '') => {
    const t = (await load(`${ON}${yaml}`, env)).tracing;
    return [t.sample_ratio, t.parent_based] as const;
  };

  test('every supported sampler maps onto sample_ratio and parent_based', async () => {
    assert.deepEqual(await sampling({}), [1, true], 'unset: the spec\'s default, parentbased_always_on');
    assert.deepEqual(await sampling({ OTEL_TRACES_SAMPLER: 'always_on', OTEL_TRACES_SAMPLER_ARG: '0.5' }), [1, false], 'the argument is for the ratio samplers only');
    assert.deepEqual(await sampling({ OTEL_TRACES_SAMPLER: 'always_off' }), [0, false]);
    assert.deepEqual(await sampling({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }), [0.25, false]);
    assert.deepEqual(await sampling({ OTEL_TRACES_SAMPLER: 'traceidratio' }), [1, false], 'no argument: 1.0, as the spec says');
    assert.deepEqual(await sampling({ OTEL_TRACES_SAMPLER: 'parentbased_always_on' }), [1, true]);
    assert.deepEqual(await sampling({ OTEL_TRACES_SAMPLER: 'parentbased_always_off' }), [0, true]);
    assert.deepEqual(await sampling({ OTEL_TRACES_SAMPLER: ' ParentBased_TraceIdRatio ', OTEL_TRACES_SAMPLER_ARG: '1e-2' }), [0.01, true]);
  });

  test('the config wins: with sample_ratio or parent_based written, neither variable is read', async () => {
    const env = { OTEL_TRACES_SAMPLER: 'always_off' };
    assert.deepEqual(await sampling(env, '  sample_ratio: 0.5\n'), [0.5, true]);
    assert.deepEqual(await sampling(env, '  parent_based: false\n'), [1, false]);
    assert.deepEqual(await sampling({ OTEL_TRACES_SAMPLER: 'jaeger_remote' }, '  sample_ratio: 1\n'), [1, true], 'not read, so not judged');
  });

  test('an unsupported sampler is a config error naming it; a bad argument names the variable', async () => {
    const e = await configRefusal(ON, { OTEL_TRACES_SAMPLER: 'jaeger_remote' });
    assert.equal(e.code, 'GH_CONFIG_INVALID');
    assert.match(e.problems[0] as string, /^tracing \(from OTEL_TRACES_SAMPLER\): unsupported sampler "jaeger_remote" \(supported: always_on, always_off, traceidratio, parentbased_always_on/);
    for (const arg of ['1.5', '-0.1', 'half', '0x1', 'Infinity']) {
      assert.deepEqual((await configRefusal(ON, { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: arg })).problems, ['tracing.sample_ratio (from OTEL_TRACES_SAMPLER_ARG): a number from 0 to 1 (a decimal such as 0.25)'], arg);
    }
  });
});

describe('OTEL_SDK_DISABLED', () => {
  test('"true" (any case) turns tracing off, even enabled: true, and nothing else is read; anything else leaves it on', async () => {
    const cfg = await load(ON, { OTEL_SDK_DISABLED: ' TRUE ', OTEL_TRACES_SAMPLER: 'no-such-sampler', OTEL_EXPORTER_OTLP_HEADERS: 'broken' });
    assert.equal(cfg.tracing.enabled, false);
    assert.equal(cfg.tracing.endpoint, undefined);
    for (const v of ['false', '1', 'yes', '']) assert.equal((await load(ON, { OTEL_SDK_DISABLED: v })).tracing.enabled, true, v);
    assert.equal((await load('{}', { OTEL_SDK_DISABLED: 'false' })).tracing.enabled, false, 'it never turns tracing on');
  });
});
