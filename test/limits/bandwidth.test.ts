/**
 * Bandwidth limits (docs/limits.md "Bandwidth"): the byte-rate parser, the bucket arithmetic on a frozen clock (refill,
 * debt, Retry-After), direction, the declared-body refusal, key bounding and the usage shared between workers.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../../src/core/clock.js';
import type { GatehouseError } from '../../src/core/errors.js';
import type { Exchange } from '../../src/core/types.js';
import { parseByteRate, parseByteSize } from '../../src/config/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { UsageLedger, applyUsage, byteMeter, checkBandwidth, compileBandwidth, createLimits, keyOf, type BandwidthRule } from '../../src/limits/index.js';
import { ROUTES, captureLogger, fakeExchange, limitsConfig, principal, problems, refusal, type FakeExchange } from './helpers.js';

const opts = { routeNames: ROUTES };
const T0 = Date.UTC(2026, 0, 1);


const rateOf = (rate: unknown) => limitsConfig({ bandwidth: [{ name: 'b', rate }] }).bandwidth[0]?.rate;

/** A fake exchange that also has the request headers the bandwidth check reads. */
function exchange(o: FakeExchange & { contentLength?: number } = {}): Exchange {
  const ex = fakeExchange(o);
  (ex as unknown as { req: unknown }).req = { headers: o.contentLength === undefined ? {} : { 'content-length': String(o.contentLength) } };
  return ex;
}

function compile(bandwidth: unknown[], more: Record<string, unknown> = {}): BandwidthRule[] {
  return compileBandwidth(limitsConfig({ bandwidth, ...more }), opts);
}

const acme = principal('alice', { tenant: 'acme' });
const beta = principal('bob', { tenant: 'beta' });

