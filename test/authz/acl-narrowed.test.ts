/**
 * ACL rules narrowed to a credential kind (`method`, and `issuer` for JWT): a principal id is unique only within the
 * method that authenticated it, so a narrowed rule for `svc-x` must not grant a partner IdP's `sub: svc-x`, an API key
 * named `svc-x` or a JWT whose `sub` spells another index's key.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAclText, RbacIndex } from '../../src/authz/index.js';
import { createPolicyEngine } from '../../src/authz/index.js';
import { GatehouseError } from '../../src/core/errors.js';
import type { Principal } from '../../src/core/types.js';
import { makeConfig, makeDeps, principal } from './helpers.js';
import { call, HTTP_ROUTES } from './http-helpers.js';

const TYPES = ['stream', 'cache'];
const IDP = 'https://idp.internal';
const PARTNER = 'https://partner.example';

const ACL = `apiVersion: gatehouse.io/v1
kind: ACL
metadata: { tenant: acme-corp, namespace: production }
spec:
  rules:
    - { principal: svc-x, method: jwt, issuer: "${IDP}", resource: "stream:orders", permissions: [publish] }
    - { principal: svc-x, method: api_key, resource: "stream:audit", permissions: [subscribe] }
    - { principal: "*", issuer: "${IDP}", resource: "stream:public", permissions: [subscribe] }
    - { principal: plain, resource: "stream:orders", permissions: [publish] }
`;

const jwt = (id: string, issuer: string): Principal => principal(id, [], { tenant: 'acme-corp', method: 'jwt', attributes: { issuer } });

describe('ACL rules narrowed to a method or issuer', () => {
  const rules = parseAclText(ACL, 'narrowed.yaml', TYPES);
  const index = new RbacIndex(rules);
  const find = (id: string, resource: string, permission: 'publish' | 'subscribe', method?: string, issuer?: string) =>
    index.find('acme-corp', 'production', id, resource, permission, method, issuer);

  test('load as written; issuer alone implies jwt', () => {
    assert.deepEqual(
      rules.map((r) => [r.principal, r.method, r.issuer]),
      [['svc-x', 'jwt', IDP], ['svc-x', 'api_key', undefined], ['*', 'jwt', IDP], ['plain', undefined, undefined]],
    );
  });

  test('an issuer on a non-jwt method is a config error naming the rule', () => {
    assert.throws(
      () => parseAclText('apiVersion: felix.io/v1\nkind: ACL\nmetadata: {tenant: a, namespace: b}\nspec:\n  rules:\n    - {principal: p, method: token, issuer: x, resource: "stream:x", permissions: [publish]}\n', 'x.yaml', TYPES),
      (e: unknown) => e instanceof GatehouseError && e.code === 'GH_CONFIG_INVALID' && /x\.yaml#0\.spec\.rules\.0\.issuer: issuer narrows jwt principals only/.test(e.message),
    );
  });

  test('the narrowed rule grants its own kind only', () => {
    assert.equal(find('svc-x', 'stream:orders', 'publish', 'jwt', IDP), 'acl:narrowed.yaml#0.rules[0]');
    assert.equal(find('svc-x', 'stream:orders', 'publish', 'jwt', PARTNER), undefined, "a partner IdP's sub");
    assert.equal(find('svc-x', 'stream:orders', 'publish', 'api_key'), undefined, 'an API key of the same name');
    assert.equal(find('svc-x', 'stream:orders', 'publish', 'token'), undefined, 'a gatehouse token of the same sub');
    assert.equal(find('svc-x', 'stream:orders', 'publish'), undefined, 'no method given: narrowed rules never match');
    assert.equal(find('svc-x', 'stream:audit', 'subscribe', 'api_key'), 'acl:narrowed.yaml#0.rules[1]');
    assert.equal(find('svc-x', 'stream:audit', 'subscribe', 'jwt', IDP), undefined);
  });

  test('"*" narrowed to an issuer: every principal of that issuer, no other', () => {
    assert.equal(find('anyone', 'stream:public', 'subscribe', 'jwt', IDP), 'acl:narrowed.yaml#0.rules[2]');
    assert.equal(find('anyone', 'stream:public', 'subscribe', 'jwt', PARTNER), undefined);
    assert.equal(find('anyone', 'stream:public', 'subscribe', 'basic'), undefined);
  });

  test('rules without method still match every kind, as seed 002 wrote them', () => {
    for (const m of ['jwt', 'api_key', 'basic', undefined]) assert.equal(find('plain', 'stream:orders', 'publish', m, PARTNER), 'acl:narrowed.yaml#0.rules[3]', String(m));
  });

  test("a sub spelling the narrowed index's key (NUL-separated) matches nothing", () => {
    for (const sub of [`jwt\u0000${IDP}\u0000svc-x`, `api_key\u0000\u0000svc-x`, `jwt\u0000\u0000svc-x`]) {
      assert.equal(find(sub, 'stream:orders', 'publish', 'jwt', PARTNER), undefined, JSON.stringify(sub));
      assert.equal(find(sub, 'stream:audit', 'subscribe', 'jwt', PARTNER), undefined, JSON.stringify(sub));
      assert.equal(find(sub, 'stream:audit', 'subscribe', 'basic'), undefined, JSON.stringify(sub));
    }
  });
});

describe('through the policy engine (principal method and JWT issuer from authn)', () => {
  test("a partner IdP's sub: svc-x is refused the rule narrowed to our IdP; ours is allowed", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-acl-narrowed-'));
    try {
      const file = join(dir, 'acl.yaml');
      writeFileSync(file, ACL);
      const cfg = makeConfig({ authz: { acl_files: [file], routes: HTTP_ROUTES as never } });
      const e = await createPolicyEngine(cfg, makeDeps());
      const path = '/t/acme-corp/ns/production/streams/orders';
      const ours = await call(e, 'POST', path, jwt('svc-x', IDP));
      assert.equal(ours.err, undefined);
      assert.equal(ours.ex.decision?.rule, `acl:${file}#0.rules[0]`);
      const partner = await call(e, 'POST', path, jwt('svc-x', PARTNER));
      assert.equal(partner.err?.code, 'GH_FORBIDDEN');
      assert.equal(partner.ex.decision?.reason, 'rbac_no_rule');
      const apiKey = await call(e, 'POST', path, principal('svc-x', [], { tenant: 'acme-corp', method: 'api_key' }));
      assert.equal(apiKey.err?.code, 'GH_FORBIDDEN');
      // Narrowing is policy: changing it changes the policy version decisions carry.
      writeFileSync(file, ACL.replace('method: jwt, issuer: "https://idp.internal"', 'method: api_key'));
      const other = await createPolicyEngine(makeConfig({ authz: { acl_files: [file], routes: HTTP_ROUTES as never } }), makeDeps());
      assert.notEqual(other.policyVersion, e.policyVersion);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
