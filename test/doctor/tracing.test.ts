/** tracing.export: collector transport, the gRPC port, trust of incoming trace context; the refusals it reports. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkOf } from './helpers.js';

const tracing = (t: Record<string, unknown>) => ({ tracing: { enabled: true, ...t } });

test('tracing off is skipped; an https collector with defaults passes', async () => {
  assert.equal((await checkOf('tracing.export', {})).status, 'skip');
  const ok = await checkOf('tracing.export', tracing({ endpoint: 'https://collector.internal/v1/traces' }));
  assert.equal(ok.status, 'pass');
  assert.match(ok.detail, /collector\.internal/);
  assert.match(ok.source, /seed 003 §9/);
});

test('collector credentials over plain http off loopback fail in production (the refusal), warn in development; the URL is never shown', async () => {
  const raw = tracing({ endpoint: 'http://collector:4318/v1/traces?token=abc123query', headers: { 'x-api-key': 'env:COLLECTOR_KEY' } });
  const prod = await checkOf('tracing.export', raw);
  assert.equal(prod.status, 'fail');
  assert.match(prod.detail, /tracing\.endpoint is plain http to another host and tracing\.headers are set/);
  assert.ok(!prod.detail.includes('abc123query'));
  assert.equal((await checkOf('tracing.export', raw, { profile: 'development' })).status, 'warn');
});

test('warns: plain http off loopback without credentials, the OTLP/gRPC port 4317, trust_incoming: all; an unverified https collector fails in production', async () => {
  const clear = await checkOf('tracing.export', tracing({ endpoint: 'http://collector:4318/v1/traces' }));
  assert.equal(clear.status, 'warn');
  assert.match(clear.detail, /plain http to collector:4318/);
  const grpc = await checkOf('tracing.export', tracing({ endpoint: 'https://collector:4317' }));
  assert.equal(grpc.status, 'warn');
  assert.match(grpc.detail, /port 4317, OTLP\/gRPC's port/);
  const all = await checkOf('tracing.export', tracing({ endpoint: 'https://collector/v1/traces', trust_incoming: 'all' }));
  assert.equal(all.status, 'warn');
  assert.match(all.detail, /any client picks its trace id/);
  const skip = await checkOf('tracing.export', tracing({ endpoint: 'https://collector/v1/traces', tls: { insecure_skip_verify: true } }));
  assert.equal(skip.status, 'fail');
  assert.match(skip.detail, /tracing\.tls\.insecure_skip_verify is true/);
});
