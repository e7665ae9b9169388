/**
 * gatehouse/tls — server TLS and mTLS, version and cipher policy, certificate rotation, the development CA,
 * and upstream (client) TLS options. See docs/tls.md.
 */
export { createServerTls, newTicketKeys, TICKET_KEY_BYTES, type ServerTls, type ServerTlsOptions, type ReloadResult, type TlsDescription } from './server.js';
export { clientCertIdentity, checkClientAllowed } from './identity.js';
export { hstsHeader, tlsProductionProblems, resolveProtocolPolicy, LEGACY_CBC_CIPHERS, type ProtocolPolicy, type TlsVersionName } from './policy.js';
export { createUpstreamTls, upstreamTlsProductionProblems, type UpstreamTlsConfig, type UpstreamTlsOptions } from './upstream.js';
export { spkiPin, decodePin, peerChain, pinnedServerIdentity, PIN_PREFIX, type PinMismatch } from './pin.js';
export { checkCertificatePair, certificateInfo, parseCertificate, type CertificateInfo, type CheckedPair } from './certificate.js';
export {
  generateDevCertificates,
  createDevCa,
  issueCertificate,
  loadDevCa,
  DEFAULT_DEV_HOSTS,
  devServerHosts,
  type DevCa,
  type IssuedCertificate,
  type IssueOptions,
  type GenerateDevOptions,
  type GeneratedFiles,
} from './devca.js';
export { ensureDevServerCertificate, type DevServerMaterial } from './devstate.js';
export { FileWatcher, type FileWatchOptions } from './watch.js';
export { writeFileAtomic } from './files.js';
