import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRate } from '../../src/config/index.js';
import { limitsConfig, problems } from './helpers.js';


const rateOf = (limit: unknown) => limitsConfig({ rates: [{ name: 'r', limit }] }).rates[0]?.limit;

describe('limits config: rates', () => {
  test('rates as written: 10/sec, 1000/s, 60/min, 5/hour, 10000/day, a bare number per second', () => {
    const cases: Array<[unknown, { limit: number; periodMs: number }]> = [
      ['10/sec', { limit: 10, periodMs: 1000 }],
      ['1000/s', { limit: 1000, periodMs: 1000 }],
      ['2/second', { limit: 2, periodMs: 1000 }],
      ['60/min', { limit: 60, periodMs: 60_000 }],
      ['3/m', { limit: 3, periodMs: 60_000 }],
      ['5/hour', { limit: 5, periodMs: 3_600_000 }],
      ['5/h', { limit: 5, periodMs: 3_600_000 }],
      ['10000/day', { limit: 10_000, periodMs: 86_400_000 }],
      [' 7 / MIN ', { limit: 7, periodMs: 60_000 }],
      [25, { limit: 25, periodMs: 1000 }],
    ];
    for (const [text, want] of cases) assert.deepEqual(rateOf(text), want, JSON.stringify(text));
    assert.deepEqual(limitsConfig({ connection_rate_limit: '10/sec' }).connection_rate_limit, { limit: 10, periodMs: 1000 });
    assert.equal(limitsConfig({}).connection_rate_limit, undefined);
  });

  test('malformed rates are refused with a message naming the field', () => {
    for (const bad of ['10/fortnight', '0/s', '1e3/s', 'abc', '10', '10/', '/s', '-5/s', '1.5/s', '10/sec/sec', '9999999999/s', '']) {
      const p = problems({ rates: [{ name: 'r', limit: bad }] });
      assert.equal(p.length, 1, `${JSON.stringify(bad)}: ${p.join('; ')}`);
      assert.match(p[0] as string, /^limits\.rates\[0\]\.limit: expected a rate like 10\/sec/, JSON.stringify(bad));
    }
    for (const bad of [0, -1, 1.5, 2e9]) {
      const p = problems({ rates: [{ name: 'r', limit: bad }] });
      assert.match(p[0] as string, /^limits\.rates\[0\]\.limit: a rate is a whole number/, String(bad));
    }
    // YAML's .nan (zod refuses it before the rate is read).
    assert.match(problems({ rates: [{ name: 'r', limit: Number.NaN }] })[0] as string, /^limits\.rates\[0\]\.limit: /);
    assert.match(problems({ connection_rate_limit: '10/fortnight' })[0] as string, /^limits\.connection_rate_limit: expected a rate/);
    assert.throws(() => parseRate('10/fortnight'), /expected a rate like 10\/sec/);
  });
});

describe('limits config: burst', () => {
  test("burst_tolerance '2x' is 2; the section default is 2", () => {
    assert.equal(limitsConfig({ burst_tolerance: '2x' }).burst_tolerance, 2);
    assert.equal(limitsConfig({ burst_tolerance: '1.5x' }).burst_tolerance, 1.5);
    assert.equal(limitsConfig({ burst_tolerance: '1x' }).burst_tolerance, 1);
    assert.equal(limitsConfig({ burst_tolerance: 3 }).burst_tolerance, 3);
    assert.equal(limitsConfig({}).burst_tolerance, 2);
    assert.equal(limitsConfig({ rates: [{ name: 'r', limit: 1, burst_tolerance: '4x' }] }).rates[0]?.burst_tolerance, 4);
  });

  test('a tolerance below 1x, or not a multiple, is refused', () => {
    for (const bad of ['0.5x', '0x', '2', 'x', '2X2', '1001x', 0.5, '-2x']) {
      const p = problems({ burst_tolerance: bad });
      assert.equal(p.length, 1, JSON.stringify(bad));
      assert.match(p[0] as string, /^limits\.burst_tolerance: expected a multiple of the rate from 1x to 1000x/, JSON.stringify(bad));
    }
    assert.match(problems({ rates: [{ name: 'r', limit: 1, burst_tolerance: '0.5x' }] })[0] as string, /^limits\.rates\[0\]\.burst_tolerance: /);
  });

  test('burst and burst_tolerance together are refused; burst must be a whole number ≥ 1', () => {
    const p = problems({ rates: [{ name: 'ok', limit: 1 }, { name: 'both', limit: 1, burst: 5, burst_tolerance: '2x' }] });
    assert.deepEqual(p, ['limits.rates[1].burst: set burst or burst_tolerance, not both']);
    for (const bad of [0, 1.5, -1]) assert.match(problems({ rates: [{ name: 'r', limit: 1, burst: bad }] })[0] as string, /^limits\.rates\[0\]\.burst: /, String(bad));
  });
});

