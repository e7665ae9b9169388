import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import type { Exchange, Stage } from '../../src/core/types.js';
import { MemoryStore } from '../../src/store/memory.js';
import { UsageLedger, applyUsage, compileRules, createLimits, keyOf, type CompiledRule, type RateTable } from '../../src/limits/index.js';
import { throttleStages } from '../../src/limits/throttle.js';
import { ROUTES, captureLogger, fakeExchange, limitsConfig, principal, refusal } from './helpers.js';

const opts = { routeNames: ROUTES, knownTool: (name: string) => ['ping_host', 'read_file'].includes(name) };

function build(rates: unknown[], ledger?: UsageLedger) {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const rules = compileRules(limitsConfig({ rates }), opts);
  const byName = new Map<string, CompiledRule>([...rules.pre, ...rules.post].map((r) => [r.name, r]));
  const stages = throttleStages(rules, clock, ledger);
  const rule = (name: string): CompiledRule => {
    const r = byName.get(name);
    assert.ok(r, name);
    return r;
  };
  return { clock, rules, stages, rule };
}

/** Requests `key` still gets at `now`, taking them (bounded). */
function admitsAt(table: RateTable, key: string, now: number): number {
  let n = 0;
  while (n < 1000 && table.take(key, now).allowed) n++;
  return n;
}

const run = (stage: Stage | undefined, ex: Exchange) => {
  assert.ok(stage, 'stage');
  return refusal(() => stage(ex));
};

describe('throttle stages', () => {
  test('a request refused by one rule uses none of the others (check all, then commit)', () => {
    const { stages, rule, clock } = build([
      { name: 'A', per: 'principal', limit: '10/sec', burst: 5 },
      { name: 'B', per: 'ip', limit: '1/min', burst: 1 },
    ]);
    const alice = principal('alice');
    const ex = () => fakeExchange({ principal: alice, ip: '192.0.2.10' });
    assert.equal(run(stages.throttle, ex()), undefined);
    for (let i = 0; i < 3; i++) {
      const err = run(stages.throttle, ex());
      assert.equal(err?.code, 'GH_RATE_LIMITED');
      assert.equal(err?.data?.['rate_limit'], 'B');
    }
    // A was charged for the one admitted request only: 4 of its 5 remain.
    assert.equal(admitsAt(rule('A').table, keyOf(rule('A'), ex()), clock.now()), 4);
  });

  test('a rule limited to routes and methods applies only there', () => {
    const { stages } = build([{ name: 'posts', per: 'ip', limit: '1/min', burst: 1, routes: ['api'], methods: ['POST'] }]);
    const at = (route: string | undefined, method: string) => fakeExchange({ route, method, ip: '192.0.2.20' });
    for (let i = 0; i < 5; i++) {
      assert.equal(run(stages.throttle, at('api', 'GET')), undefined, 'another method');
      assert.equal(run(stages.throttle, at('mcp', 'POST')), undefined, 'another route');
      assert.equal(run(stages.throttle, at(undefined, 'POST')), undefined, 'no route');
    }
    assert.equal(run(stages.throttle, at('api', 'POST')), undefined);
    assert.equal(run(stages.throttle, at('api', 'POST'))?.code, 'GH_RATE_LIMITED');
    // Another client is not affected.
    assert.equal(run(stages.throttle, fakeExchange({ route: 'api', method: 'POST', ip: '192.0.2.21' })), undefined);
  });

  test('a tool rule counts each matching tools/call of an MCP batch, all or nothing', () => {
    const { stages } = build([{ name: 'pings', per: 'principal', limit: '3/min', burst: 3, tools: ['ping_host'] }]);
    assert.equal(stages.throttle, undefined, 'no rule for the throttle stage');
    const alice = principal('alice');
    const batch = (...calls: string[]) => fakeExchange({ principal: alice, route: 'mcp', method: 'POST', meta: { mcp_batch: calls } });
    // Two pings (a read_file, a tools/list and a look-alike do not count): 1 of 3 left.
    assert.equal(run(stages.throttleOperation, batch('tools/call:ping_host', 'tools/call:read_file', 'tools/list', 'tools/call:ping_host_x', 'resources/read:ping_host', 'tools/call:ping_host')), undefined);
    // Two more do not fit, and take nothing.
    const err = run(stages.throttleOperation, batch('tools/call:ping_host', 'tools/call:ping_host'));
    assert.equal(err?.code, 'GH_RATE_LIMITED');
    assert.equal(err?.data?.['rate_limit'], 'pings');
    assert.equal(run(stages.throttleOperation, batch('tools/call:read_file', 'tools/list')), undefined, 'no ping: not counted');
    // A single classified call (no batch) counts once: the last one left.
    const single = (tool: string) => fakeExchange({ principal: alice, route: 'mcp', method: 'POST', operation: { kind: 'mcp', mcp_method: 'tools/call', tool } });
    assert.equal(run(stages.throttleOperation, single('read_file')), undefined);
    assert.equal(run(stages.throttleOperation, single('ping_host')), undefined);
    assert.equal(run(stages.throttleOperation, single('ping_host'))?.code, 'GH_RATE_LIMITED');
    assert.equal(run(stages.throttleOperation, batch('tools/call:ping_host'))?.code, 'GH_RATE_LIMITED');
    // Another principal has its own allowance.
    assert.equal(run(stages.throttleOperation, fakeExchange({ principal: principal('bob'), meta: { mcp_batch: ['tools/call:ping_host', 'tools/call:ping_host', 'tools/call:ping_host'] } })), undefined);
  });

  test('a batch holding more limited calls than the burst is refused as never admissible, without a retry time', () => {
    const { stages } = build([{ name: 'pings', per: 'principal', limit: '3/min', burst: 3, tools: ['ping_host'] }]);
    const ex = fakeExchange({ principal: principal('alice'), route: 'mcp', method: 'POST', meta: { mcp_batch: ['tools/call:ping_host', 'tools/call:ping_host', 'tools/call:ping_host', 'tools/call:ping_host'] } });
    const err = run(stages.throttleOperation, ex);
    assert.equal(err?.code, 'GH_RATE_LIMITED');
    assert.equal(err?.data?.['batch_limit'], 3);
    assert.equal(err?.data?.['retry_after'], undefined);
    assert.match(err?.message ?? '', /more calls than rate limit "pings" admits at once \(3\)/);
    assert.equal(ex.meta['rate_limit'], 'pings');
    // It took nothing: three still fit.
    assert.equal(run(stages.throttleOperation, fakeExchange({ principal: principal('alice'), meta: { mcp_batch: ['tools/call:ping_host', 'tools/call:ping_host', 'tools/call:ping_host'] } })), undefined);
  });

  test('the allowance refills with the clock the stages were given', () => {
    const { stages, clock } = build([{ name: 'slow', per: 'ip', limit: '1/min', burst: 1 }]);
    const ex = () => fakeExchange({ ip: '192.0.2.30' });
    assert.equal(run(stages.throttle, ex()), undefined);
    clock.advance(59_999);
    const err = run(stages.throttle, ex());
    assert.equal(err?.code, 'GH_RATE_LIMITED');
    assert.equal(err?.data?.['retry_after'], 1);
    clock.advance(1);
    assert.equal(run(stages.throttle, ex()), undefined);
  });
});

