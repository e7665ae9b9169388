/**
 * Literal route segments match case-insensitively because upstreams route `/NS/` to the `/ns/` handler. Java's
 * equalsIgnoreCase and .NET's ordinal ignore-case (Spring, ASP.NET) also equate the dotted capital İ, the dotless ı and
 * the long s ſ with ASCII letters, where JavaScript's toLowerCase does not: `/status` spelled `/ſtatuſ`, or an admin
 * path spelled `admın`, matched no rule and took `http_default: authenticated`, while such an upstream served it from
 * the handler the rule guards.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { call, httpEngine } from '../authz/http-helpers.js';
import { principal } from '../authz/helpers.js';
import { foldSegment } from '../../src/authz/routes.js';

describe('literal segments fold as ignore-case routers fold them', () => {
  test('İ, ı and ſ spellings of a guarded path are judged by its rule, not by http_default', async () => {
    const e = await httpEngine({ http_default: 'authenticated' });
    const nobody = principal('x', []);
    for (const path of ['/ſtatuſ', '/STATUS', '/\u017Ftatus']) {
      const { err, ex } = await call(e, 'GET', path, nobody);
      assert.equal(err?.code, 'GH_SCOPE_MISSING', path);
      assert.equal(ex.decision?.rule, 'route:status', path);
    }
    const member = principal('service-account-subscriber', [], { tenant: 'acme-corp' });
    for (const seg of ['admın', 'admİn', 'ADMİN']) {
      const { err, ex } = await call(e, 'POST', `/t/acme-corp/ns/production/${seg}/export`, member);
      assert.ok(err !== undefined, `${seg}: refused as the admin rule refuses it`);
      assert.equal(ex.decision?.rule, 'route:ns-admin', seg);
    }
  });

  test('the fold itself: only those letters join ASCII; other non-ASCII text stays apart', () => {
    assert.equal(foldSegment('admİn'), 'admin');
    assert.equal(foldSegment('ADMIN'), 'admin');
    assert.equal(foldSegment('admın'), 'admin');
    assert.equal(foldSegment('ſtreams'), 'streams');
    assert.equal(foldSegment('\u212Aey'), 'key', 'the Kelvin sign lowers to k on its own');
    assert.equal(foldSegment('straße'), 'straße');
    assert.equal(foldSegment('kullanıcı'), 'kullanici');
  });
});