describe('limits config: rules and the closed schema', () => {
  test('duplicate rule names are refused, naming the second', () => {
    const p = problems({ rates: [{ name: 'a', limit: 1 }, { name: 'b', limit: 1 }, { name: 'a', limit: 2 }] });
    assert.deepEqual(p, ['limits.rates[2].name: duplicate rate limit name "a"']);
  });

  test('lockout.exempt entries are checked at load: an address or CIDR, else a problem naming the entry', () => {
    assert.deepEqual(limitsConfig({ lockout: { exempt: ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32'] } }).lockout.exempt, ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32']);
    assert.match(problems({ lockout: { exempt: ['10.0.0.0/8', 'nope'] } })[0] as string, /^limits\.lockout\.exempt\[1\]: not an IP address or CIDR/);
    assert.match(problems({ lockout: { exempt: ['10.0.0.0/'] } })[0] as string, /^limits\.lockout\.exempt\[0\]: invalid CIDR prefix/);
  });

  test('an unknown key inside limits, a rule or lockout is refused naming its path', () => {
    assert.match(problems({ burst_tollerance: '2x' })[0] as string, /^limits\.burst_tollerance: unknown key/);
    assert.match(problems({ rates: [{ name: 'r', limit: 1, per_ip: true }] })[0] as string, /^limits\.rates\[0\]\.per_ip: unknown key/);
    assert.match(problems({ lockout: { max_failure: 3 } })[0] as string, /^limits\.lockout\.max_failure: unknown key/);
  });

  test('per defaults to principal and is deduplicated; unknown parts, names and methods are refused', () => {
    const [one, two] = limitsConfig({ rates: [{ name: 'a', limit: 1 }, { name: 'b', limit: 1, per: ['ip', 'route', 'ip'] }] }).rates;
    assert.deepEqual(one?.per, ['principal']);
    assert.deepEqual(two?.per, ['ip', 'route']);
    assert.match(problems({ rates: [{ name: 'r', limit: 1, per: 'country' }] })[0] as string, /^limits\.rates\[0\]\.per/);
    assert.match(problems({ rates: [{ name: 'has space', limit: 1 }] })[0] as string, /^limits\.rates\[0\]\.name: /);
    assert.match(problems({ rates: [{ name: 'r', limit: 1, methods: ['get'] }] })[0] as string, /^limits\.rates\[0\]\.methods\[0\]: /);
  });

  test('lockout defaults: enabled, 10 failures in 15m lock the address for 15m', () => {
    assert.deepEqual(limitsConfig({}).lockout, { enabled: true, max_failures: 10, window: 900_000, duration: 900_000, per: ['ip'], exempt: [], poll: 250 });
    assert.match(problems({ lockout: { per: [] } })[0] as string, /^limits\.lockout\.per: /);
    assert.match(problems({ lockout: { duration: '500ms' } })[0] as string, /^limits\.lockout\.duration: /);
  });
});
