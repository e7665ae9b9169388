/**
 * Development certificates, generated in Node with @peculiar/x509 over WebCrypto (issue 2: "not by shelling out to
 * openssl"): a dev CA, a server certificate for localhost and the configured hosts, and client certificates for mTLS
 * tests. ECDSA P-256 keys, exported as PKCS#8 PEM. Never for production (config profiles refuse the dev CA).
 */
import { randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import './reflect-shim.js';
import * as x509 from '@peculiar/x509';
import { GatehouseError } from '../core/errors.js';
import { systemClock, type Clock } from '../core/clock.js';
import { DEV_CA_ORGANIZATION, checkCertificatePair } from './certificate.js';
import { writeFileAtomic } from './files.js';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG: webcrypto.EcKeyGenParams & webcrypto.EcdsaParams = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY = 86_400_000;
export const DEV_CA_VALIDITY_MS = 10 * 365 * DAY;
/** Browsers cap leaf certificates at 398 days; stay under it. */
export const DEV_LEAF_VALIDITY_MS = 397 * DAY;
/** Hosts every dev server certificate covers. */
export const DEFAULT_DEV_HOSTS = ['localhost', '127.0.0.1', '::1'] as const;
/** A client name becomes a file name (client-NAME.crt): keep it to a safe alphabet. */
const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HOST_NAME = /^(?:\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?$/;

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
  /** SHA-256 fingerprint, colon-separated upper-case hex (node's X509Certificate.fingerprint256 format). */
  fingerprint256: string;
  notAfter: Date;
}

/** A CA able to sign: its PEMs plus the live signing key. */
export interface DevCa extends IssuedCertificate {
  cert: x509.X509Certificate;
  signingKey: CryptoKey;
}

export interface ValidityOptions {
  notBefore?: Date;
  notAfter?: Date;
  clock?: Clock;
}

function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] as number) & 0x7f; // positive INTEGER (RFC 5280 §4.1.2.2)
  return b.toString('hex');
}

function toPem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  return toPem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', key));
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
}

function validity(opts: ValidityOptions, lifetimeMs: number): { notBefore: Date; notAfter: Date } {
  const now = (opts.clock ?? systemClock).now();
  // Backdate a little so a peer whose clock runs slightly behind accepts a certificate minted just now.
  const notBefore = opts.notBefore ?? new Date(now - 5 * 60_000);
  return { notBefore, notAfter: opts.notAfter ?? new Date(now + lifetimeMs) };
}

async function fingerprint(cert: x509.X509Certificate): Promise<string> {
  const hex = Buffer.from(await cert.getThumbprint('SHA-256')).toString('hex').toUpperCase();
  return hex.replace(/(..)(?!$)/g, '$1:');
}

/** DN attribute values are written through @peculiar/x509's string form: refuse characters that would need escaping. */
function dnValue(v: string, what: string): string {
  if (!/^[A-Za-z0-9 ._@:-]{1,64}$/.test(v)) throw new TypeError(`${what}: letters, digits, space and ._@:- only (at most 64)`);
  return v;
}

export async function createDevCa(opts: ValidityOptions & { commonName?: string } = {}): Promise<DevCa> {
  const keys = await generateKeys();
  const name = `CN=${dnValue(opts.commonName ?? 'Gatehouse Development CA', 'commonName')}, O=${DEV_CA_ORGANIZATION}`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name,
    ...validity(opts, DEV_CA_VALIDITY_MS),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, signingKey: keys.privateKey, certPem: cert.toString('pem') + '\n', keyPem: await exportKeyPem(keys.privateKey), fingerprint256: await fingerprint(cert), notAfter: cert.notAfter };
}

/** Loads a CA from its PEMs (the reuse path: the dev CA under the state dir, or `certs dev --ca-dir`). */
export async function loadDevCa(certPem: string, keyPem: string, clock: Clock = systemClock): Promise<DevCa> {
  const pair = checkCertificatePair(certPem, keyPem, clock.now());
  if (!pair.info.ca) throw new GatehouseError('GH_TLS_CERT_INVALID', 'the CA certificate is not a CA (basicConstraints cA is false)');
  const cert = new x509.X509Certificate(certPem);
  const der = x509.PemConverter.decode(keyPem)[0];
  if (!der) throw new GatehouseError('GH_TLS_CERT_INVALID', 'the CA key file holds no PEM key');
  const signingKey = await webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign']);
  return { cert, signingKey, certPem, keyPem, fingerprint256: await fingerprint(cert), notAfter: cert.notAfter };
}

function sanNames(hosts: readonly string[]): x509.JsonGeneralNames {
  const seen = new Set<string>();
  const names: x509.JsonGeneralNames = [];
  for (const raw of hosts) {
    const h = raw.trim().replace(/^\[|\]$/g, '');
    if (!h || seen.has(h.toLowerCase())) continue;
    seen.add(h.toLowerCase());
    if (isIP(h)) names.push({ type: 'ip', value: h });
    else if (HOST_NAME.test(h) && h.length <= 253) names.push({ type: 'dns', value: h.toLowerCase() });
    else throw new TypeError(`host "${h.slice(0, 64)}" is neither an IP address nor a DNS name`);
  }
  return names;
}

