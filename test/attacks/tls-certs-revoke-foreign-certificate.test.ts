/**
 * Attack / operator deception (`gatehouse certs revoke`, src/cli/certs.ts): `--cert FILE` takes the serial number of
 * any certificate and adds it to the CRL of the --ca directory, without checking that this CA issued it. Revoking a
 * leaked client certificate with the wrong CA directory (development has two: $GATEHOUSE_HOME/tls and `certs dev
 * --out DIR`) prints "revoked serial …" and exits 0, while the certificate stays valid everywhere: the CRL the
 * gateway reads names another issuer. The operator believes the credential is revoked.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';
import { generateDevCertificates } from '../../src/tls/index.js';
import { tempDir } from '../tls/helpers.js';

const dir = tempDir('gh-review-revoke-foreign-');
after(() => dir.remove());

test('attack: certs revoke --cert with a certificate another CA issued reports success', async () => {
  await generateDevCertificates({ outDir: join(dir.path, 'a') });
  const b = await generateDevCertificates({ outDir: join(dir.path, 'b'), clientNames: ['leaked'] });
  const r = await cli(['certs', 'revoke', '--ca', join(dir.path, 'a'), '--cert', b.clients[0]?.cert as string, '--reason', 'keyCompromise']);
  assert.notEqual(r.code, 0, `exit 0 and "${r.stdout.split('\n')[0]}" for a certificate the CA of --ca did not issue`);
});