describe('bandwidth config: the byte-rate parser', () => {
  test('rates as written: SI and binary units, periods s m h d, spaces between parts, a fraction of up to 3 digits', () => {
    const cases: Array<[string, { bytes: number; periodMs: number }]> = [
      ['10MB/s', { bytes: 10_000_000, periodMs: 1000 }],
      ['1GiB/h', { bytes: 1024 ** 3, periodMs: 3_600_000 }],
      ['512B/s', { bytes: 512, periodMs: 1000 }],
      ['64KB/m', { bytes: 64_000, periodMs: 60_000 }],
      ['64KiB/m', { bytes: 65_536, periodMs: 60_000 }],
      ['3MiB/d', { bytes: 3 * 1024 ** 2, periodMs: 86_400_000 }],
      ['2GB/d', { bytes: 2e9, periodMs: 86_400_000 }],
      ['1.5GiB/h', { bytes: 1.5 * 1024 ** 3, periodMs: 3_600_000 }],
      ['0.001MB/s', { bytes: 1000, periodMs: 1000 }],
      [' 10 MB / s ', { bytes: 10_000_000, periodMs: 1000 }],
    ];
    for (const [text, want] of cases) {
      assert.deepEqual(parseByteRate(text), want, text);
      assert.deepEqual(rateOf(text), want, text);
    }
    // The parsed form loads too (the effective config printed by `config check` loads back).
    assert.deepEqual(rateOf({ bytes: 5, periodMs: 1000 }), { bytes: 5, periodMs: 1000 });
  });

  test('malformed rates are refused with a message naming the field and what was wrong', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['10mb/s', /^limits\.bandwidth\[0\]\.rate: unknown unit "mb" in "10mb\/s": use B, KB, MB, GB \(powers of 1000\) or KiB, MiB, GiB/],
      ['10Mb/s', /unknown unit "Mb"/],
      ['10TB/s', /unknown unit "TB"/],
      ['1e3MB/s', /unknown unit "e"/],
      ['10MB/sec', /^limits\.bandwidth\[0\]\.rate: unknown period "sec" in "10MB\/sec": use s, m, h or d$/],
      ['10MB/w', /unknown period "w"/],
      ['10MB//s', /unknown period "\/s"/],
      ['0MB/s', /^limits\.bandwidth\[0\]\.rate: "0MB\/s": from 1B to 1PiB \(2\^50 bytes\)$/],
      ['2000000GiB/s', /from 1B to 1PiB/],
      ['0.5B/s', /^limits\.bandwidth\[0\]\.rate: "0\.5B\/s" is not a whole number of bytes$/],
      ['1.0001KB/s', /^limits\.bandwidth\[0\]\.rate: expected a byte rate like 10MB\/s or 1GiB\/h/],
      ['10MB', /expected a byte rate like/],
      ['MB/s', /expected a byte rate like/],
      ['/s', /expected a byte rate like/],
      ['1.KB/s', /expected a byte rate like/],
      ['-1MB/s', /expected a byte rate like/],
      ['10MB/', /expected a byte rate like/],
      ['', /expected a byte rate like/],
      ['9999999999999B/s', /expected a byte rate like/],
      ['1'.repeat(60) + 'MB/s', /expected a byte rate like .*got "1{32}…"$/],
      [1000, /^limits\.bandwidth\[0\]\.rate: expected a byte rate like .*, got a bare number$/],
      [{ bytes: 0, periodMs: 1000 }, /^limits\.bandwidth\[0\]\.rate/],
    ];
    for (const [bad, want] of cases) {
      const p = problems({ bandwidth: [{ name: 'b', rate: bad }] });
      assert.equal(p.length, 1, `${JSON.stringify(bad)}: ${p.join('; ')}`);
      assert.match(p[0] as string, want, JSON.stringify(bad));
    }
  });

  test('the parser is total and linear on any short input: a ByteRate or an Error, never anything else', () => {
    const alphabet = fc.constantFrom(...'0123456789. /BKMGiKBsmhdx'.split(''));
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 24 }).map((a) => a.join('')), (text) => {
        try {
          const r = parseByteRate(text);
          return Number.isSafeInteger(r.bytes) && r.bytes >= 1 && [1000, 60_000, 3_600_000, 86_400_000].includes(r.periodMs);
        } catch (e) {
          return e instanceof Error && e.message.length < 300;
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('burst: a number of bytes or a size with a unit; a bare numeric string, zero or a fraction of a byte is refused', () => {
    const burstOf = (burst: unknown) => limitsConfig({ bandwidth: [{ name: 'b', rate: '1MB/s', burst }] }).bandwidth[0]?.burst;
    assert.equal(burstOf(4096), 4096);
    assert.equal(burstOf('64MB'), 64_000_000);
    assert.equal(burstOf('2 GiB'), 2 * 1024 ** 3);
    assert.equal(parseByteSize('1.5KiB'), 1536);
    for (const [bad, want] of [
      [0, /a size is a whole number of bytes from 1/],
      [1.5, /a size is a whole number of bytes/],
      ['1000', /expected a size like 64MB or 1GiB/],
      ['64MB/s', /expected a size like 64MB/],
      ['64mb', /unknown unit "mb"/],
    ] as const) {
      assert.match(problems({ bandwidth: [{ name: 'b', rate: '1MB/s', burst: bad }] })[0] as string, new RegExp(`^limits\\.bandwidth\\[0\\]\\.burst: ${want.source}`), String(bad));
    }
  });

  test('defaults: per tenant, direction both, burst one period (at compile); the schema is closed; names unique; 256 rules at most', () => {
    const [rule] = limitsConfig({ bandwidth: [{ name: 'b', rate: '1MB/s' }] }).bandwidth;
    assert.deepEqual(rule, { name: 'b', per: ['tenant'], rate: { bytes: 1_000_000, periodMs: 1000 }, direction: 'both' });
    assert.equal(compile([{ name: 'b', rate: '1MB/m' }])[0]?.burst, 1_000_000);
    assert.deepEqual(limitsConfig({}).bandwidth, []);
    assert.deepEqual(problems({ bandwidth: [{ name: 'b', rate: '1MB/s', dirction: 'in' }] }), ['limits.bandwidth[0].dirction: unknown key (did you mean "direction"?)']);
    assert.match(problems({ bandwidth: [{ name: 'b', rate: '1MB/s', direction: 'up' }] })[0] as string, /^limits\.bandwidth\[0\]\.direction: /);
    assert.match(problems({ bandwidth: [{ name: 'b', rate: '1MB/s', per: 'country' }] })[0] as string, /^limits\.bandwidth\[0\]\.per/);
    assert.match(problems({ bandwidth: [{ name: 'b', rate: '1MB/s', methods: ['get'] }] })[0] as string, /^limits\.bandwidth\[0\]\.methods\[0\]: /);
    assert.match(problems({ bandwidth: [{ name: 'b' }] })[0] as string, /^limits\.bandwidth\[0\]\.rate: /);
    assert.deepEqual(problems({ bandwidth: [{ name: 'a', rate: '1MB/s' }, { name: 'a', rate: '2MB/s' }] }), ['limits.bandwidth[1].name: duplicate bandwidth limit name "a"']);
    const many = Array.from({ length: 257 }, (_, i) => ({ name: `b${i}`, rate: '1MB/s' }));
    assert.match(problems({ bandwidth: many })[0] as string, /^limits\.bandwidth: /);
    assert.throws(() => compile([{ name: 'b', rate: '1MB/s', routes: ['nope'] }]), (e: GatehouseError) => e.code === 'GH_CONFIG_INVALID' && /limits\.bandwidth\[0\]\.routes: no route is named "nope"/.test(e.message));
  });
});

