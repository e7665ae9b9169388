import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { GatehouseError } from '../../src/core/errors.js';
import type { Principal } from '../../src/core/types.js';
import { compileRules, keyOf, type CompiledRule } from '../../src/limits/index.js';
import { rateLimited } from '../../src/limits/rules.js';
import { ROUTES, fakeExchange, limitsConfig, principal, type FakeExchange } from './helpers.js';

const TOOLS = new Set(['ping_host', 'read_file']);
const opts = { routeNames: ROUTES, knownTool: (name: string) => TOOLS.has(name) };

/** The one rule `rule` compiles to (pre or post). */
function compileOne(rule: Record<string, unknown>, section: Record<string, unknown> = {}): CompiledRule {
  const { pre, post } = compileRules(limitsConfig({ ...section, rates: [{ name: 'r', limit: '10/sec', ...rule }] }), opts);
  const one = [...pre, ...post];
  assert.equal(one.length, 1);
  return one[0] as CompiledRule;
}

function configError(fn: () => unknown): GatehouseError {
  try {
    fn();
  } catch (e) {
    return e as GatehouseError;
  }
  assert.fail('expected a configuration error');
}

/** A header of an error, whatever case its name is written in (HTTP header names are case-insensitive). */
function header(err: GatehouseError, name: string): string | undefined {
  for (const [k, v] of Object.entries(err.headers ?? {})) if (k.toLowerCase() === name.toLowerCase()) return v;
  return undefined;
}

const key = (rule: CompiledRule, ex: FakeExchange): string => keyOf(rule, fakeExchange(ex));

describe('compileRules', () => {
  test('a rule naming an unknown route is GH_CONFIG_INVALID naming limits.rates[i]', () => {
    const cfg = limitsConfig({ rates: [{ name: 'ok', limit: 5, routes: ['api'] }, { name: 'typo', limit: 5, routes: ['api', 'apii'] }] });
    const err = configError(() => compileRules(cfg, opts));
    assert.equal(err.code, 'GH_CONFIG_INVALID');
    assert.match(err.message, /^limits\.rates\[1\]\.routes: /);
    assert.match(err.message, /"apii"/);
  });

  test('a rule naming a tool outside the registry is GH_CONFIG_INVALID naming limits.rates[i]', () => {
    const cfg = limitsConfig({ rates: [{ name: 'a', limit: 5 }, { name: 'b', limit: 5 }, { name: 'c', limit: 5, tools: ['ping_host', 'rm_rf'] }] });
    const err = configError(() => compileRules(cfg, opts));
    assert.equal(err.code, 'GH_CONFIG_INVALID');
    assert.match(err.message, /^limits\.rates\[2\]\.tools: /);
    assert.match(err.message, /"rm_rf"/);
    // Known tools and routes compile.
    assert.doesNotThrow(() => compileRules(limitsConfig({ rates: [{ name: 'c', limit: 5, routes: ['mcp'], tools: ['ping_host'] }] }), opts));
  });

  test('rules with tools are checked after authorize (post), the others at the throttle stage (pre), keeping their index', () => {
    const cfg = limitsConfig({
      rates: [
        { name: 'global', limit: '100/sec' },
        { name: 'pings', limit: '1/min', tools: ['ping_host'] },
        { name: 'api', limit: '10/sec', routes: ['api'] },
      ],
    });
    const { pre, post } = compileRules(cfg, opts);
    assert.deepEqual(pre.map((r) => [r.name, r.index]), [['global', 0], ['api', 2]]);
    assert.deepEqual(post.map((r) => [r.name, r.index]), [['pings', 1]]);
    assert.deepEqual([...(post[0]?.tools ?? [])], ['ping_host']);
    assert.equal(pre[0]?.tools, undefined);
  });

  test('burst defaults to ceil(limit × burst_tolerance); a rule may set its own tolerance or burst', () => {
    assert.equal(compileOne({ limit: '10/sec' }).table.shape.burst, 20, 'section default 2x');
    assert.equal(compileOne({ limit: '3/sec' }, { burst_tolerance: '1.5x' }).table.shape.burst, 5, '3 × 1.5 = 4.5, rounded up');
    assert.equal(compileOne({ limit: '3/sec', burst_tolerance: '3x' }, { burst_tolerance: '1.5x' }).table.shape.burst, 9);
    assert.equal(compileOne({ limit: '3/sec', burst: 7 }, { burst_tolerance: '1.5x' }).table.shape.burst, 7);
    assert.equal(compileOne({ limit: '7/sec', burst_tolerance: '1x' }).table.shape.burst, 7);
    // The table is built from the rate as written.
    const r = compileOne({ limit: '60/min', burst: 1 });
    assert.deepEqual(r.table.shape, { limit: 60, periodMs: 60_000, burst: 1 });
    assert.equal(r.table.take('k', 0).allowed, true);
    assert.equal(r.table.take('k', 0).retryAfterMs, 1000);
  });

  test('RateLimit-Policy gives the quota and the window in seconds', () => {
    assert.equal(compileOne({ name: 'per-user', limit: '10/sec' }).policy, '"per-user";q=10;w=1');
    assert.equal(compileOne({ name: 'per-user', limit: '60/min' }).policy, '"per-user";q=60;w=60');
    assert.equal(compileOne({ name: 'per-user', limit: '5/hour' }).policy, '"per-user";q=5;w=3600');
  });
});

