/**
 * TLS towards upstreams (seed 000's client block: ca_file, cert_file/key_file for mutual TLS, server_name,
 * min_version, insecure_skip_verify; and pin_sha256, RFC 7469 public key pins). Returns options for undici's `connect`.
 */
import { readFileSync } from 'node:fs';
import type { PeerCertificate, SecureVersion } from 'node:tls';
import { Budget } from '../core/budget.js';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { Logger } from '../core/types.js';
import type { RouteConfig } from '../config/index.js';
import { checkCaBundle, checkCertificatePair } from './certificate.js';
import { isLegacyVersion, nodeTlsVersion } from './policy.js';
import { decodePins, pinnedServerIdentity } from './pin.js';

export type UpstreamTlsConfig = RouteConfig['tls'];

export interface UpstreamTlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  minVersion: SecureVersion;
  ciphers?: string;
  rejectUnauthorized: boolean;
  /** Set with pin_sha256: node's hostname check, then the pins (tls.connect's option, passed on by undici). */
  checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
}

function readPem(path: string, field: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new GatehouseError('GH_CONFIG_FILE_UNREADABLE', `${field}: the file cannot be read`, { cause: e });
  }
}

/** Builds undici connect options; throws on an unreadable, mismatched or expired client certificate. */
export function createUpstreamTls(cfg: UpstreamTlsConfig, opts: { logger?: Logger; clock?: Clock; path?: string } = {}): UpstreamTlsOptions {
  const path = opts.path ?? 'routes[].tls';
  const out: UpstreamTlsOptions = { minVersion: nodeTlsVersion(cfg.min_version), rejectUnauthorized: !cfg.insecure_skip_verify };
  if (cfg.ca_file) {
    out.ca = readPem(cfg.ca_file, `${path}.ca_file`);
    checkCaBundle(out.ca);
  }
  if (Boolean(cfg.cert_file) !== Boolean(cfg.key_file)) {
    throw new GatehouseError('GH_CONFIG_INVALID', `${path}: cert_file and key_file go together (mutual TLS)`);
  }
  if (cfg.cert_file && cfg.key_file) {
    const pair = checkCertificatePair(readPem(cfg.cert_file, `${path}.cert_file`), readPem(cfg.key_file, `${path}.key_file`), (opts.clock ?? systemClock).now());
    out.cert = pair.certPem;
    out.key = pair.keyPem;
  }
  if (cfg.server_name) out.servername = cfg.server_name;
  if (isLegacyVersion(cfg.min_version)) {
    // OpenSSL 3 refuses TLS 1.0/1.1 at security level 1; the config profile refuses this in production.
    out.ciphers = 'DEFAULT:@SECLEVEL=0';
    opts.logger?.warn({ setting: `${path}.min_version`, min_version: cfg.min_version }, 'legacy TLS towards an upstream: refused in production');
  }
  if (cfg.pin_sha256 !== undefined) {
    // Node ignores checkServerIdentity's verdict when rejectUnauthorized is false: the pins would look enforced and not be.
    if (cfg.insecure_skip_verify) throw new GatehouseError('GH_CONFIG_INVALID', `${path}.pin_sha256: pins are checked in addition to certificate verification, which insecure_skip_verify turns off`);
    const setting = `${path}.pin_sha256`;
    // The gateway passes routes.<name>.tls: the route goes on the line as on request lines, for filtering.
    const route = /^routes\.([^.]+)\.tls$/.exec(path)?.[1];
    // Every refused connection would log a line, and a pool under load opens many: at most 1 a second (10 at once)
    // per setting; the next line counts those not logged.
    const budget = new Budget(1, 10);
    out.checkServerIdentity = pinnedServerIdentity(decodePins(cfg.pin_sha256, setting), ({ host, chain }) => {
      const skipped = budget.take((opts.clock ?? systemClock).now());
      if (skipped === undefined) return;
      opts.logger?.warn({ ...(route !== undefined ? { route } : {}), setting, host, chain_pins: chain, ...(skipped > 0 ? { not_logged: skipped } : {}) }, 'upstream certificate pin mismatch: connection refused');
    });
  }
  if (cfg.insecure_skip_verify) {
    opts.logger?.warn({ setting: `${path}.insecure_skip_verify` }, 'upstream certificates are not verified (insecure_skip_verify): refused in production');
  }
  return out;
}

/** Each upstream TLS setting production refuses, named (seed 000: "Never set insecure_skip_verify to true in production"). */
export function upstreamTlsProductionProblems(cfg: UpstreamTlsConfig, path = 'routes[].tls'): string[] {
  const problems: string[] = [];
  if (cfg.insecure_skip_verify) problems.push(`${path}.insecure_skip_verify is true: upstream certificates must be verified`);
  if (isLegacyVersion(cfg.min_version)) problems.push(`${path}.min_version is ${cfg.min_version}: production needs tls12 or tls13`);
  return problems;
}
