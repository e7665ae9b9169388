import type { ClientCertIdentity, Exchange, Principal, PrincipalType } from '../../core/types.js';
import type { AuthMethodImpl } from '../method.js';

export interface MtlsMapEntry {
  cn?: string | undefined;
  san?: string | undefined;
  principal?: string | undefined;
  scopes: readonly string[];
  tenant?: string | undefined;
  type: PrincipalType;
}

/**
 * Identity from the verified client certificate (the gateway fills ex.network.client_cert only after the TLS layer
 * verified the chain). Mapped by exact subject CN or SAN (DNS or URI, e.g. spiffe://…) to a principal, scopes and a
 * tenant. An unmapped certificate is not an identity: the method does not recognise it, and the next method decides.
 * The certificate is ambient (it does not count as a second credential next to a bearer token).
 */
export function mtlsMethod(map: readonly MtlsMapEntry[]): AuthMethodImpl<{ entry: MtlsMapEntry; cert: ClientCertIdentity }> {
  const byCn = new Map<string, MtlsMapEntry>();
  // A `san` with a colon is a URI (spiffe://…) and matches URI SANs only; without one, a DNS name, matched against
  // DNS SANs only: a CA that copies a CSR's names could otherwise issue a DNS SAN spelling another client's URI.
  const byUri = new Map<string, MtlsMapEntry>();
  const byDns = new Map<string, MtlsMapEntry>();
  for (const e of map) {
    if (e.cn !== undefined && !byCn.has(e.cn)) byCn.set(e.cn, e);
    if (e.san === undefined) continue;
    const index = e.san.includes(':') ? byUri : byDns;
    if (!index.has(e.san)) index.set(e.san, e);
  }
  const find = (cert: ClientCertIdentity): MtlsMapEntry | undefined => {
    if (cert.subject_cn !== undefined) {
      const hit = byCn.get(cert.subject_cn);
      if (hit) return hit;
    }
    for (const san of cert.san_dns ?? []) {
      const hit = byDns.get(san);
      if (hit) return hit;
    }
    for (const san of cert.san_uri ?? []) {
      const hit = byUri.get(san);
      if (hit) return hit;
    }
    return undefined;
  };
  return {
    name: 'mtls',
    failure: 'credentials',
    carrier: () => undefined,
    recognise(ex) {
      const cert = ex.network.client_cert;
      if (cert === undefined) return undefined;
      const entry = find(cert);
      return entry ? { entry, cert } : undefined;
    },
    authenticate(ex: Exchange, { entry, cert }): Principal {
      const id = entry.principal ?? entry.cn ?? entry.san ?? 'client-cert';
      return {
        id,
        type: entry.type,
        method: 'mtls',
        scopes: entry.scopes,
        tenant: entry.tenant,
        network: ex.network,
        credential_id: cert.fingerprint256,
        attributes: { subject_cn: cert.subject_cn },
      };
    },
  };
}