describe('keyOf', () => {
  const alice = (more: Partial<Principal> = {}): Principal => principal('alice', { tenant: 'acme', ...more });

  test('per principal: the same id by another method or in another tenant counts apart', () => {
    const rule = compileOne({ per: 'principal' });
    const base = key(rule, { principal: alice() });
    assert.equal(key(rule, { principal: alice(), ip: '198.51.100.9' }), base, 'the address does not matter for a known principal');
    assert.notEqual(key(rule, { principal: alice({ method: 'api_key' }) }), base);
    assert.notEqual(key(rule, { principal: alice({ method: 'token' }) }), base);
    assert.notEqual(key(rule, { principal: alice({ tenant: 'beta' }) }), base);
    assert.notEqual(key(rule, { principal: alice({ tenant: undefined }) }), base);
    assert.notEqual(key(rule, { principal: principal('bob', { tenant: 'acme' }) }), base);
  });

  test('anonymous callers and exchanges without a principal count by their address', () => {
    const rule = compileOne({ per: 'principal' });
    const anon = principal('anonymous', { type: 'anonymous', method: 'none' });
    const a = key(rule, { principal: anon, ip: '198.51.100.1' });
    assert.equal(key(rule, { ip: '198.51.100.1' }), a, 'no principal at all: the same address key');
    assert.equal(key(rule, { principal: principal('someone-else', { type: 'anonymous', method: 'none' }), ip: '198.51.100.1' }), a, 'the anonymous id is not part of it');
    assert.notEqual(key(rule, { principal: anon, ip: '198.51.100.2' }), a);
    assert.equal(key(compileOne({ per: 'ip' }), { ip: '198.51.100.1', principal: alice() }), a, 'the same key as per: ip');
    // A known principal whose id is that address still counts apart from the address.
    assert.notEqual(key(rule, { principal: principal('198.51.100.1'), ip: '198.51.100.1' }), a);
  });

  test('IPv6 addresses of one /64 share a key (core/net clientKey); another /64 does not', () => {
    const rule = compileOne({ per: 'ip' });
    const a = key(rule, { ip: '2001:db8:1:2::1' });
    assert.equal(key(rule, { ip: '2001:db8:1:2:abcd:ef01:2345:6789' }), a);
    assert.equal(key(rule, { ip: '2001:0db8:0001:0002:0000:0000:0000:0009' }), a, 'written in full');
    assert.notEqual(key(rule, { ip: '2001:db8:1:3::1' }), a);
    assert.notEqual(key(rule, { ip: '192.0.2.1' }), key(rule, { ip: '192.0.2.2' }), 'IPv4 addresses count one by one');
    // Anonymous principal keys use the /64 too.
    const p = compileOne({ per: 'principal' });
    assert.equal(key(p, { ip: '2001:db8:1:2::1' }), key(p, { ip: '2001:db8:1:2::ffff' }));
  });

  test('per token: the credential id, else the principal; anonymous falls back to the address', () => {
    const rule = compileOne({ per: 'token' });
    const k1 = key(rule, { principal: alice({ credential_id: 'key-1' }) });
    assert.notEqual(key(rule, { principal: alice({ credential_id: 'key-2' }) }), k1, 'two keys of one principal count apart');
    assert.equal(key(rule, { principal: alice({ credential_id: 'key-1', tenant: 'beta', id: 'alice2' }) }), k1, 'the credential decides');
    const none = key(rule, { principal: alice() });
    assert.notEqual(none, k1);
    assert.notEqual(key(rule, { principal: alice({ tenant: 'beta' }) }), none, 'without a credential id: the principal');
    assert.equal(key(rule, { ip: '198.51.100.1' }), key(compileOne({ per: 'ip' }), { ip: '198.51.100.1' }));
  });

  test("per tenant: the operation's tenant wins over the principal's; none is one shared key", () => {
    const rule = compileOne({ per: 'tenant' });
    const beta = key(rule, { principal: alice({ tenant: 'beta' }) });
    assert.equal(key(rule, { principal: alice({ tenant: 'acme' }), operation: { tenant: 'beta' } }), beta);
    assert.notEqual(key(rule, { principal: alice({ tenant: 'acme' }) }), beta);
    assert.equal(key(rule, { principal: principal('bob', { tenant: 'beta' }), ip: '192.0.2.9' }), beta, 'everyone in the tenant shares it');
    assert.equal(key(rule, {}), key(rule, { principal: principal('carol'), operation: {} }), 'no tenant anywhere: one key');
    assert.notEqual(key(rule, {}), beta);
  });

  test('per route and combinations: each part counts', () => {
    const rule = compileOne({ per: ['principal', 'route'] });
    const a = key(rule, { principal: alice(), route: 'api' });
    assert.notEqual(key(rule, { principal: alice(), route: 'mcp' }), a);
    assert.notEqual(key(rule, { principal: principal('bob', { tenant: 'acme' }), route: 'api' }), a);
    assert.equal(key(rule, { principal: alice(), route: 'api', ip: '192.0.2.77' }), a);
  });

  test('no id holding separators can pass for another combination (length-prefixed parts)', () => {
    const p = (id: string, tenant: string | undefined, more: Partial<Principal> = {}) => ({ principal: principal(id, { tenant, ...more }) });
    const distinct: Array<[string, Record<string, unknown>, FakeExchange[]]> = [
      ['principal: tenant and id split differently', { per: 'principal' }, [p('b:c', 'a'), p('c', 'a:b'), p('a:b:c', undefined), p('', 'a:b:c')]],
      ['principal: an id that looks like an address key', { per: 'principal' }, [p('i9:192.0.2.1', undefined, { method: 'none' }), { ip: '192.0.2.1' }]],
      ['token: a credential id that looks like a principal', { per: 'token' }, [p('alice', 'acme'), p('x', undefined, { credential_id: 'basic:acme:alice' })]],
      ['tenant and route', { per: ['tenant', 'route'] }, [{ route: 'api', operation: { tenant: 'x' } }, { route: 'pi', operation: { tenant: 'xa' } }, { route: 'api', operation: { tenant: 'xr3:api' } }]],
      ['principal and ip', { per: ['principal', 'ip'] }, [{ ...p('bob', undefined), ip: '192.0.2.1' }, { ...p('bob:i9:192.0.2.1', undefined), ip: '192.0.2.2' }]],
    ];
    for (const [what, rule, exchanges] of distinct) {
      const compiled = compileOne(rule);
      const keys = exchanges.map((ex) => key(compiled, ex));
      assert.equal(new Set(keys).size, keys.length, `${what}: ${JSON.stringify(keys)}`);
    }
  });
});