describe('sharing usage between workers', () => {
  test('UsageLedger.take() sums per rule and key, then starts afresh', () => {
    const ledger = new UsageLedger();
    assert.equal(ledger.take(), undefined, 'nothing noted');
    ledger.note(0, 'a', 1);
    ledger.note(0, 'a', 2);
    ledger.note(1, 'a', 1);
    ledger.note(0, 'b', 4);
    const taken = ledger.take();
    assert.deepEqual(taken?.slice().sort(), [[0, 'a', 3], [0, 'b', 4], [1, 'a', 1]]);
    assert.equal(ledger.take(), undefined, 'reset after take');
    ledger.note(1, 'c', 1);
    assert.deepEqual(ledger.take(), [[1, 'c', 1]]);
  });

  test('the stages note what they admit, not what they refuse', () => {
    const ledger = new UsageLedger();
    const { stages, rule } = build([{ name: 'x', per: 'ip', limit: '1/min', burst: 2 }, { name: 'pings', per: 'ip', limit: '1/min', burst: 5, tools: ['ping_host'] }], ledger);
    const ex = (meta: Record<string, unknown> = {}) => fakeExchange({ ip: '192.0.2.40', meta });
    run(stages.throttle, ex());
    run(stages.throttle, ex());
    assert.equal(run(stages.throttle, ex())?.code, 'GH_RATE_LIMITED');
    run(stages.throttleOperation, ex({ mcp_batch: ['tools/call:ping_host', 'tools/call:ping_host'] }));
    const k = keyOf(rule('x'), ex());
    assert.deepEqual(ledger.take()?.slice().sort(), [[0, k, 2], [1, k, 2]]);
  });

  test('applyUsage charges the keys named and skips malformed entries without throwing', () => {
    const { rules, rule } = build([{ name: 'a', per: 'ip', limit: '10/sec', burst: 10 }, { name: 'b', per: 'ip', limit: '10/sec', burst: 10 }]);
    const byIndex = [...rules.pre, ...rules.post];
    const now = Date.UTC(2026, 0, 1);
    const malformed: unknown[] = [
      null,
      'x',
      [0, 'k'],
      [0, 'k', 1, 1],
      ['0', 'k', 1],
      [2, 'k', 1],
      [-1, 'k', 1],
      [0.5, 'k', 1],
      [Number.NaN, 'k', 1],
      [0, 7, 1],
      [0, 'k', '3'],
      [0, 'k', Number.NaN],
      [0, 'k', Number.POSITIVE_INFINITY],
      [0, 'k', Number.NEGATIVE_INFINITY],
      [0, 'k', -5],
      { 0: 0, 1: 'k', 2: 1, length: 3 },
    ];
    for (const usage of [undefined, null, 42, 'usage', { 0: [0, 'k', 1] }]) assert.doesNotThrow(() => applyUsage(byIndex, usage, now));
    assert.doesNotThrow(() => applyUsage(byIndex, [...malformed, [0, 'k', 3], [1, 'k', 9]], now));
    assert.equal(rule('a').table.size, 1, 'only the well-formed entry stored a key');
    assert.equal(admitsAt(rule('a').table, 'k', now), 7);
    assert.equal(admitsAt(rule('b').table, 'k', now), 1);
  });

  test('createLimits: takeUsage hands over what was admitted, and applyUsage from another worker is charged', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const deps = { store: new MemoryStore({ clock }), clock, logger: captureLogger() };
    const cfg = limitsConfig({ rates: [{ name: 'r', per: 'ip', limit: '1/min', burst: 3 }], lockout: { enabled: false } });
    const worker1 = await createLimits(cfg, deps, { ...opts, shareUsage: true });
    const worker2 = await createLimits(cfg, deps, { ...opts, shareUsage: true });
    const ex = () => fakeExchange({ ip: '192.0.2.50' });
    assert.equal(run(worker1.throttle, ex()), undefined);
    assert.equal(run(worker1.throttle, ex()), undefined);
    const usage = worker1.takeUsage();
    assert.equal(usage?.length, 1);
    assert.equal(worker1.takeUsage(), undefined);
    worker2.applyUsage(JSON.parse(JSON.stringify(usage)));
    assert.equal(run(worker2.throttle, ex()), undefined, 'the third of the burst');
    assert.equal(run(worker2.throttle, ex())?.code, 'GH_RATE_LIMITED');
    // Without shareUsage nothing is noted.
    const alone = await createLimits(cfg, deps, opts);
    run(alone.throttle, ex());
    assert.equal(alone.takeUsage(), undefined);
    await Promise.all([worker1.close(), worker2.close(), alone.close()]);
  });
});

