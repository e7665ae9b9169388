import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { runPipeline, type Stages } from '../../src/gateway/pipeline.js';
import type { Exchange } from '../../src/core/types.js';

const ex = () => ({ meta: {} }) as unknown as Exchange;

function recording(order: string[], asyncAt: ReadonlySet<string> = new Set()): Stages {
  const stage = (name: string) => () => {
    order.push(name);
    return asyncAt.has(name) ? new Promise<void>((r) => setTimeout(r, 1)) : undefined;
  };
  return { identify: stage('identify'), throttle: stage('throttle'), classify: stage('classify'), authorize: stage('authorize'), approve: stage('approve'), transform: stage('transform') };
}

const ALL = ['identify', 'throttle', 'classify', 'authorize', 'approve', 'transform'];

describe('runPipeline', () => {
  test('synchronous stages run in order and return no promise', () => {
    const order: string[] = [];
    assert.equal(runPipeline(recording(order), ex(), 1024, false), undefined);
    assert.deepEqual(order, ALL);
  });

  test('an asynchronous stage is awaited before the next one runs', async () => {
    const order: string[] = [];
    const p = runPipeline(recording(order, new Set(['throttle', 'authorize'])), ex(), 1024, false);
    assert.ok(p instanceof Promise);
    assert.deepEqual(order, ['identify', 'throttle']);
    await p;
    assert.deepEqual(order, ALL);
  });

  test('a stage that throws stops the pipeline, synchronously or as a rejection', async () => {
    const order: string[] = [];
    const denySync: Stages = { ...recording(order), authorize: () => { throw new Error('denied'); } };
    assert.throws(() => runPipeline(denySync, ex(), 1024, false), /denied/);
    assert.deepEqual(order, ['identify', 'throttle', 'classify']);
    order.length = 0;
    const denyAsync: Stages = { ...recording(order, new Set(['identify'])), authorize: () => Promise.reject(new Error('denied later')) };
    await assert.rejects(runPipeline(denyAsync, ex(), 1024, false) as Promise<void>, /denied later/);
    assert.deepEqual(order, ['identify', 'throttle', 'classify']);
  });
});
