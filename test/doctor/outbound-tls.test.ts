/**
 * The doctor on the outbound clients' tls blocks (approval.webhook.tls, audit.sinks[].tls, auth.jwt.issuers[].tls):
 * tls.outbound_clients claims their production refusals and warns on a single pin and on a block a plain-http client
 * never uses; tls.certificate_expiry, tls.key_match and tls.key_permissions read their certificate and key files.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { spkiPin, type DevCa } from '../../src/tls/index.js';
import { check, checkOf, config, devCa, doctor, tempDir, writePair, type PairFiles } from './helpers.js';

const SECRET = '0123456789abcdef0123456789abcdef-webhook';
const OTHER_PIN = 'TAJ0DUz2g7mKNa+/QOhSZcB5fgFnvLHl1LILxDakdww=';

describe('doctor: outbound clients\' TLS', () => {
  const dir = tempDir('gh-doctor-outbound-');
  let ca: DevCa;
  let caFile: string;
  let caPin: string;
  let valid: PairFiles;
  let expired: PairFiles;

  before(async () => {
    ca = await devCa();
    caFile = join(dir.path, 'ca.pem');
    writeFileSync(caFile, ca.certPem);
    caPin = spkiPin(new X509Certificate(ca.certPem));
    valid = await writePair(ca, dir.path, 'client', -10, 300);
    expired = await writePair(ca, dir.path, 'old', -400, -2);
  });
  after(() => dir.remove());

  const webhook = (tls: Record<string, unknown>, url = 'https://approver.internal/approve') => ({ approval: { webhook: { url, secret: SECRET, tls } } });
  const sink = (tls: Record<string, unknown>, url = 'https://siem.internal/ingest') => ({ audit: { sinks: [{ type: 'http', url, tls }] } });
  const issuer = (tls: Record<string, unknown>) => ({ auth: { methods: ['jwt'], jwt: { issuers: [{ issuer: 'https://idp.internal', audience: 'api', tls }] } } });

  test('skipped without an approval webhook, http audit sink or JWKS issuer', async () => {
    const c = await checkOf('tls.outbound_clients', {});
    assert.equal(c.status, 'skip');
  });

  test('a single pin warns, naming the block and what fails closed; two pins pass, counting those in ca_file', async () => {
    const one = await checkOf('tls.outbound_clients', webhook({ ca_file: caFile, pin_sha256: [caPin] }));
    assert.equal(one.status, 'warn');
    assert.match(one.detail, /^approval\.webhook\.tls pins a single key: once the server replaces it, every operation needing the webhook is denied/);
    const jwks = await checkOf('tls.outbound_clients', issuer({ pin_sha256: [OTHER_PIN] }));
    assert.match(jwks.detail, /^auth\.jwt\.issuers\[0\]\.tls pins a single key: .*tokens signed with one are refused/);
    const two = await checkOf('tls.outbound_clients', { ...webhook({ ca_file: caFile, pin_sha256: [caPin, OTHER_PIN], cert_file: valid.cert, key_file: valid.key }), ...sink({}) });
    assert.equal(two.status, 'pass');
    assert.equal(two.detail, 'approval.webhook.tls: ca_file, 2 pins (1 in ca_file), client certificate; audit.sinks[0].tls: system roots');
  });

  test('production refusals on the blocks are reported here (fail), in development as warnings', async () => {
    const raw = { ...sink({ insecure_skip_verify: true }), ...issuer({ min_version: 'tls11' }) };
    const prod = check(await doctor(config(raw, 'production')), 'tls.outbound_clients');
    assert.equal(prod.status, 'fail');
    assert.match(prod.detail, /audit\.sinks\[0\]\.tls\.insecure_skip_verify is true/);
    assert.match(prod.detail, /auth\.jwt\.issuers\[0\]\.tls\.min_version is tls11/);
    const report = await doctor(config(raw, 'production'));
    assert.ok(!check(report, 'production.other').detail.includes('.tls.'), 'not left to production.other');
    const dev = check(await doctor(config(raw, 'development')), 'tls.outbound_clients');
    assert.equal(dev.status, 'warn');
    assert.match(dev.detail, /insecure_skip_verify is true: upstream certificates must be verified \(refused in production\)/);
  });

  test('a block set on a client that connects over plain http warns that it has no effect', async () => {
    const c = await checkOf('tls.outbound_clients', sink({ ca_file: caFile }, 'http://127.0.0.1:9000/ingest'));
    assert.equal(c.status, 'warn');
    assert.match(c.detail, /^audit\.sinks\[0\]\.tls\.ca_file is set but the audit sink 0 connects over plain http: the setting has no effect/);
  });

  test('tls.certificate_expiry reads their cert_file and ca_file; tls.key_match and tls.key_permissions their key_file', async () => {
    const raw = { ...webhook({ cert_file: expired.cert, key_file: expired.key }), ...issuer({ ca_file: caFile, cert_file: valid.cert, key_file: expired.key }) };
    const report = await doctor(config(raw, 'development'));
    const expiry = check(report, 'tls.certificate_expiry');
    assert.equal(expiry.status, 'fail');
    assert.match(expiry.detail, /approval\.webhook\.tls\.cert_file expired at /);
    assert.ok(!/auth\.jwt\.issuers\[0\]\.tls\.(cert_file|ca_file) expired/.test(expiry.detail));
    const match = check(report, 'tls.key_match');
    assert.equal(match.status, 'fail');
    assert.match(match.detail, /auth\.jwt\.issuers\[0\]\.tls\.key_file does not match auth\.jwt\.issuers\[0\]\.tls\.cert_file/);
    chmodSync(expired.key, 0o644);
    const perms = check(await doctor(config(raw, 'development')), 'tls.key_permissions');
    chmodSync(expired.key, 0o600);
    assert.equal(perms.status, 'fail');
    assert.match(perms.detail, /approval\.webhook\.tls\.key_file is readable by others/);
  });
});
