import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { GatehouseError } from '../../src/core/errors.js';
import { createAuthenticator } from '../../src/authn/index.js';
import { authConfig, exchange, identifyResult, tempDir, testDeps } from './helpers.js';

const cert = (c: { subject_cn?: string; san_dns?: string[]; san_uri?: string[] }) => ({ client_cert: { fingerprint256: 'AB:CD', ...c } });

describe('mtls method', () => {
  test('maps the verified certificate by CN or SAN (DNS, URI) to principal, scopes and tenant', async (t) => {
    const dir = tempDir(t);
    const authn = await createAuthenticator(
      authConfig({
        methods: ['token', 'mtls'],
        mtls: {
          map: [
            { cn: 'service-account-publisher', scopes: ['stream:write'], tenant: 'acme' },
            { san: 'consumer.felix.svc', principal: 'service-account-consumer', scopes: ['stream:read'] },
            { san: 'spiffe://felix/ns/prod/sa/admin', principal: 'service-account-admin', scopes: ['admin'] },
          ],
        },
      }, {}, dir),
      testDeps(dir),
    );
    t.after(() => authn.close());
    const pub = await identifyResult(authn.identify, exchange({}, cert({ subject_cn: 'service-account-publisher' })));
    assert.equal(pub.ex.principal?.id, 'service-account-publisher');
    assert.equal(pub.ex.principal?.method, 'mtls');
    assert.equal(pub.ex.principal?.type, 'service');
    assert.equal(pub.ex.principal?.tenant, 'acme');
    assert.equal(pub.ex.principal?.credential_id, 'AB:CD');
    const cons = await identifyResult(authn.identify, exchange({}, cert({ subject_cn: 'unmapped', san_dns: ['consumer.felix.svc'] })));
    assert.equal(cons.ex.principal?.id, 'service-account-consumer');
    const admin = await identifyResult(authn.identify, exchange({}, cert({ san_uri: ['spiffe://felix/ns/prod/sa/admin'] })));
    assert.deepEqual(admin.ex.principal?.scopes, ['admin']);
  });

  test('a map san with a colon matches URI SANs only, one without DNS SANs only (no DNS SAN spelling a URI)', async (t) => {
    const dir = tempDir(t);
    const authn = await createAuthenticator(
      authConfig({
        methods: ['mtls'],
        mtls: {
          map: [
            { san: 'spiffe://felix/ns/prod/sa/admin', principal: 'service-account-admin', scopes: ['admin'] },
            { san: 'consumer.felix.svc', principal: 'service-account-consumer', scopes: ['stream:read'] },
          ],
        },
      }, {}, dir),
      testDeps(dir),
    );
    t.after(() => authn.close());
    // A CA that copies a CSR's names issued a DNS SAN spelling the admin's URI: not the admin.
    const spoof = await identifyResult(authn.identify, exchange({}, cert({ san_dns: ['spiffe://felix/ns/prod/sa/admin'] })));
    assert.notEqual(spoof.ex.principal?.id, 'service-account-admin');
    assert.equal(spoof.ex.principal, undefined, JSON.stringify(spoof.error));
    const uriAsDns = await identifyResult(authn.identify, exchange({}, cert({ san_uri: ['consumer.felix.svc'] })));
    assert.equal(uriAsDns.ex.principal, undefined, 'a URI SAN does not match a DNS entry either');
    const real = await identifyResult(authn.identify, exchange({}, cert({ san_uri: ['spiffe://felix/ns/prod/sa/admin'] })));
    assert.equal(real.ex.principal?.id, 'service-account-admin');
  });

  test('an unmapped certificate is no identity; a bearer token listed first decides over a certificate', async (t) => {
    const dir = tempDir(t);
    const authn = await createAuthenticator(authConfig({ methods: ['token', 'mtls'], mtls: { map: [{ cn: 'svc', scopes: ['readonly'] }] } }, {}, dir), testDeps(dir));
    t.after(() => authn.close());
    const unmapped = await identifyResult(authn.identify, exchange({}, cert({ subject_cn: 'stranger' })));
    assert.equal((unmapped.error as GatehouseError).code, 'GH_AUTH_REQUIRED');
    const { token } = await authn.tokens!.mint({ agent: 'agent-1', scopes: 'container:read', ttlMs: 60_000 });
    const both = await identifyResult(authn.identify, exchange({ authorization: `Bearer ${token}` }, cert({ subject_cn: 'svc' })));
    assert.equal(both.error, undefined, 'a certificate is ambient: not a second credential');
    assert.equal(both.ex.principal?.id, 'agent-1');
    assert.equal(both.ex.principal?.network.client_cert?.subject_cn, 'svc');
  });
});
