/**
 * The client certificate as an identity (mTLS, seed 002 `mtls_allowed_common_names`), and the allow-list check.
 * Only a certificate that verified against the configured client CA yields an identity: an unverified one is
 * never believed.
 */
import type { TLSSocket } from 'node:tls';
import './reflect-shim.js';
import * as x509 from '@peculiar/x509';
import { GatehouseError } from '../core/errors.js';
import type { ClientCertIdentity } from '../core/types.js';
import type { TlsConfig } from '../config/index.js';

const MAX_SANS = 64;

/** SANs read from the DER structure (not node's comma-joined rendering, which a crafted name could confuse). */
function subjectAltNames(raw: Buffer): { dns: string[]; uri: string[] } {
  const out = { dns: [] as string[], uri: [] as string[] };
  const ext = new x509.X509Certificate(raw).getExtension(x509.SubjectAlternativeNameExtension);
  for (const name of ext?.names.items.slice(0, MAX_SANS) ?? []) {
    if (name.type === 'dns') out.dns.push(name.value);
    else if (name.type === 'url') out.uri.push(name.value);
  }
  return out;
}

/** The verified client certificate's identity, or undefined when there is none or it did not verify. */
export function clientCertIdentity(socket: TLSSocket): ClientCertIdentity | undefined {
  // Both: after a TLS 1.2 renegotiation with a certificate that did not verify, Node keeps `authorized` true and sets
  // only `authorizationError` (the server refuses renegotiation, server.ts; this holds whatever made the socket).
  if (socket.authorized !== true || socket.authorizationError) return undefined;
  const peer = socket.getPeerCertificate(false);
  if (!peer || !peer.raw) return undefined;
  const cn: unknown = peer.subject?.CN;
  const identity: ClientCertIdentity = { fingerprint256: peer.fingerprint256 };
  // A subject with several CNs is ambiguous; matching any one of them would let the issuer smuggle a second name.
  if (typeof cn === 'string') identity.subject_cn = cn;
  try {
    const sans = subjectAltNames(peer.raw);
    if (sans.dns.length) identity.san_dns = sans.dns;
    if (sans.uri.length) identity.san_uri = sans.uri;
  } catch {
    // A certificate OpenSSL verified but the parser cannot read: keep CN and fingerprint, claim no SANs.
  }
  return identity;
}

function sanAllowed(identity: ClientCertIdentity, allowed: readonly string[]): boolean {
  const dns = (identity.san_dns ?? []).map((d) => d.toLowerCase());
  const uri = identity.san_uri ?? [];
  for (const entry of allowed) {
    const lower = entry.toLowerCase();
    if (lower.startsWith('dns:')) {
      if (dns.includes(lower.slice(4))) return true;
    } else if (lower.startsWith('uri:')) {
      if (uri.includes(entry.slice(4))) return true;
    } else if (entry.includes(':') ? uri.includes(entry) : dns.includes(lower)) return true; // a bare value: a URI has a scheme, a DNS name no colon
  }
  return false;
}

/** Printable, bounded form of a client-chosen name for log details. */
const shown = (s: string | undefined): string => (s ?? '').replace(/[^\x20-\x7e]/g, '?').slice(0, 64);

/**
 * Throws GH_TLS_CLIENT_CERT_REQUIRED when client_auth is `require` and no verified certificate came, and
 * GH_TLS_CLIENT_NOT_ALLOWED when allow-lists are set and neither the CN nor a SAN is on them. Empty lists admit any
 * certificate the client CA signed. With client_auth `request`, no certificate is fine (another method decides).
 */
export function checkClientAllowed(
  identity: ClientCertIdentity | undefined,
  cfg: Pick<TlsConfig, 'client_auth' | 'mtls_allowed_common_names' | 'mtls_allowed_sans'>,
): void {
  if (!identity) {
    if (cfg.client_auth === 'require') throw new GatehouseError('GH_TLS_CLIENT_CERT_REQUIRED');
    return;
  }
  const names = cfg.mtls_allowed_common_names;
  const sans = cfg.mtls_allowed_sans;
  if (names.length === 0 && sans.length === 0) return;
  if (identity.subject_cn !== undefined && names.includes(identity.subject_cn)) return;
  if (sans.length && sanAllowed(identity, sans)) return;
  throw new GatehouseError('GH_TLS_CLIENT_NOT_ALLOWED', undefined, { detail: `client certificate CN "${shown(identity.subject_cn)}" is not on the allow-list` });
}
