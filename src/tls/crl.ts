/**
 * Certificate revocation lists for client certificates (mTLS): `server.tls.crl_file`. Seed 001 asks that a
 * compromised credential can be revoked; for a client certificate that is a CRL from its CA (RFC 5280 §5).
 *
 * OpenSSL checks the CRL at every handshake once it is in the context (Node sets X509_V_FLAG_CRL_CHECK and _CHECK_ALL);
 * this module judges a CRL bundle before it serves, synchronously, so a start or a reload refuses a CRL that OpenSSL
 * would otherwise turn into "every client certificate fails": one that does not parse, is not signed by a CA of
 * `ca_file`, is not yet valid or is past its nextUpdate.
 *
 * Issuing CRLs (`gatehouse certs revoke`, `certs crl`) for CAs made by `certs dev` is here too.
 */
import { X509Certificate, verify as verifySignature } from 'node:crypto';
import './reflect-shim.js';
import * as x509 from '@peculiar/x509';
import { GatehouseError } from '../core/errors.js';
import type { DevCa } from './devca.js';
import { pemBlocks } from './certificate.js';

const MAX_PEM_BYTES = 1_048_576;
const MAX_CRLS = 64;
const MAX_CAS = 256;

export interface CrlInfo {
  issuer: string;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  /** Serial numbers (upper-case hex, as node prints them) of the revoked certificates. */
  revoked: string[];
}

const invalid = (message: string, cause?: unknown): GatehouseError => new GatehouseError('GH_TLS_CRL_INVALID', message, cause === undefined ? {} : { cause });

/**
 * The CRLs of a file, labelled as OpenSSL reads them: RFC 7468's "X509 CRL"; the bare "CRL" some tools write (as
 * @peculiar/x509 does) is relabelled, or OpenSSL would not load it.
 */
function crlBlocks(text: string): string[] {
  // One more than allowed is asked for, so a file over the limit is refused rather than cut short.
  const bare = pemBlocks(text, 'CRL', MAX_CRLS + 1).map((b) => `-----BEGIN X509 CRL-----${b.slice('-----BEGIN CRL-----'.length, -'-----END CRL-----'.length)}-----END X509 CRL-----`);
  const out = [...pemBlocks(text, 'X509 CRL', MAX_CRLS + 1), ...bare];
  if (out.length > MAX_CRLS) throw invalid(`the file holds more than ${MAX_CRLS} CRLs`);
  return out;
}

/** One DER element: its tag, where its content starts and where it ends. Bounded by `limit`. */
function tlv(der: Buffer, at: number, limit: number): { tag: number; start: number; end: number } {
  if (at + 2 > limit) throw invalid('the CRL is truncated');
  const tag = der[at] as number;
  let len = der[at + 1] as number;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw invalid('the CRL has an unreadable length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (der[start + i] as number);
    start += n;
  }
  const end = start + len;
  if (end > limit) throw invalid('the CRL is truncated');
  return { tag, start, end };
}

/** CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }. */
function signedParts(der: Buffer): { tbs: Buffer; signature: Buffer } {
  const outer = tlv(der, 0, der.length);
  if (outer.tag !== 0x30 || outer.end !== der.length) throw invalid('the CRL is not a DER sequence');
  const tbs = tlv(der, outer.start, outer.end);
  const alg = tlv(der, tbs.end, outer.end);
  const sig = tlv(der, alg.end, outer.end);
  if (tbs.tag !== 0x30 || alg.tag !== 0x30 || sig.tag !== 0x03 || sig.end !== outer.end || der[sig.start] !== 0) throw invalid('the CRL is malformed');
  return { tbs: der.subarray(outer.start, tbs.end), signature: der.subarray(sig.start + 1, sig.end) };
}

/** The digest node's verify takes for the CRL's algorithm; RSA-PSS and others are refused by name. */
function digestOf(crl: x509.X509Crl): string | null {
  const alg = crl.signatureAlgorithm as { name: string; hash?: { name: string } };
  if (alg.name === 'Ed25519' || alg.name === 'Ed448') return null;
  const hash = alg.hash?.name;
  if ((alg.name === 'ECDSA' || alg.name === 'RSASSA-PKCS1-v1_5') && hash && /^SHA-(256|384|512)$/.test(hash)) return hash.replace('-', '').toLowerCase();
  throw invalid(`the CRL is signed with ${alg.name}${hash ? `/${hash}` : ''}, which is not supported (ECDSA, RSA PKCS#1 v1.5 with SHA-2, Ed25519)`);
}

/** The upper-case hex form node's X509Certificate.serialNumber uses (no leading zero byte). */
const serialHex = (s: string): string => s.toUpperCase().replace(/^(?:00)+(?=..)/, '');

/**
 * Checks a CRL bundle against the client CA bundle at `nowMs`: every CRL parses, is signed by a CA certificate whose
 * subject is its issuer, and is current. Returns the CRLs' PEM blocks (node's `crl` option takes one CRL per element)
 * and what they say. Throws GH_TLS_CRL_INVALID naming the problem.
 */