describe('bandwidth buckets on a frozen clock', () => {
  test('a key is admitted until it is in debt; the debt over the rate is the Retry-After; the refill admits it again', () => {
    const clock = new ManualClock(T0);
    const [rule] = compile([{ name: 'dl', rate: '100B/s', burst: 1000 }]);
    assert.ok(rule);
    const ex = () => exchange({ principal: acme });
    const hits = checkBandwidth([rule], ex(), clock.now());
    assert.ok(hits);
    const meter = byteMeter(hits, clock, undefined);
    // Exactly the burst: the bucket is empty, not in debt.
    meter.out?.(1000);
    assert.equal(refusal(() => checkBandwidth([rule], ex(), clock.now())), undefined);
    // 250 bytes more: a debt of 250 bytes at 100 B/s is 2.5 s, rounded up.
    meter.out?.(250);
    const e = refusal(() => checkBandwidth([rule], ex(), clock.now()));
    assert.equal(e?.code, 'GH_RATE_LIMITED');
    assert.equal(e?.status, 429);
    assert.equal(e?.headers?.['retry-after'], '3');
    assert.equal(e?.headers?.['ratelimit-policy'], '"dl";q=100;qu="content-bytes";w=1');
    assert.equal(e?.headers?.['ratelimit'], '"dl";r=0;t=3');
    assert.deepEqual(e?.data, { bandwidth_limit: 'dl', retry_after: 3 });
    assert.equal(e?.detail, 'bandwidth:dl');
    assert.doesNotMatch(`${e?.message} ${JSON.stringify(e?.data)}`, /alice|acme/, 'the refusal names the rule, not the key');
    clock.advance(1000);
    assert.equal(refusal(() => checkBandwidth([rule], ex(), clock.now()))?.headers?.['retry-after'], '2');
    clock.advance(1499);
    assert.equal(refusal(() => checkBandwidth([rule], ex(), clock.now()))?.headers?.['retry-after'], '1');
    clock.advance(1);
    assert.equal(refusal(() => checkBandwidth([rule], ex(), clock.now())), undefined, 'paid off after 2.5 s');
  });

  test('the allowance refills to the burst and no further: a long idle key still goes into debt past the burst', () => {
    const clock = new ManualClock(T0);
    const [rule] = compile([{ name: 'dl', rate: '10KB/s', burst: '20KB', per: 'ip' }]);
    assert.ok(rule);
    const meter = byteMeter(checkBandwidth([rule], exchange(), clock.now()) ?? [], clock, undefined);
    meter.in?.(5000);
    clock.advance(3_600_000);
    meter.in?.(20_000);
    assert.equal(refusal(() => checkBandwidth([rule], exchange(), clock.now())), undefined, 'at the burst exactly');
    meter.in?.(1);
    assert.equal(refusal(() => checkBandwidth([rule], exchange(), clock.now()))?.code, 'GH_RATE_LIMITED');
    // 1 byte at 10 KB/s is 0.1 ms: the smallest Retry-After is still 1 s.
    assert.equal(refusal(() => checkBandwidth([rule], exchange(), clock.now()))?.headers?.['retry-after'], '1');
  });

  test('per tenant: one tenant in debt, another is unaffected; tenantless callers share one key', () => {
    const clock = new ManualClock(T0);
    const [rule] = compile([{ name: 'dl', rate: '1KB/s' }]);
    assert.ok(rule);
    const meter = byteMeter(checkBandwidth([rule], exchange({ principal: acme }), clock.now()) ?? [], clock, undefined);
    meter.out?.(5000);
    assert.equal(refusal(() => checkBandwidth([rule], exchange({ principal: principal('carol', { tenant: 'acme' }) }), clock.now()))?.code, 'GH_RATE_LIMITED', 'the tenant, not the principal');
    assert.equal(refusal(() => checkBandwidth([rule], exchange({ principal: beta }), clock.now())), undefined);
    assert.equal(keyOf(rule, exchange({ ip: '192.0.2.1' })), keyOf(rule, exchange({ ip: '192.0.2.2' })));
  });

  test('direction: in counts request bodies only, out response bodies only, both each', () => {
    const clock = new ManualClock(T0);
    const rules = compile([
      { name: 'up', rate: '1KB/s', direction: 'in' },
      { name: 'down', rate: '1KB/s', direction: 'out' },
      { name: 'all', rate: '1MB/s' },
    ]);
    const hits = checkBandwidth(rules, exchange({ principal: acme }), clock.now()) ?? [];
    assert.equal(hits.length, 3);
    const meter = byteMeter(hits, clock, undefined);
    const only = (name: string) => byteMeter(hits.filter(([r]) => r.name === name), clock, undefined);
    assert.equal(only('up').out, undefined, 'an in-only rule never sees response bytes');
    assert.equal(only('down').in, undefined, 'an out-only rule never sees request bytes');
    meter.out?.(5000);
    const e = refusal(() => checkBandwidth(rules, exchange({ principal: acme }), clock.now()));
    assert.equal(e?.data?.['bandwidth_limit'], 'down');
    const up = rules.find((r) => r.name === 'up');
    assert.ok(up);
    assert.equal(refusal(() => checkBandwidth([up], exchange({ principal: acme }), clock.now())), undefined, 'response bytes did not count for in');
  });

  test('a declared request body over the burst of a rule counting request bodies is refused at once (413), whatever the allowance', () => {
    const clock = new ManualClock(T0);
    const rules = compile([{ name: 'up', rate: '1KB/s', burst: 4096, direction: 'in' }]);
    const ex = exchange({ principal: acme, method: 'POST', contentLength: 4097 });
    const e = refusal(() => checkBandwidth(rules, ex, clock.now()));
    assert.equal(e?.code, 'GH_BODY_TOO_LARGE');
    assert.equal(e?.status, 413);
    assert.deepEqual(e?.data, { bandwidth_limit: 'up', burst_bytes: 4096 });
    assert.equal(ex.meta['bandwidth_limit'], 'up');
    assert.equal(refusal(() => checkBandwidth(rules, exchange({ principal: acme, method: 'POST', contentLength: 4096 }), clock.now())), undefined);
    // A rule counting response bodies only does not look at the request's length.
    const down = compile([{ name: 'down', rate: '1KB/s', burst: 10, direction: 'out' }]);
    assert.equal(refusal(() => checkBandwidth(down, exchange({ contentLength: 1_000_000 }), clock.now())), undefined);
  });

  test('routes and methods restrict a rule; an exchange no rule matches gets no hits (and so no meter)', () => {
    const clock = new ManualClock(T0);
    const rules = compile([{ name: 'api-up', rate: '1KB/s', routes: ['api'], methods: ['PUT'] }]);
    assert.equal(checkBandwidth(rules, exchange({ route: 'api', method: 'GET' }), clock.now()), undefined);
    assert.equal(checkBandwidth(rules, exchange({ route: 'mcp', method: 'PUT' }), clock.now()), undefined);
    assert.equal(checkBandwidth(rules, exchange({ route: 'api', method: 'PUT' }), clock.now())?.length, 1);
  });
});

