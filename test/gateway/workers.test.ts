import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { loadConfig } from '../../src/config/index.js';
import { EventEmitter } from 'node:events';
import { configFromSupervisor, currentWorker, workerConfig, workerCount } from '../../src/gateway/workers.js';

test('workerConfig gives each worker its share of the connection limits, rounded up', async () => {
  const cfg = await loadConfig({ text: 'server:\n  limits:\n    max_connections: 5\n    max_connections_per_ip: 3\n', env: {} });
  const two = workerConfig(cfg, 2);
  assert.equal(two.server.limits.max_connections, 3);
  assert.equal(two.server.limits.max_connections_per_ip, 2);
  assert.equal(workerConfig(cfg, 8).server.limits.max_connections_per_ip, 1);
  // The rest of the configuration is the same object graph, and the original is untouched.
  assert.equal(two.routes, cfg.routes);
  assert.equal(cfg.server.limits.max_connections, 5);
  // An HTTP audit sink's spool budget is split the same way (each worker has a spool of its own).
  const sink = await loadConfig({ text: 'audit:\n  sinks:\n    - type: http\n      url: https://siem.example/ingest\n      spool_max_bytes: 10mb\n', env: {} });
  const spoolOf = (c: typeof sink) => (c.audit.sinks[0] as { spool_max_bytes: number }).spool_max_bytes;
  assert.equal(spoolOf(workerConfig(sink, 3)), Math.ceil(spoolOf(sink) / 3));
  assert.equal(spoolOf(sink), 10 * 1024 * 1024);
  assert.equal(workerConfig(cfg, 1), cfg);
});

test('workerCount: auto is one per CPU', () => {
  assert.equal(workerCount('auto'), availableParallelism());
  assert.equal(workerCount(3), 3);
});

test('currentWorker: only a cluster worker with a well-formed GATEHOUSE_WORKER is one', () => {
  // This test process is no cluster worker: the variable alone does not make it one.
  assert.equal(currentWorker({ GATEHOUSE_WORKER: '1/2' }), undefined);
});

test('configFromSupervisor: asks once, takes only a config answer, and fails closed without a supervisor or an answer', async () => {
  const fake = (connected: boolean) => {
    const sent: unknown[] = [];
    const p = Object.assign(new EventEmitter(), { connected, send: (m: unknown) => (sent.push(m), true) });
    return { p: p as unknown as NodeJS.Process, sent, emitter: p };
  };
  const ok = fake(true);
  const got = configFromSupervisor(1000, ok.p);
  assert.deepEqual(ok.sent, [{ gatehouse: 'config?' }]);
  ok.emitter.emit('message', { gatehouse: 'shutdown' });
  ok.emitter.emit('message', { gatehouse: 'config', config: { profile: 'development', marker: 1 } });
  assert.deepEqual(await got, { profile: 'development', marker: 1 });
  assert.equal(ok.emitter.listenerCount('message'), 0);

  await assert.rejects(configFromSupervisor(1000, fake(false).p), (e: Error & { code?: string; detail?: string }) => e.code === 'GH_INTERNAL' && /supervisor is gone/.test(e.detail ?? ''));
  const gone = fake(true);
  const lost = configFromSupervisor(1000, gone.p);
  gone.emitter.emit('disconnect');
  await assert.rejects(lost, (e: Error & { code?: string }) => e.code === 'GH_INTERNAL');
  await assert.rejects(configFromSupervisor(50, fake(true).p), (e: Error & { detail?: string }) => /within 50 ms/.test(e.detail ?? ''));
});
