/**
 * The development CA and server certificate under <stateDir>/tls/ (issue 2: generated on first start, reused
 * afterwards). The server certificate is re-issued when it nears expiry, when the hosts it must cover change, or when
 * it no longer matches its key or its CA. Keys are 0600 in a 0700 directory.
 */
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import type { GatehouseError } from '../core/errors.js';
import type { Logger } from '../core/types.js';
import { checkCertificatePair } from './certificate.js';
import { createDevCa, devServerHosts, issueCertificate, loadDevCa, type DevCa } from './devca.js';
import { writeFileAtomic } from './files.js';

/** Re-issue the server certificate (and the CA) when less than this much validity remains. */
export const RENEW_BEFORE_MS = 30 * 86_400_000;

export interface DevServerMaterial {
  certPem: string;
  keyPem: string;
  caCertPem: string;
  caCertPath: string;
  serverCertPath: string;
  serverKeyPath: string;
  fingerprint256: string;
  generated: { ca: boolean; server: boolean };
}

interface Paths {
  dir: string;
  caCert: string;
  caKey: string;
  cert: string;
  key: string;
  hosts: string;
}

/** The stem of a listener's certificate files: `server` (server.tls) or another listener's own (metrics); never the CA's. */
const CERT_NAME = /^[a-z][a-z0-9-]{0,31}$/;

function paths(stateDir: string, name: string): Paths {
  if (!CERT_NAME.test(name) || name === 'ca') throw new TypeError('ensureDevServerCertificate: name must match [a-z][a-z0-9-]{0,31} and not be ca');
  const dir = join(stateDir, 'tls');
  return { dir, caCert: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key'), cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`), hosts: join(dir, `${name}.hosts.json`) };
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

async function reuseCa(p: Paths, now: number, logger: Logger): Promise<DevCa | undefined> {
  const certPem = read(p.caCert);
  const keyPem = read(p.caKey);
  if (!certPem || !keyPem) return undefined;
  try {
    const pair = checkCertificatePair(certPem, keyPem, now);
    if (pair.info.validTo.getTime() - now < RENEW_BEFORE_MS) {
      logger.warn({ not_after: pair.info.validTo.toISOString() }, 'the development CA is near expiry: generating a new one (clients must trust the new ca.crt)');
      return undefined;
    }
    return await loadDevCa(certPem, keyPem);
  } catch (e) {
    logger.warn({ code: (e as GatehouseError).code ?? 'GH_TLS_CERT_INVALID' }, 'the development CA under the state directory is unusable: generating a new one');
    return undefined;
  }
}

function reusableServer(p: Paths, ca: DevCa, hosts: string[], now: number): { certPem: string; keyPem: string; fingerprint256: string } | undefined {
  const certPem = read(p.cert);
  const keyPem = read(p.key);
  if (!certPem || !keyPem || read(p.hosts) !== JSON.stringify(hosts)) return undefined;
  try {
    const pair = checkCertificatePair(certPem, keyPem, now);
    if (pair.info.validTo.getTime() - now < RENEW_BEFORE_MS) return undefined;
    const caCert = new X509Certificate(ca.certPem);
    const leaf = new X509Certificate(certPem);
    if (!leaf.checkIssued(caCert) || !leaf.verify(caCert.publicKey)) return undefined;
    return { certPem, keyPem, fingerprint256: pair.info.fingerprint256 };
  } catch {
    return undefined;
  }
}

/**
 * Returns the dev server certificate, generating the CA and/or the certificate when missing or stale. `name` (default
 * `server`) names the certificate's files: a listener whose hosts differ from the main listener's (metrics.listen on
 * another address) keeps its own, so the two never re-issue each other's certificate. The CA is shared.
 */
export async function ensureDevServerCertificate(opts: { stateDir: string; hosts?: readonly string[]; logger: Logger; clock?: Clock; name?: string }): Promise<DevServerMaterial> {
  const clock = opts.clock ?? systemClock;
  const now = clock.now();
  const p = paths(opts.stateDir, opts.name ?? 'server');
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });
  chmodSync(p.dir, 0o700);
  const hosts = devServerHosts(opts.hosts);

  let ca = await reuseCa(p, now, opts.logger);
  const caGenerated = !ca;
  if (!ca) {
    ca = await createDevCa({ clock });
    writeFileAtomic(p.caKey, ca.keyPem, 0o600);
    writeFileAtomic(p.caCert, ca.certPem, 0o644);
    opts.logger.info({ ca_cert: p.caCert, fingerprint256: ca.fingerprint256 }, 'generated a development CA');
  }

  let server = caGenerated ? undefined : reusableServer(p, ca, hosts, now);
  const serverGenerated = !server;
  if (!server) {
    const issued = await issueCertificate(ca, { clock, commonName: 'localhost', usage: 'server', hosts });
    writeFileAtomic(p.key, issued.keyPem, 0o600);
    writeFileAtomic(p.cert, issued.certPem, 0o644);
    writeFileAtomic(p.hosts, JSON.stringify(hosts), 0o644);
    server = issued;
    opts.logger.info({ hosts, cert: p.cert, not_after: issued.notAfter.toISOString(), fingerprint256: issued.fingerprint256 }, 'generated a development server certificate');
  }
  return {
    certPem: server.certPem,
    keyPem: server.keyPem,
    caCertPem: ca.certPem,
    caCertPath: p.caCert,
    serverCertPath: p.cert,
    serverKeyPath: p.key,
    fingerprint256: server.fingerprint256,
    generated: { ca: caGenerated, server: serverGenerated },
  };
}