describe('createLimits', () => {
  const full = {
    rates: [{ name: 'r', limit: '1/min', burst: 1 }, { name: 't', limit: '1/min', tools: ['ping_host'] }],
    connection_rate_limit: '2/sec',
  };

  test('with enabled: false: no stages, no lockouts, no connection rate', async () => {
    const clock = new ManualClock();
    const limits = await createLimits(limitsConfig({ ...full, enabled: false }), { store: new MemoryStore({ clock }), clock, logger: captureLogger() }, opts);
    assert.equal(limits.throttle, undefined);
    assert.equal(limits.throttleOperation, undefined);
    assert.equal(limits.lockouts, undefined);
    assert.equal(limits.connectionRate, undefined);
    assert.equal(limits.takeUsage(), undefined);
    assert.doesNotThrow(() => limits.applyUsage([[0, 'k', 1]]));
    await limits.close();
  });

  test('enabled, the same config gives both stages, lockouts and a connection rate of burst limit × burst_tolerance', async (t) => {
    const clock = new ManualClock();
    const limits = await createLimits(limitsConfig(full), { store: new MemoryStore({ clock }), clock, logger: captureLogger() }, opts);
    t.after(() => limits.close());
    assert.equal(typeof limits.throttle, 'function');
    assert.equal(typeof limits.throttleOperation, 'function');
    assert.ok(limits.lockouts);
    assert.deepEqual(limits.connectionRate?.shape, { limit: 2, periodMs: 1000, burst: 4 });
  });

  test('a rule naming an unknown route refuses to build (GH_CONFIG_INVALID)', async () => {
    const clock = new ManualClock();
    await assert.rejects(
      createLimits(limitsConfig({ rates: [{ name: 'r', limit: 1, routes: ['nope'] }], lockout: { enabled: false } }), { store: new MemoryStore({ clock }), clock, logger: captureLogger() }, opts),
      (e: { code?: string }) => e.code === 'GH_CONFIG_INVALID',
    );
  });
});