describe('rateLimited', () => {
  const verdict = (retryAfterMs: number) => ({ allowed: false, remaining: 0, retryAfterMs, resetMs: retryAfterMs });

  test('429 GH_RATE_LIMITED with Retry-After (whole seconds, rounded up, at least 1), RateLimit-Policy and RateLimit', () => {
    const rule = compileOne({ name: 'per-user', limit: '10/sec' });
    const err = rateLimited(rule, verdict(1500));
    assert.equal(err.code, 'GH_RATE_LIMITED');
    assert.equal(err.status, 429);
    assert.equal(header(err, 'Retry-After'), '2');
    assert.equal(header(err, 'RateLimit-Policy'), '"per-user";q=10;w=1');
    assert.equal(header(err, 'RateLimit'), '"per-user";r=0;t=2');
    assert.equal(err.data?.['rate_limit'], 'per-user');
    assert.equal(err.data?.['retry_after'], 2);
    for (const [ms, secs] of [[1, '1'], [100, '1'], [1000, '1'], [1001, '2'], [60_000, '60'], [0, '1']] as const) {
      assert.equal(header(rateLimited(rule, verdict(ms)), 'Retry-After'), secs, `${ms} ms`);
    }
  });

  test('the refusal for a real exhausted key: Retry-After from the table', () => {
    const rule = compileOne({ name: 'slow', limit: '1/min', burst: 1 });
    rule.table.take('k', 0);
    const v = rule.table.take('k', 30_000);
    assert.equal(v.allowed, false);
    assert.equal(header(rateLimited(rule, v), 'Retry-After'), '30');
  });

  test('names the rule, never the key: no principal, tenant or address in message, detail, headers or data', () => {
    const rule = compileOne({ name: 'per-user', limit: '1/sec', burst: 1, per: ['principal', 'tenant', 'ip', 'token'] });
    const ex = fakeExchange({ principal: principal('alice-7f3a', { tenant: 'tenant-q9', credential_id: 'cred-51x' }), ip: '198.51.100.213' });
    const k = keyOf(rule, ex);
    assert.equal(rule.table.take(k, 0).allowed, true);
    const v = rule.table.take(k, 0);
    assert.equal(v.allowed, false);
    const err = rateLimited(rule, v);
    const shown = JSON.stringify([err.message, err.detail, err.headers, err.data, err.toJSON()]);
    for (const secret of ['alice-7f3a', 'tenant-q9', 'cred-51x', '198.51.100.213', k]) assert.equal(shown.includes(secret), false, secret);
    assert.match(shown, /per-user/);
  });
});
