/**
 * Upstream public key pinning (routes[].tls.pin_sha256). A pin is RFC 7469's pin-sha256: standard base64 of the
 * SHA-256 of a certificate's DER SubjectPublicKeyInfo, written bare or as `sha256/BASE64`. Pins are checked in
 * addition to chain and hostname verification, from checkServerIdentity (see docs/tls.md "Pinning upstream keys").
 */
import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import { checkServerIdentity, type DetailedPeerCertificate, type PeerCertificate } from 'node:tls';
import { GatehouseError } from '../core/errors.js';
import { decodePinSha256 } from '../config/index.js';

/** The accepted prefix; curl's `sha256//` and HPKP's `pin-sha256="…"` are other syntaxes and are refused. */
export const PIN_PREFIX = 'sha256/';
/** Longer chains are not served in practice; the walk stops here whatever the peer sent (issuer links can loop). */
export const MAX_CHAIN_CERTIFICATES = 16;

/** The pin of a certificate's public key: base64 of SHA-256 over its DER SubjectPublicKeyInfo. */
export function spkiPin(cert: X509Certificate): string {
  // Not PeerCertificate.pubkey: for EC keys node gives the bare point there, not the SPKI RFC 7469 hashes.
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/** The 32 digest bytes of a pin, or undefined when it is not canonical base64 of 32 bytes (optionally sha256/-prefixed). */
export const decodePin: (text: string) => Buffer | undefined = decodePinSha256;

/** Decodes configured pins; throws GH_CONFIG_INVALID naming the entry (for callers that bypass the config schema). */
export function decodePins(pins: readonly string[], path: string): Buffer[] {
  if (pins.length === 0) throw new GatehouseError('GH_CONFIG_INVALID', `${path}: list at least one pin, or remove the setting`);
  return pins.map((p, i) => {
    const bytes = decodePin(p);
    if (!bytes) throw new GatehouseError('GH_CONFIG_INVALID', `${path}[${i}]: expected base64 of a SHA-256 digest (44 characters ending in "="), optionally written sha256/BASE64`);
    return bytes;
  });
}

/**
 * The certificates of a detailed peer certificate, leaf first, following issuerCertificate while each link is proven
 * by signature. RFC 7469 §2.6: only the validating chain counts. Node links issuers by name alone, so without the
 * signature check a stray certificate the peer adds (the pinned key under a CA's name) would satisfy a pin. Node also
 * appends the trust anchor from the local store (ca_file or system roots), so a root pin matches when it is not sent.
 */
export function peerChain(leaf: PeerCertificate): X509Certificate[] {
  const out: X509Certificate[] = [];
  let node: DetailedPeerCertificate | undefined = leaf as DetailedPeerCertificate;
  let child: X509Certificate | undefined;
  while (node?.raw && out.length < MAX_CHAIN_CERTIFICATES) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(node.raw);
    } catch {
      break;
    }
    if (child) {
      // A self-signed root links to itself: the walk ends there.
      if (cert.raw.equals(child.raw)) break;
      let signed = false;
      try {
        signed = child.checkIssued(cert) && child.verify(cert.publicKey);
      } catch {
        signed = false;
      }
      if (!signed) break;
    }
    out.push(cert);
    child = cert;
    node = node.issuerCertificate;
  }
  return out;
}

/** Whether one of `presented` equals one of `pinned` (all 32-byte digests; public values, compared in constant time anyway). */
function anyPinned(presented: readonly Buffer[], pinned: readonly Buffer[]): boolean {
  let found = false;
  for (const p of presented) for (const q of pinned) if (timingSafeEqual(p, q)) found = true;
  return found;
}

export interface PinMismatch {
  host: string;
  /** Pins of the peer's chain as peerChain walks it, leaf first, trust anchor included (public values). */
  chain: string[];
}

/**
 * A checkServerIdentity for tls.connect / undici's connect: node's own hostname check first, then the pins. Node calls
 * it only after the chain verified and never for a resumed session (which a pinned handshake made: node emits the
 * session only once this check passed), and acts on its verdict only while rejectUnauthorized is true, which is why
 * pin_sha256 refuses insecure_skip_verify.
 */
export function pinnedServerIdentity(pins: readonly Buffer[], onMismatch?: (m: PinMismatch) => void): (host: string, cert: PeerCertificate) => Error | undefined {
  const pinned = pins.map((p) => Buffer.from(p));
  return (host, cert) => {
    const nameError = checkServerIdentity(host, cert);
    if (nameError) return nameError;
    const chain = peerChain(cert);
    const digests = chain.map((c) => Buffer.from(spkiPin(c), 'base64'));
    if (anyPinned(digests, pinned)) return undefined;
    onMismatch?.({ host, chain: digests.map((d) => d.toString('base64')) });
    return Object.assign(new Error('certificate pin mismatch: no public key of the upstream certificate chain is pinned'), { code: 'ERR_TLS_CERT_PIN_MISMATCH', host });
  };
}
