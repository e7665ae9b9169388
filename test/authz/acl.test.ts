import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadAclFiles, parseAclText, RbacIndex } from '../../src/authz/index.js';
import { GatehouseError } from '../../src/core/errors.js';
import { FIXTURES } from './helpers.js';

const TYPES = ['stream', 'cache'];
const bad = (yaml: string, re: RegExp) =>
  assert.throws(() => parseAclText(yaml, 'x.yaml', TYPES), (e: unknown) => e instanceof GatehouseError && e.code === 'GH_CONFIG_INVALID' && re.test(e.message));

describe('seed 002 ACL documents', () => {
  test("the seed's example loads unchanged", async () => {
    const rules = await loadAclFiles(['seed002-acl.yaml'], FIXTURES, TYPES);
    assert.equal(rules.length, 3);
    assert.deepEqual(rules[0], {
      tenant: 'acme-corp',
      namespace: 'production',
      principal: 'service-account-publisher',
      resource: 'stream:orders',
      permissions: ['publish'],
      source: 'acl:seed002-acl.yaml#0.rules[0]',
    });
    assert.deepEqual(rules[2]?.permissions, ['publish', 'subscribe', 'cache_read', 'cache_write', 'admin']);
  });

  test('multi-document files load every document', () => {
    const rules = parseAclText(readFileSync(`${FIXTURES}multi-tenant.yaml`, 'utf8'), 'multi-tenant.yaml', TYPES);
    assert.deepEqual(
      rules.map((r) => r.source),
      ['acl:multi-tenant.yaml#0.rules[0]', 'acl:multi-tenant.yaml#0.rules[1]', 'acl:multi-tenant.yaml#1.rules[0]'],
    );
  });

  test('an unknown permission is an error naming the file, document and rule', () => {
    bad(
      'apiVersion: felix.io/v1\nkind: ACL\nmetadata: {tenant: a, namespace: b}\nspec:\n  rules:\n    - {principal: p, resource: "stream:x", permissions: [pubish]}\n',
      /x\.yaml#0\.spec\.rules\[0\]\.permissions: unknown permission "pubish"/,
    );
  });
  test('an unknown resource type or malformed resource is an error', () => {
    bad('apiVersion: felix.io/v1\nkind: ACL\nmetadata: {tenant: a, namespace: b}\nspec: {rules: [{principal: p, resource: "queue:x", permissions: [publish]}]}\n', /unknown resource type "queue"/);
    bad('apiVersion: felix.io/v1\nkind: ACL\nmetadata: {tenant: a, namespace: b}\nspec: {rules: [{principal: p, resource: "stream:*x", permissions: [publish]}]}\n', /is not/);
  });
  test('unknown keys, wrong kind or apiVersion and YAML errors are refused', () => {
    bad('apiVersion: felix.io/v1\nkind: ACL\nmetadata: {tenant: a, namespace: b}\nspec: {rules: [], extra: 1}\n', /spec/);
    bad('apiVersion: felix.io/v1\nkind: Role\nmetadata: {tenant: a, namespace: b}\nspec: {rules: []}\n', /kind/);
    bad('apiVersion: felix.io/v2\nkind: ACL\nmetadata: {tenant: a, namespace: b}\nspec: {rules: []}\n', /apiVersion/);
    bad('apiVersion: felix.io/v1\nkind: ACL\nkind: ACL\n', /YAML error/);
  });
  test('an unreadable file is GH_CONFIG_FILE_UNREADABLE', async () => {
    await assert.rejects(loadAclFiles(['missing.yaml'], FIXTURES, TYPES), (e: unknown) => (e as GatehouseError).code === 'GH_CONFIG_FILE_UNREADABLE');
  });
});

describe('RBAC index', () => {
  const rules = [
    ...parseAclText(readFileSync(`${FIXTURES}seed002-acl.yaml`, 'utf8'), 'seed.yaml', TYPES),
    ...parseAclText(readFileSync(`${FIXTURES}multi-tenant.yaml`, 'utf8'), 'multi.yaml', TYPES),
  ];
  const idx = new RbacIndex(rules);

  test('exact resource grants exactly its permission', () => {
    assert.equal(idx.find('acme-corp', 'production', 'service-account-publisher', 'stream:orders', 'publish'), 'acl:seed.yaml#0.rules[0]');
    assert.equal(idx.find('acme-corp', 'production', 'service-account-publisher', 'stream:orders', 'subscribe'), undefined);
    assert.equal(idx.find('acme-corp', 'production', 'service-account-publisher', 'stream:payments', 'publish'), undefined);
    assert.equal(idx.find('acme-corp', 'production', 'service-account-consumer', 'stream:orders', 'subscribe'), 'acl:seed.yaml#0.rules[1]');
  });
  test('`*` resource covers every type; `type:*` only its type', () => {
    assert.equal(idx.find('acme-corp', 'production', 'service-account-admin', 'cache:sessions', 'cache_write'), 'acl:seed.yaml#0.rules[2]');
    assert.equal(idx.find('globex', 'staging', 'globex-writer', 'cache:sessions', 'cache_read'), 'acl:multi.yaml#0.rules[0]');
    assert.equal(idx.find('globex', 'staging', 'globex-writer', 'stream:sessions', 'publish'), undefined);
  });
  test('namespaces are independent; `*` namespace covers all of the tenant', () => {
    assert.equal(idx.find('acme-corp', 'staging', 'service-account-admin', 'stream:orders', 'publish'), undefined);
    assert.equal(idx.find('globex', 'anything', 'globex-auditor', 'stream:x', 'subscribe'), 'acl:multi.yaml#1.rules[0]');
  });
  test('principal `*` is any principal, for the listed resource only', () => {
    assert.equal(idx.find('globex', 'staging', 'someone', 'stream:public', 'subscribe'), 'acl:multi.yaml#0.rules[1]');
    assert.equal(idx.find('globex', 'staging', 'someone', 'stream:private', 'subscribe'), undefined);
  });
  test("one tenant's rules never grant in another tenant", () => {
    assert.equal(idx.find('globex', 'production', 'service-account-admin', 'stream:orders', 'publish'), undefined);
    assert.equal(idx.find('unknown', 'production', 'service-account-admin', 'stream:orders', 'publish'), undefined);
  });
  test('lookups keyed by user input are not fooled by prototype names', () => {
    assert.equal(idx.find('__proto__', 'constructor', 'toString', 'stream:x', 'publish'), undefined);
  });
  test('tenants() lists the tenants the documents name', () => {
    assert.deepEqual(idx.tenants().sort(), ['acme-corp', 'globex']);
  });
});