export function checkCrlBundle(crlPem: string, caPem: string, nowMs: number): { pems: string[]; crls: CrlInfo[] } {
  if (crlPem.length > MAX_PEM_BYTES) throw invalid('the CRL file is larger than 1 MiB');
  const pems = crlBlocks(crlPem);
  if (pems.length === 0) throw invalid('the CRL file holds no PEM CRL (an X509 CRL block)');
  // Each CA as node reads it (its public key) and as @peculiar/x509 renders its subject, the renderer of the CRL's issuer.
  const cas = pemBlocks(caPem, 'CERTIFICATE', MAX_CAS).map((p) => ({ node: new X509Certificate(p), subject: new x509.X509Certificate(p).subject }));
  const crls = pems.map((pem, i) => {
    const what = pems.length > 1 ? `CRL ${i + 1} of ${pems.length}` : 'the CRL';
    let crl: x509.X509Crl;
    let der: Buffer;
    try {
      der = Buffer.from(x509.PemConverter.decode(pem)[0] as ArrayBuffer);
      crl = new x509.X509Crl(der);
    } catch (e) {
      throw invalid(`${what} cannot be parsed`, e);
    }
    const { tbs, signature } = signedParts(der);
    const digest = digestOf(crl);
    // OpenSSL looks a CRL up by its issuer name: one naming another issuer would leave this CA's clients without a CRL.
    const issuer = crl.issuer;
    const signer = cas.find((ca) => {
      if (!ca.node.ca || ca.subject !== issuer) return false;
      try {
        return verifySignature(digest, tbs, ca.node.publicKey, signature);
      } catch {
        return false;
      }
    });
    if (!signer) throw invalid(`${what} (issuer ${issuer}) is not signed by a CA certificate in ca_file`);
    // No skew allowed: OpenSSL applies none, and a CRL not yet valid would refuse every client certificate until then.
    if (crl.thisUpdate.getTime() > nowMs) throw invalid(`${what} is not valid before ${crl.thisUpdate.toISOString()} (thisUpdate): install it once it is`);
    if (crl.nextUpdate && crl.nextUpdate.getTime() < nowMs) {
      throw invalid(`${what} expired at ${crl.nextUpdate.toISOString()} (nextUpdate): with it, every client certificate would be refused; issue a new one`);
    }
    return { issuer, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate, revoked: crl.entries.map((e) => serialHex(e.serialNumber)) };
  });
  return { pems, crls };
}

/**
 * A test for "is this (node) certificate listed", by issuer and serial number: for cutting connections that were
 * accepted before a CRL listed their certificate.
 */
export function revokedTest(crls: readonly CrlInfo[]): (cert: X509Certificate) => boolean {
  const listed = new Set<string>();
  for (const c of crls) for (const serial of c.revoked) listed.add(`${c.issuer}\n${serial}`);
  if (listed.size === 0) return () => false;
  return (cert) => {
    try {
      return listed.has(`${new x509.X509Certificate(cert.raw).issuer}\n${serialHex(cert.serialNumber)}`);
    } catch {
      return false;
    }
  };
}

/** The earliest nextUpdate of a checked bundle, when any CRL has one. */
export function earliestNextUpdate(crls: readonly CrlInfo[]): Date | undefined {
  let min: Date | undefined;
  for (const c of crls) if (c.nextUpdate && (!min || c.nextUpdate < min)) min = c.nextUpdate;
  return min;
}

export interface IssueCrlOptions {
  /** Serial numbers (hex) to list, with their revocation dates. */
  entries: { serial: string; revokedAt: Date; reason?: CrlReason }[];
  nowMs: number;
  /** How long the CRL stays current (nextUpdate - thisUpdate). */
  validityMs: number;
}

/** A CRL signed by `ca` (a CA from `certs dev`), as PEM. */
export async function issueCrl(ca: DevCa, opts: IssueCrlOptions): Promise<string> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.cert.subjectName,
    thisUpdate: new Date(opts.nowMs - 60_000),
    nextUpdate: new Date(opts.nowMs + opts.validityMs),
    entries: opts.entries.map((e) => ({ serialNumber: e.serial.toLowerCase(), revocationDate: e.revokedAt, ...(e.reason !== undefined ? { reason: e.reason } : {}) })),
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey)],
    signingKey: ca.signingKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as unknown as x509.X509CrlCreateParams['signingAlgorithm'],
  });
  return crlBlocks(crl.toString('pem')).join('\n') + '\n';
}

/** The entries of an existing CRL file (to add to it), after checking it against `caPem`. */
export function crlEntries(crlPem: string, caPem: string, nowMs: number): { serial: string; revokedAt: Date; reason?: CrlReason }[] {
  // An expired CRL is still a valid list of what was revoked: judge it as of its own thisUpdate.
  const pems = crlBlocks(crlPem);
  const out: { serial: string; revokedAt: Date; reason?: CrlReason }[] = [];
  for (const pem of pems) {
    const crl = new x509.X509Crl(pem);
    checkCrlBundle(pem, caPem, Math.min(nowMs, crl.thisUpdate.getTime() + 1000));
    for (const e of crl.entries) out.push({ serial: serialHex(e.serialNumber), revokedAt: e.revocationDate, ...(e.reason !== undefined ? { reason: e.reason } : {}) });
  }
  return out;
}

export type CrlReason = x509.X509CrlReason;
export const CRL_REASONS: Readonly<Record<string, x509.X509CrlReason>> = {
  unspecified: x509.X509CrlReason.unspecified,
  keyCompromise: x509.X509CrlReason.keyCompromise,
  affiliationChanged: x509.X509CrlReason.affiliationChanged,
  superseded: x509.X509CrlReason.superseded,
  cessationOfOperation: x509.X509CrlReason.cessationOfOperation,
};
