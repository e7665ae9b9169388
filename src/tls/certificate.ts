/**
 * Loading and checking a certificate and its key before they serve (issue 2, rotation: "check that the key matches
 * the certificate and that it is within its validity"). Errors name the file role, never key material.
 */
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { GatehouseError } from '../core/errors.js';
import { readFileBounded } from '../core/files.js';

export interface CertificateInfo {
  subject: string;
  issuer: string;
  /** node's rendering, e.g. "DNS:localhost, IP Address:127.0.0.1". */
  subjectAltName: string | undefined;
  validFrom: Date;
  validTo: Date;
  fingerprint256: string;
  serialNumber: string;
  ca: boolean;
}

export interface CheckedPair {
  certPem: string;
  keyPem: string;
  info: CertificateInfo;
}

const MAX_PEM_BYTES = 1_048_576;

/** node 20 renders dates as "Jan  1 00:00:00 2027 GMT"; V8's Date parser reads that form. */
function parseCertDate(s: string): Date {
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) throw new GatehouseError('GH_TLS_CERT_INVALID', 'the certificate has an unreadable validity date');
  return d;
}

export function parseCertificate(pem: string | Buffer, role = 'certificate'): X509Certificate {
  if (pem.length > MAX_PEM_BYTES) throw new GatehouseError('GH_TLS_CERT_INVALID', `the ${role} file is larger than 1 MiB`);
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new GatehouseError('GH_TLS_CERT_INVALID', `the ${role} file does not hold a PEM certificate`, { cause: e });
  }
}

export function certificateInfo(cert: X509Certificate): CertificateInfo {
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    subjectAltName: cert.subjectAltName,
    validFrom: parseCertDate(cert.validFrom),
    validTo: parseCertDate(cert.validTo),
    fingerprint256: cert.fingerprint256,
    serialNumber: cert.serialNumber,
    ca: cert.ca,
  };
}

function readKey(pem: string): KeyObject {
  if (pem.length > MAX_PEM_BYTES) throw new GatehouseError('GH_TLS_CERT_INVALID', 'the key file is larger than 1 MiB');
  try {
    return createPrivateKey(pem);
  } catch (e) {
    // node's message never holds the key, but stay generic: the cause keeps the detail for debugging.
    throw new GatehouseError('GH_TLS_CERT_INVALID', 'the key file does not hold a readable PEM private key (encrypted keys are not supported)', { cause: e });
  }
}

/** Proves possession: a fresh nonce signed with the key verifies under the certificate's public key. */
function keySignsForCertificate(cert: X509Certificate, key: KeyObject): boolean {
  if (!cert.checkPrivateKey(key)) return false;
  const nonce = randomBytes(32);
  const digest = key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448' ? null : 'sha256';
  try {
    const sig = sign(digest, nonce, key);
    return verify(digest, nonce, createPublicKey(cert.publicKey.export({ type: 'spki', format: 'pem' })), sig);
  } catch {
    return false;
  }
}

/** Throws GH_TLS_CERT_EXPIRED when `nowMs` is outside the certificate's validity. */
export function checkValidity(info: CertificateInfo, nowMs: number, role = 'certificate'): void {
  if (nowMs < info.validFrom.getTime()) {
    throw new GatehouseError('GH_TLS_CERT_EXPIRED', `the ${role} is not valid before ${info.validFrom.toISOString()}`);
  }
  if (nowMs > info.validTo.getTime()) {
    throw new GatehouseError('GH_TLS_CERT_EXPIRED', `the ${role} expired at ${info.validTo.toISOString()}`);
  }
}

/** Checks a certificate (chain: leaf first) and its key: readable, matching, within validity at `nowMs`. */
export function checkCertificatePair(certPem: string, keyPem: string, nowMs: number): CheckedPair {
  const cert = parseCertificate(certPem);
  const key = readKey(keyPem);
  if (!keySignsForCertificate(cert, key)) throw new GatehouseError('GH_TLS_KEY_MISMATCH');
  const info = certificateInfo(cert);
  checkValidity(info, nowMs);
  return { certPem, keyPem, info };
}

/** Checks that a CA bundle holds at least one certificate. */
export function checkCaBundle(pem: string): void {
  parseCertificate(pem, 'CA');
}

/** The organisation every Gatehouse development CA carries in its name (devca.ts): how production recognises it. */
export const DEV_CA_ORGANIZATION = 'Gatehouse (development only)';
const MAX_BUNDLE_CERTS = 256;

/**
 * The PEM blocks of one label in a text, split by marker search (no regex over untrusted input), at most `max`: the
 * one splitter for certificate bundles, CRL files and the CLI's certificate files.
 */
export function pemBlocks(text: string, label: string, max: number): string[] {
  const begin = `-----BEGIN ${label}-----`;
  const end = `-----END ${label}-----`;
  const out: string[] = [];
  let at = text.indexOf(begin);
  while (at >= 0 && out.length < max) {
    const stop = text.indexOf(end, at);
    if (stop < 0) break;
    out.push(text.slice(at, stop + end.length));
    at = text.indexOf(begin, stop + end.length);
  }
  return out;
}

function readBounded(path: string): string | undefined {
  try {
    return readFileBounded(path, MAX_PEM_BYTES).toString('utf8');
  } catch {
    return undefined;
  }
}

/**
 * True when a certificate in the file is a Gatehouse development CA or was issued by one. Production refuses these
 * even when named explicitly as cert_file / ca_file: the dev CA key sits unencrypted in a state directory. An
 * unreadable file is not judged here (loading reports it).
 */
export function fileHasDevCaCertificate(path: string): boolean {
  const text = readBounded(path);
  return text !== undefined && pemHasDevCaCertificate(text);
}

/** The same judgement on PEM text already read (a certificate rotation checks what it is about to serve). */
export function pemHasDevCaCertificate(text: string): boolean {
  const devName = (name: string): boolean => name.split('\n').includes(`O=${DEV_CA_ORGANIZATION}`);
  for (const block of pemBlocks(text, 'CERTIFICATE', MAX_BUNDLE_CERTS)) {
    try {
      const cert = new X509Certificate(block);
      if (devName(cert.issuer) || devName(cert.subject)) return true;
    } catch {
      // not a certificate OpenSSL reads: the TLS context refuses it on its own
    }
  }
  return false;
}
