/**
 * Every subpath in package.json "exports" resolves and loads from the built package, by the package's own name, as a
 * user's `import … from 'gatehouse/…'` would (npm test builds dist first). An export pointing at a file that was never
 * written (as "." and "./gateway" once did) fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; exports: Record<string, { types: string; default: string }> };

test('every package export loads by name and exports something', async () => {
  const subpaths = Object.keys(pkg.exports);
  assert.ok(subpaths.length >= 15, `exports: ${subpaths.join(', ')}`);
  for (const sub of subpaths) {
    const specifier = sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`;
    const mod = (await import(specifier)) as Record<string, unknown>;
    assert.ok(Object.keys(mod).length > 0, `${specifier} exports nothing`);
    const types = new URL(`../../${pkg.exports[sub]?.types}`, import.meta.url);
    assert.ok(readFileSync(types, 'utf8').length > 0, `${specifier}: no type declarations at ${pkg.exports[sub]?.types}`);
  }
});

test('the root export names each capability and the starting points', async () => {
  const root = (await import(pkg.name)) as Record<string, unknown>;
  for (const name of ['authn', 'authz', 'secrets', 'client', 'doctor', 'compliance', 'gateway', 'startGateway', 'loadConfig', 'GatehouseError']) assert.ok(name in root, name);
  const gateway = (await import(`${pkg.name}/gateway`)) as Record<string, unknown>;
  assert.equal(typeof gateway['startGateway'], 'function');
});
