/**
 * A client CA taken out of service (ca_file replaced, reloaded without restart) must stop admitting its clients at
 * once. A TLS session resumed from a ticket skips certificate verification (OpenSSL restores the stored verify
 * result), and the ticket keys survive a reload on purpose: a client of the old CA holding a ticket would come back
 * in as `authorized`, with its old identity, unless the server refuses sessions made under another client trust.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateDevCertificates, type GeneratedFiles } from '../../src/tls/index.js';
import { attempt, read, startHttps, tempDir, tlsConfig, type RunningHttps } from '../tls/helpers.js';

for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
  describe(`mTLS client CA rotation (${maxVersion})`, () => {
    const dir = tempDir();
    const caFile = join(dir.path, 'client-ca.pem');
    let retired: GeneratedFiles;
    let current: GeneratedFiles;
    let srv: RunningHttps;

    before(async () => {
      retired = await generateDevCertificates({ outDir: join(dir.path, 'retired'), clientNames: ['agent-a'] });
      current = await generateDevCertificates({ outDir: join(dir.path, 'current'), clientNames: ['agent-b'] });
      copyFileSync(retired.caCert, caFile);
      srv = await startHttps(tlsConfig({ cert_file: retired.serverCert, key_file: retired.serverKey, ca_file: caFile, client_auth: 'require', watch: false }), { stateDir: dir.path });
    });
    after(async () => {
      await srv.close();
      dir.remove();
    });

    test('a session ticket from before the rotation does not let a client of the retired CA back in', async () => {
      const client = { ca: read(retired.caCert), cert: read(retired.clients[0]?.cert as string), key: read(retired.clients[0]?.key as string), maxVersion };
      const first = await attempt(srv.port, client);
      assert.equal(first.status, 200);
      assert.ok(first.session, 'the server issued a session ticket');
      // Resumption itself works while the client CA is unchanged: the refusal below is about the rotation.
      const again = await attempt(srv.port, { ...client, session: first.session });
      assert.equal(again.status, 200);
      assert.equal(again.reused, true, 'the session was resumed before the rotation');

      copyFileSync(current.caCert, caFile);
      const reloaded = srv.tls.reload();
      assert.ok(reloaded.ok && reloaded.changed, JSON.stringify(reloaded));
      assert.equal((await attempt(srv.port, client)).status, 0, 'a full handshake with the retired CA is refused');

      const resumed = await attempt(srv.port, { ...client, session: again.session ?? first.session });
      assert.equal(resumed.reused, false, 'a session made under the retired client CA was resumed');
      assert.equal(resumed.status, 0, `served after the rotation: ${resumed.body.slice(0, 200)}`);

      // The new CA's clients are admitted (the refusal is specific).
      const newcomer = await attempt(srv.port, { ca: read(retired.caCert), cert: read(current.clients[0]?.cert as string), key: read(current.clients[0]?.key as string), maxVersion });
      assert.equal(newcomer.status, 200);
    });
  });
}
