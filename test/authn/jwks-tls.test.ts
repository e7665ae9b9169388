/**
 * auth.jwt.issuers[].tls (docs/tls.md § TLS for outbound clients): a real OpenID provider (oidc-provider, through
 * test/helpers/oidc.ts) serving HTTPS itself with a certificate from a private dev CA, optionally requiring client
 * certificates. Discovery and the JWKS are fetched through the issuer's tls block: trusted through ca_file the token
 * verifies; untrusted, with a wrong pin or without the client certificate required, the token is refused (fail closed).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthenticator } from '../../src/authn/index.js';
import { KeySource } from '../../src/authn/jwks.js';
import { upstreamTlsSection } from '../../src/config/schema/server.js';
import { ManualClock } from '../../src/core/clock.js';
import type { GatehouseError } from '../../src/core/errors.js';
import { issueCertificate, type IssuedCertificate, type UpstreamTlsConfig } from '../../src/tls/index.js';
import { authConfig, exchange, identifyResult, jwtAuthenticator, tempDir, testDeps, testLogger } from './helpers.js';
import { AUDIENCE, signingJwk, startProvider } from '../helpers/oidc.js';
import { makePki, startTlsPeer, type Pki } from '../helpers/outbound-tls.js';

type Provider = Awaited<ReturnType<typeof startProvider>>;
const bearer = (token: string) => exchange({ authorization: `Bearer ${token}` });
const parsed = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

describe('JWKS and OIDC discovery over TLS (auth.jwt.issuers[].tls)', () => {
  let pki: Pki;
  /** The helper's own client certificate for token requests, so the provider's log tells Gatehouse's apart. */
  let helperCert: IssuedCertificate;
  let op: Provider;
  /** A provider that requires client certificates. */
  let mtlsOp: Provider;

  before(async () => {
    pki = await makePki();
    helperCert = await issueCertificate(pki.ca, { commonName: 'token-helper', usage: 'client' });
    const tls = { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem };
    op = await startProvider({ tls: { ...tls, client: { ca: pki.ca.certPem } } });
    op.configure([await signingJwk('k1')]);
    mtlsOp = await startProvider({ tls: { ...tls, requireClientCert: true, client: { ca: pki.ca.certPem, cert: helperCert.certPem, key: helperCert.keyPem } } });
    mtlsOp.configure([await signingJwk('k1')]);
  });
  after(async () => {
    await op.close();
    await mtlsOp.close();
    pki.remove();
  });

  /** Requests Gatehouse made to the provider (the helper's own are token requests). */
  const gatehouseRequests = (p: Provider): number => p.requests() - p.tokenRequests();

  /** Refused, fail closed: GH_TOKEN_INVALID for want of a key; one warn line names the client and the code; no token logged. */
  async function assertRefused(t: { after(fn: () => unknown): void }, p: Provider, tls: Record<string, unknown>): Promise<Record<string, unknown>[]> {
    const before = gatehouseRequests(p);
    const { authn, deps } = await jwtAuthenticator(t, { issuer: p.issuer, audience: AUDIENCE, tls });
    const token = await p.token();
    const r = await identifyResult(authn.identify, bearer(token));
    assert.equal((r.error as GatehouseError | undefined)?.code, 'GH_TOKEN_INVALID');
    assert.equal(r.ex.principal, undefined);
    assert.equal(gatehouseRequests(p), before, 'neither discovery nor the JWKS was served to Gatehouse');
    const lines = parsed(deps.logger.lines);
    const failed = lines.filter((l) => l['event'] === 'authn.jwks_fetch_failed');
    assert.ok(failed.length >= 1, deps.logger.lines.join('\n'));
    assert.equal(failed[0]?.['client'], 'jwt jwks');
    assert.equal(failed[0]?.['host'], new URL(p.issuer).host);
    assert.match(String(failed[0]?.['code']), /^[A-Z0-9_]+$/);
    const everything = JSON.stringify([deps.logger.lines, deps.events, (r.error as Error).message]);
    assert.ok(!everything.includes(token), 'the token is in no log line, event or error');
    assert.ok(!everything.includes('PRIVATE KEY'));
    return lines;
  }

  test('discovery and the JWKS over https with the private CA in ca_file: the token verifies', async (t) => {
    const { authn } = await jwtAuthenticator(t, { issuer: op.issuer, audience: AUDIENCE, tenant_claim: 'tenant', tls: { ca_file: pki.caFile } });
    const { ex, error } = await identifyResult(authn.identify, bearer(await op.token()));
    assert.equal(error, undefined);
    assert.equal(ex.principal?.id, 'ops-agent');
    assert.ok(op.jwksFetches() > 0);
  });

  test('a jwks_url without discovery, through the same block', async (t) => {
    const { authn } = await jwtAuthenticator(t, { issuer: op.issuer, audience: AUDIENCE, jwks_url: `${op.issuer}/jwks`, tls: { ca_file: pki.caFile, pin_sha256: [pki.caPin] } });
    assert.equal((await identifyResult(authn.identify, bearer(await op.token()))).error, undefined);
  });

  test('the client certificate the provider requires is presented on discovery and JWKS fetches', async (t) => {
    const { authn } = await jwtAuthenticator(t, { issuer: mtlsOp.issuer, audience: AUDIENCE, tls: { ca_file: pki.caFile, cert_file: pki.clientCertFile, key_file: pki.clientKeyFile } });
    assert.equal((await identifyResult(authn.identify, bearer(await mtlsOp.token()))).error, undefined);
    assert.ok(mtlsOp.clientCertificates().includes(pki.clientName), `Gatehouse's certificate was presented: ${mtlsOp.clientCertificates().join(', ')}`);
  });

  test('untrusted: the provider\'s CA in neither ca_file nor the system roots → the token is refused', async (t) => {
    for (const tls of [{ ca_file: pki.otherCaFile }, {}]) {
      const failed = (await assertRefused(t, op, tls)).find((l) => l['event'] === 'authn.jwks_fetch_failed');
      assert.match(String(failed?.['code']), /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
    }
  });

  test('a wrong pin → the token is refused; the pin mismatch line names the client, the setting and the chain\'s pins', async (t) => {
    const lines = await assertRefused(t, op, { ca_file: pki.caFile, pin_sha256: [pki.otherPin] });
    assert.equal(lines.find((l) => l['event'] === 'authn.jwks_fetch_failed')?.['code'], 'ERR_TLS_CERT_PIN_MISMATCH');
    const mismatch = lines.find((l) => l['msg'] === 'upstream certificate pin mismatch: connection refused');
    assert.ok(mismatch);
    assert.equal(mismatch['client'], 'jwt jwks');
    assert.equal(mismatch['issuer'], op.issuer);
    assert.equal(mismatch['setting'], 'auth.jwt.issuers[0].tls.pin_sha256');
    assert.deepEqual(mismatch['chain_pins'], [pki.leafPin, pki.caPin]);
  });

  test('a matching pin (the leaf, or the CA beside a backup) → the token verifies', async (t) => {
    for (const pins of [[pki.leafPin], [pki.otherPin, `sha256/${pki.caPin}`]]) {
      const { authn } = await jwtAuthenticator(t, { issuer: op.issuer, audience: AUDIENCE, tls: { ca_file: pki.caFile, pin_sha256: pins } });
      assert.equal((await identifyResult(authn.identify, bearer(await op.token()))).error, undefined, pins.join(','));
    }
  });

  test('no client certificate where the provider requires one → the token is refused', async (t) => {
    await assertRefused(t, mtlsOp, { ca_file: pki.caFile });
  });

  test('a pinned issuer whose discovery names a plain-http jwks_uri is refused (the pins would be skipped)', async (t) => {
    // A plain-http JWKS on loopback: allowed for an unpinned issuer outside production, never fetched for a pinned one.
    let httpFetches = 0;
    const jwks = createServer((_req, res) => {
      httpFetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [] }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => jwks.close(() => r())));
    const fake = await startTlsPeer(pki, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer: fake.origin, jwks_uri: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks` }));
    });
    t.after(() => fake.close());
    const logger = testLogger();
    const tls = upstreamTlsSection.parse({ ca_file: pki.caFile, pin_sha256: [pki.leafPin] }) as UpstreamTlsConfig;
    const keys = new KeySource({ issuer: fake.origin, discovery: true, cache_max_age: 600_000, refetch_cooldown: 30_000, retired_key_grace: 0, fetch_timeout: 5000, tls }, { clock: new ManualClock(), logger, path: 'auth.jwt.issuers[0].tls' });
    t.after(() => keys.close());
    await keys.init();
    assert.equal(fake.requests(), 1, 'discovery was fetched, over pinned https');
    assert.equal(httpFetches, 0, 'the http jwks_uri was never fetched');
    await assert.rejects(keys.keyFor('k1', 'ES256'), (e: unknown) => (e as GatehouseError).code === 'GH_TOKEN_INVALID');
    assert.ok(parsed(logger.lines).some((l) => l['event'] === 'authn.jwks_fetch_failed' && l['client'] === 'jwt jwks'));
  });

  test('an unreadable client certificate stops the start (GH_CONFIG_FILE_UNREADABLE), naming the path', async (t) => {
    const dir = tempDir(t);
    await assert.rejects(
      createAuthenticator(authConfig({ methods: ['jwt'], jwt: { issuers: [{ issuer: op.issuer, audience: AUDIENCE, tls: { cert_file: `${pki.dir}/missing.crt`, key_file: pki.clientKeyFile } }] } }, {}, dir), testDeps(dir)),
      (e: unknown) => (e as GatehouseError).code === 'GH_CONFIG_FILE_UNREADABLE' && /auth\.jwt\.issuers\[0\]\.tls\.cert_file/.test((e as Error).message),
    );
  });
});