describe('bandwidth keys are bounded', () => {
  test('checks store nothing; charged keys stay within max_keys, the longest idle forgotten (counted when it owed)', () => {
    const clock = new ManualClock(T0);
    const [rule] = compile([{ name: 'dl', rate: '1KB/s', per: 'ip' }], { max_keys: 100 });
    assert.ok(rule);
    for (let i = 0; i < 1000; i++) checkBandwidth([rule], exchange({ ip: `10.0.${i >> 8}.${i & 255}` }), clock.now());
    assert.equal(rule.table.size, 0, 'an unknown key checked and never charged takes no memory');
    for (let i = 0; i < 250; i++) {
      const hits = checkBandwidth([rule], exchange({ ip: `10.1.${i >> 8}.${i & 255}` }), clock.now()) ?? [];
      byteMeter(hits, clock, undefined).out?.(5000);
    }
    assert.equal(rule.table.size, 100);
    assert.equal(rule.table.evicted, 150, 'each forgotten key still owed');
  });
});

describe('bandwidth under server.workers', () => {
  test('bytes charged in one process are noted as [index, key, bytes, "bytes"] and refuse the key in the other', async () => {
    const clock = new ManualClock(T0);
    const deps = { store: new MemoryStore({ clock }), clock, logger: captureLogger() };
    const cfg = limitsConfig({ rates: [{ name: 'r', per: 'ip', limit: '100/min' }], bandwidth: [{ name: 'dl', rate: '1KB/s', per: 'ip' }], lockout: { enabled: false } });
    const w1 = await createLimits(cfg, deps, { ...opts, shareUsage: true });
    const w2 = await createLimits(cfg, deps, { ...opts, shareUsage: true });
    try {
      const ex = exchange({ ip: '192.0.2.77' });
      assert.equal(refusal(() => w1.throttle?.(ex)), undefined);
      assert.ok(ex.byteMeter?.out && ex.byteMeter.in);
      ex.byteMeter.out(1500);
      ex.byteMeter.in(500);
      const usage = w1.takeUsage();
      assert.ok(usage);
      assert.deepEqual(usage.map((u) => [u[0], u[2], u[3]]), [[0, 1, undefined], [0, 2000, 'bytes']]);
      const again = exchange({ ip: '192.0.2.77' });
      assert.equal(refusal(() => w2.throttle?.(again)), undefined, 'before the report');
      w2.applyUsage(JSON.parse(JSON.stringify(usage)));
      const e = refusal(() => w2.throttle?.(exchange({ ip: '192.0.2.77' })));
      assert.equal(e?.code, 'GH_RATE_LIMITED');
      assert.equal(e?.headers?.['retry-after'], '1');
    } finally {
      await Promise.all([w1.close(), w2.close()]);
    }
  });

  test('applyUsage skips malformed entries; the kind tag decides which rules an entry charges', () => {
    const clock = new ManualClock(T0);
    const rules = compile([{ name: 'dl', rate: '1KB/s', per: 'ip' }]);
    const [rule] = rules;
    assert.ok(rule);
    const key = keyOf(rule, exchange({ ip: '192.0.2.9' }));
    applyUsage([], [[0, key, 5000, 'bites'], [0, key, 5000, 'bytes', 1], [0, 5, 5000, 'bytes'], [0, key, Number.NaN, 'bytes'], [1, key, 5000, 'bytes'], 'x'], clock.now(), rules);
    applyUsage([], [[0, key, 5000]], clock.now(), rules); // a rate entry: there is no rate rule 0
    assert.equal(rule.table.size, 0);
    applyUsage([], [[0, key, 5000, 'bytes']], clock.now(), rules);
    assert.equal(refusal(() => checkBandwidth(rules, exchange({ ip: '192.0.2.9' }), clock.now()))?.code, 'GH_RATE_LIMITED');
    const ledger = new UsageLedger();
    ledger.note(0, key, 10, true);
    ledger.note(0, key, 5, true);
    ledger.note(0, key, 1);
    assert.deepEqual(ledger.take(), [[0, key, 1], [0, key, 15, 'bytes']]);
    assert.equal(ledger.take(), undefined);
  });
});