export interface IssueOptions extends ValidityOptions {
  commonName: string;
  usage: 'server' | 'client';
  /** Server: DNS names and IP addresses for the SAN. Client: optional DNS SANs. */
  hosts?: readonly string[];
  /** Client: URI SANs (e.g. spiffe://example.org/agent). */
  uris?: readonly string[];
}

/** Issues a leaf certificate signed by `ca`. */
export async function issueCertificate(ca: DevCa, opts: IssueOptions): Promise<IssuedCertificate> {
  const keys = await generateKeys();
  const names = sanNames(opts.hosts ?? []);
  for (const u of opts.uris ?? []) {
    if (!/^[a-z][a-z0-9+.-]*:[^\s]{1,512}$/i.test(u)) throw new TypeError(`"${u.slice(0, 64)}" is not a URI`);
    names.push({ type: 'url', value: u });
  }
  const serverAuth = opts.usage === 'server';
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([serverAuth ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth], false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
  ];
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${dnValue(opts.commonName, 'commonName')}`,
    issuer: ca.cert.subject,
    ...validity(opts, DEV_LEAF_VALIDITY_MS),
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: ALG,
    extensions,
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await exportKeyPem(keys.privateKey), fingerprint256: await fingerprint(cert), notAfter: cert.notAfter };
}

/** The server certificate's SAN set, normalised, for "did the hosts change?" comparisons. */
export function devServerHosts(hosts: readonly string[] = []): string[] {
  const all = [...DEFAULT_DEV_HOSTS, ...hosts].map((h) => h.trim().replace(/^\[|\]$/g, '').toLowerCase()).filter(Boolean);
  // 0.0.0.0 and :: are listen addresses, not names a client connects to.
  return [...new Set(all)].filter((h) => h !== '0.0.0.0' && h !== '::').sort();
}

export interface GenerateDevOptions extends ValidityOptions {
  outDir: string;
  hosts?: readonly string[];
  /** Client certificate CNs. The first is written as client.crt/client.key, others as client-NAME.crt/.key. */
  clientNames?: readonly string[];
  /** Sign with this existing CA (e.g. the gateway's <state>/tls CA) instead of generating a new one. */
  ca?: { certPem: string; keyPem: string };
}

export interface GeneratedFiles {
  caCert: string;
  /** Undefined when an existing CA signed (its key was not copied). */
  caKey: string | undefined;
  serverCert: string;
  serverKey: string;
  clients: { name: string; cert: string; key: string }[];
  caFingerprint256: string;
  serverFingerprint256: string;
}

/** `gatehouse certs dev`: a dev CA, a server certificate and client certificates, keys written 0600. */
export async function generateDevCertificates(opts: GenerateDevOptions): Promise<GeneratedFiles> {
  const clientNames = opts.clientNames?.length ? [...opts.clientNames] : ['gatehouse-dev-client'];
  for (const n of clientNames) if (!CLIENT_NAME.test(n)) throw new TypeError(`client name "${n.slice(0, 64)}": letters, digits and ._- only (at most 64)`);
  if (new Set(clientNames).size !== clientNames.length) throw new TypeError('client names must be distinct');
  const hosts = devServerHosts(opts.hosts);
  const v = { ...(opts.clock ? { clock: opts.clock } : {}) };
  const ca = opts.ca ? await loadDevCa(opts.ca.certPem, opts.ca.keyPem, opts.clock) : await createDevCa({ ...v, ...(opts.notBefore ? { notBefore: opts.notBefore } : {}) });
  const server = await issueCertificate(ca, { ...v, commonName: hosts.includes('localhost') ? 'localhost' : (hosts[0] as string), usage: 'server', hosts });
  mkdirSync(opts.outDir, { recursive: true, mode: 0o700 });
  const out = (f: string) => join(opts.outDir, f);
  // A reused CA's key stays where it is: copying it would only multiply the places it can leak from.
  if (!opts.ca) writeFileAtomic(out('ca.key'), ca.keyPem, 0o600);
  writeFileAtomic(out('ca.crt'), ca.certPem, 0o644);
  writeFileAtomic(out('server.key'), server.keyPem, 0o600);
  writeFileAtomic(out('server.crt'), server.certPem, 0o644);
  const clients: GeneratedFiles['clients'] = [];
  for (const [i, name] of clientNames.entries()) {
    const c = await issueCertificate(ca, { ...v, commonName: name, usage: 'client' });
    const base = i === 0 ? 'client' : `client-${name}`;
    writeFileAtomic(out(`${base}.key`), c.keyPem, 0o600);
    writeFileAtomic(out(`${base}.crt`), c.certPem, 0o644);
    clients.push({ name, cert: out(`${base}.crt`), key: out(`${base}.key`) });
  }
  return {
    caCert: out('ca.crt'),
    caKey: opts.ca ? undefined : out('ca.key'),
    serverCert: out('server.crt'),
    serverKey: out('server.key'),
    clients,
    caFingerprint256: ca.fingerprint256,
    serverFingerprint256: server.fingerprint256,
  };
}
