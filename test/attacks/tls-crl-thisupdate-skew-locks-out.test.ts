/**
 * Attack / availability (server.tls.crl_file, src/tls/crl.ts CLOCK_SKEW_MS): checkCrlBundle accepts a CRL whose
 * thisUpdate is up to 5 minutes in the future, "so a CRL issued by a CA whose clock runs ahead still loads". It does
 * load — and OpenSSL, which checks thisUpdate at every handshake without any skew, then refuses every client
 * certificate (X509_V_ERR_CRL_NOT_YET_VALID) until that time: the previous, current CRL was replaced by one nobody can
 * pass. Whoever can get such a CRL published (a CA host with a fast clock, a cron job) locks all mTLS clients out,
 * while the reload reports success. The check meant to keep OpenSSL from turning a CRL into "every client certificate
 * fails" lets exactly that through.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateDevCertificates, loadDevCa } from '../../src/tls/index.js';
import { issueCrl } from '../../src/tls/crl.js';
import { attempt, read, startHttps, tempDir, tlsConfig } from '../tls/helpers.js';

const DAY = 86_400_000;

test('attack: a CRL a few minutes "in the future" is accepted on reload and then refuses every client certificate', async () => {
  const dir = tempDir('gh-review-crl-skew-');
  const pki = await generateDevCertificates({ outDir: join(dir.path, 'pki'), clientNames: ['agent'] });
  const ca = await loadDevCa(read(pki.caCert), read(join(dir.path, 'pki', 'ca.key')));
  const crl = join(dir.path, 'crl.pem');
  writeFileSync(crl, await issueCrl(ca, { entries: [], nowMs: Date.now(), validityMs: DAY }));
  const srv = await startHttps(tlsConfig({ cert_file: pki.serverCert, key_file: pki.serverKey, ca_file: pki.caCert, crl_file: crl, client_auth: 'require', watch: false }), { stateDir: dir.path });
  try {
    const client = { ca: read(pki.caCert), cert: read(pki.clients[0]?.cert as string), key: read(pki.clients[0]?.key as string) };
    assert.equal((await attempt(srv.port, client)).status, 200);
    // The CA's clock runs 3 minutes ahead: thisUpdate is 2 minutes from now (issueCrl backdates by one), within the skew.
    writeFileSync(crl, await issueCrl(ca, { entries: [], nowMs: Date.now() + 3 * 60_000, validityMs: DAY }));
    const r = srv.tls.reload();
    const status = (await attempt(srv.port, client)).status;
    // Fixed either way: the reload is refused (previous CRL keeps serving), or the new CRL does not lock clients out.
    assert.ok(!r.ok || status === 200, `reload ${JSON.stringify(r.ok)} and then a non-revoked client certificate was refused (status ${status})`);
  } finally {
    await srv.close();
    dir.remove();
  }
});