describe('the throttle stage with bandwidth rules', () => {
  const deps = () => {
    const clock = new ManualClock(T0);
    return { clock, store: new MemoryStore({ clock }), logger: captureLogger() };
  };

  test('without bandwidth rules the throttle stage sets no meter (and without rates there is no stage at all)', async () => {
    const d = deps();
    const none = await createLimits(limitsConfig({ lockout: { enabled: false } }), d, opts);
    assert.equal(none.throttle, undefined);
    const rates = await createLimits(limitsConfig({ rates: [{ name: 'r', limit: '10/s' }], lockout: { enabled: false } }), d, opts);
    const ex = exchange({ principal: acme });
    rates.throttle?.(ex);
    assert.equal(ex.byteMeter, undefined);
    assert.equal('byteMeter' in ex, false);
  });

  test('a bandwidth refusal uses no rate allowance; a rate refusal sets no meter', async () => {
    const d = deps();
    const limits = await createLimits(limitsConfig({ rates: [{ name: 'r', per: 'ip', limit: '2/min', burst: 2 }], bandwidth: [{ name: 'dl', rate: '1KB/s', per: 'ip' }], lockout: { enabled: false } }), d, opts);
    const ex = () => exchange({ ip: '192.0.2.33' });
    const first = ex();
    assert.equal(refusal(() => limits.throttle?.(first)), undefined);
    first.byteMeter?.out?.(3000);
    for (let i = 0; i < 5; i++) assert.equal(refusal(() => limits.throttle?.(ex()))?.data?.['bandwidth_limit'], 'dl');
    d.clock.advance(2000);
    const second = ex();
    assert.equal(refusal(() => limits.throttle?.(second)), undefined, 'the second request of the rate burst: the refusals used none');
    const third = ex();
    assert.equal(refusal(() => limits.throttle?.(third))?.data?.['rate_limit'], 'r');
    assert.equal(third.byteMeter, undefined);
  });
});
