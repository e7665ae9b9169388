import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ScopeRegistry, SEED001_SCOPE_BUNDLES, SEED001_SCOPE_HIERARCHY } from '../../src/authz/index.js';
import { GatehouseError } from '../../src/core/errors.js';
import { makeConfig } from './helpers.js';

const seed = () => new ScopeRegistry({ hierarchy: SEED001_SCOPE_HIERARCHY, bundles: SEED001_SCOPE_BUNDLES });

describe('seed 001 scope hierarchy', () => {
  test('admin implies every scope of the tree', () => {
    const r = seed();
    const exp = r.expand(['admin']);
    for (const s of Object.keys(SEED001_SCOPE_HIERARCHY)) assert.equal(r.satisfiedBy(exp, s), 'admin', s);
  });

  test('container:admin ⊃ container:write ⊃ container:read, and not the other way', () => {
    const r = seed();
    assert.ok(r.check(r.expand(['container:admin']), ['container:read', 'container:write']).ok);
    const w = r.check(r.expand(['container:read']), ['container:write']);
    assert.equal(w.ok, false);
    assert.equal(w.missing, 'container:write');
  });

  test('file:write ⊃ file:read and network:diag ⊃ network:read', () => {
    const r = seed();
    assert.equal(r.satisfiedBy(r.expand(['file:write']), 'file:read'), 'file:write');
    assert.equal(r.satisfiedBy(r.expand(['network:diag']), 'network:read'), 'network:diag');
    assert.equal(r.satisfiedBy(r.expand(['network:read']), 'network:diag'), undefined);
  });

  test('system:admin does not imply docker:admin (siblings stay apart)', () => {
    const r = seed();
    assert.equal(r.satisfiedBy(r.expand(['system:admin']), 'docker:admin'), undefined);
  });

  test('the readonly bundle is system:read, network:read, container:read, file:read and nothing more', () => {
    const r = seed();
    const exp = r.expand(['readonly']);
    for (const s of ['system:read', 'network:read', 'container:read', 'file:read']) assert.equal(r.satisfiedBy(exp, s), 'readonly');
    for (const s of ['system:admin', 'container:write', 'network:diag', 'file:write', 'admin']) assert.equal(r.satisfiedBy(exp, s), undefined, s);
  });

  test('a check names the granted scopes that satisfied it, preferring an exact grant', () => {
    const r = seed();
    const c = r.check(r.expand(['admin', 'system:admin', 'readonly']), ['system:admin', 'container:read', 'system:read']);
    assert.deepEqual(c, { ok: true, used: ['system:admin', 'readonly'] });
  });

  test('unknown granted scopes imply only themselves', () => {
    const r = seed();
    const exp = r.expand(['weird:scope']);
    assert.equal(r.satisfiedBy(exp, 'weird:scope'), 'weird:scope');
    assert.equal(r.satisfiedBy(exp, 'system:read'), undefined);
  });

  test('the default config section is seed 001', () => {
    const cfg = makeConfig();
    assert.deepEqual(cfg.authz.scopes.hierarchy, { ...SEED001_SCOPE_HIERARCHY });
    assert.deepEqual(cfg.authz.scopes.bundles, { readonly: ['system:read', 'network:read', 'container:read', 'file:read'] });
  });
});

describe('scope hierarchy validation', () => {
  const configError = (fn: () => unknown, path: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof GatehouseError && e.code === 'GH_CONFIG_INVALID' && path.test(e.message));

  test('an unknown parent is a config error naming the path', () => {
    configError(() => new ScopeRegistry({ hierarchy: { a: null, b: 'nope' }, bundles: {} }), /authz\.scopes\.hierarchy\.b: unknown parent scope "nope"/);
  });

  test('a cycle is a config error', () => {
    configError(() => new ScopeRegistry({ hierarchy: { a: 'c', b: 'a', c: 'b' }, bundles: {} }), /cycle/);
  });

  test('a scope that is its own parent is a config error', () => {
    configError(() => new ScopeRegistry({ hierarchy: { a: 'a' }, bundles: {} }), /own parent/);
  });

  test('a bundle naming an unknown scope is a config error', () => {
    configError(() => new ScopeRegistry({ hierarchy: { a: null }, bundles: { ro: ['a', 'zz'] } }), /bundles\.ro: unknown scope "zz"/);
  });

  test('a bundle cannot shadow a scope', () => {
    configError(() => new ScopeRegistry({ hierarchy: { a: null }, bundles: { a: ['a'] } }), /bundles\.a/);
  });

  test('multiple parents: a scope is implied by each', () => {
    const r = new ScopeRegistry({ hierarchy: { ops: null, dev: null, 'logs:read': ['ops', 'dev'] }, bundles: {} });
    assert.equal(r.satisfiedBy(r.expand(['dev']), 'logs:read'), 'dev');
    assert.equal(r.satisfiedBy(r.expand(['ops']), 'logs:read'), 'ops');
  });
});

describe('scope closure properties', () => {
  const names = Object.keys(SEED001_SCOPE_HIERARCHY);
  const grants = fc.uniqueArray(fc.constantFrom(...names, 'readonly', 'other:thing'), { maxLength: 6 });

  test('monotonic: adding a grant never removes a satisfied scope', () => {
    const r = seed();
    fc.assert(
      fc.property(grants, fc.constantFrom(...names, 'readonly'), (g, extra) => {
        const before = r.expand(g);
        const after = r.expand([...g, extra]);
        for (const s of names) if (r.satisfiedBy(before, s)) assert.ok(r.satisfiedBy(after, s));
      }),
    );
  });

  test('transitive: what a satisfied scope implies is satisfied too', () => {
    const r = seed();
    fc.assert(
      fc.property(grants, (g) => {
        const exp = r.expand(g);
        for (const s of names) if (r.satisfiedBy(exp, s)) for (const t of r.closureOf(s)) assert.ok(r.satisfiedBy(exp, t), `${s} → ${t}`);
      }),
    );
  });

  test('the scope named as used is one the principal was granted', () => {
    const r = seed();
    fc.assert(
      fc.property(grants, fc.uniqueArray(fc.constantFrom(...names), { maxLength: 4 }), (g, req) => {
        const c = r.check(r.expand(g), req);
        for (const u of c.used) assert.ok(g.includes(u));
      }),
    );
  });

  test('expansion is cached per content: equal grants give the same object', () => {
    const r = seed();
    assert.equal(r.expand(['admin', 'readonly']), r.expand(['admin', 'readonly']));
  });
});
