/**
 * Version and cipher policy (seed 000: min_version tls10..tls13, "set a minimum version of TLS 1.2 or higher";
 * seed 002: Mozilla intermediate as the TLS 1.2 default), HSTS, and what production refuses.
 */
import type { SecureVersion } from 'node:tls';
import { GatehouseError } from '../core/errors.js';
import type { Logger } from '../core/types.js';
import { MOZILLA_INTERMEDIATE_CIPHERS, type TlsConfig } from '../config/index.js';
import { fileHasDevCaCertificate } from './certificate.js';

export type TlsVersionName = 'tls10' | 'tls11' | 'tls12' | 'tls13';

const NODE_VERSION: Record<TlsVersionName, SecureVersion> = {
  tls10: 'TLSv1',
  tls11: 'TLSv1.1',
  tls12: 'TLSv1.2',
  tls13: 'TLSv1.3',
};
const RANK: Record<TlsVersionName, number> = { tls10: 0, tls11: 1, tls12: 2, tls13: 3 };

export const isLegacyVersion = (v: TlsVersionName): boolean => RANK[v] < RANK.tls12;
export const nodeTlsVersion = (v: TlsVersionName): SecureVersion => NODE_VERSION[v];

/**
 * The Mozilla intermediate list has only AEAD suites, which exist from TLS 1.2 on. A legacy handshake needs the CBC
 * suites of Mozilla's "old" profile; they are added only when legacy TLS is explicitly allowed and the cipher list is
 * the default one (a custom list is the operator's choice and is kept as written).
 */
export const LEGACY_CBC_CIPHERS = ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-RSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA', 'ECDHE-RSA-AES256-SHA', 'AES128-SHA', 'AES256-SHA'].join(':');

/**
 * OpenSSL 3 (Node 20) refuses TLS 1.0/1.1 at its default security level 1 (they sign the handshake with SHA-1/MD5),
 * so an allowed legacy handshake needs @SECLEVEL=0 appended to the cipher string.
 */
const SECLEVEL0 = '@SECLEVEL=0';

export interface ProtocolPolicy {
  minVersion: SecureVersion;
  maxVersion: SecureVersion;
  ciphers: string;
  honorCipherOrder: boolean;
  legacy: boolean;
}

type VersionConfig = Pick<TlsConfig, 'min_version' | 'max_version' | 'ciphers' | 'prefer_server_cipher_suites' | 'insecure_allow_legacy_tls'>;

/** Resolves the configured versions and ciphers; throws GH_CONFIG_INVALID for legacy TLS without the explicit opt-in. */
export function resolveProtocolPolicy(cfg: VersionConfig, logger?: Logger, path = 'server.tls'): ProtocolPolicy {
  const min = cfg.min_version;
  const max = cfg.max_version;
  if (RANK[min] > RANK[max]) {
    throw new GatehouseError('GH_CONFIG_INVALID', `${path}.min_version (${min}) is above max_version (${max})`);
  }
  const legacy = isLegacyVersion(min);
  if (legacy && !cfg.insecure_allow_legacy_tls) {
    throw new GatehouseError('GH_CONFIG_INVALID', `${path}.min_version is ${min}: TLS 1.0 and 1.1 need insecure_allow_legacy_tls: true`);
  }
  if (isLegacyVersion(max)) {
    // A legacy-only server cannot be right even with the opt-in: the opt-in is for old clients, not instead of modern ones.
    throw new GatehouseError('GH_CONFIG_INVALID', `${path}.max_version is ${max}: it must be tls12 or tls13`);
  }
  let ciphers = cfg.ciphers;
  if (legacy) {
    if (ciphers === MOZILLA_INTERMEDIATE_CIPHERS) ciphers = `${ciphers}:${LEGACY_CBC_CIPHERS}`;
    if (!ciphers.includes('@SECLEVEL=')) ciphers = `${ciphers}:${SECLEVEL0}`;
    logger?.warn({ min_version: min, setting: `${path}.insecure_allow_legacy_tls` }, 'TLS 1.0/1.1 are enabled (insecure_allow_legacy_tls): refused in production');
  }
  return { minVersion: NODE_VERSION[min], maxVersion: NODE_VERSION[max], ciphers, honorCipherOrder: cfg.prefer_server_cipher_suites, legacy };
}

/** The Strict-Transport-Security value for HTTPS responses (RFC 6797 §6.1), or undefined when off. */
export function hstsHeader(cfg: Pick<TlsConfig, 'enabled' | 'hsts'>): string | undefined {
  if (!cfg.enabled || !cfg.hsts.enabled) return undefined;
  const seconds = Math.max(0, Math.floor(cfg.hsts.max_age / 1000));
  return `max-age=${seconds}${cfg.hsts.include_subdomains ? '; includeSubDomains' : ''}`;
}

/** Each server TLS setting production refuses, named (issue 2: the generated dev CA, TLS below 1.2). */
export function tlsProductionProblems(cfg: TlsConfig, path = 'server.tls'): string[] {
  const problems: string[] = [];
  if (!cfg.enabled) return [`${path}.enabled is false: production serves HTTPS only`];
  if (!cfg.cert_file || !cfg.key_file) problems.push(`${path}.cert_file/key_file are not set: the generated dev CA is for development only`);
  else if (fileHasDevCaCertificate(cfg.cert_file)) problems.push(`${path}.cert_file is issued by a Gatehouse development CA: dev certificates are for development only`);
  if (isLegacyVersion(cfg.min_version)) problems.push(`${path}.min_version is ${cfg.min_version}: production needs tls12 or tls13`);
  if (cfg.insecure_allow_legacy_tls) problems.push(`${path}.insecure_allow_legacy_tls is true`);
  // Security level 0 is what legacy TLS needs, and it also admits NULL-encryption and anonymous suites.
  if (/@SECLEVEL=0(?![0-9])/i.test(cfg.ciphers)) problems.push(`${path}.ciphers contains @SECLEVEL=0: it admits NULL-encryption, anonymous and weak-key suites`);
  if (cfg.client_auth !== 'none' && !cfg.ca_file) problems.push(`${path}.client_auth is ${cfg.client_auth} without ca_file: client certificates would chain to the dev CA`);
  else if (cfg.client_auth !== 'none' && cfg.ca_file && fileHasDevCaCertificate(cfg.ca_file)) {
    problems.push(`${path}.ca_file holds a Gatehouse development CA: anyone with its key (in a state directory) could mint client certificates`);
  }
  return problems;
}
