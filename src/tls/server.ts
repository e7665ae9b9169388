/**
 * Server-side TLS (issue 2 "TLS, server side"; seeds 000 and 002): the listener's options, mTLS, the development CA
 * when no certificate is configured, and certificate rotation without restart.
 */
import { X509Certificate, constants as cryptoConstants, createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { createSecureContext, type DetailedPeerCertificate, type SecureContextOptions, type Server as TlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError, isGatehouseError, type ErrorCode } from '../core/errors.js';
import type { Logger } from '../core/types.js';
import type { TlsConfig } from '../config/index.js';
import { checkCaBundle, checkCertificatePair, pemHasDevCaCertificate, type CertificateInfo } from './certificate.js';
import { checkCrlBundle, earliestNextUpdate, revokedTest, type CrlInfo } from './crl.js';
import { ensureDevServerCertificate } from './devstate.js';
import { resolveProtocolPolicy, type ProtocolPolicy } from './policy.js';
import { FileWatcher, type FileWatchOptions } from './watch.js';

export interface ServerTlsOptions {
  stateDir: string;
  logger: Logger;
  /** Extra names and addresses for the generated dev certificate (the listen host). */
  hosts?: string[];
  /** The setting the block is read from, as every message names it: `server.tls` (default), `metrics.tls`. */
  path?: string;
  /** The generated dev certificate's file stem under <state_dir>/tls (default `server`; see ensureDevServerCertificate). */
  devCertName?: string;
  profile: 'development' | 'production';
  clock?: Clock;
  watch?: FileWatchOptions;
  /** Called after every reload attempt (tests, metrics). */
  onReload?: (result: ReloadResult) => void;
  /**
   * Session ticket keys come from setTicketKeys (the workers' supervisor issues them to every worker): no rotation
   * timer here. Until the first keys arrive, random ones serve.
   */
  ticketKeysFromOutside?: boolean;
}

/** Node's session ticket key: 16 bytes of key name, 16 of HMAC secret, 16 of AES key. */
export const TICKET_KEY_BYTES = 48;

/** Fresh random session ticket keys. */
export const newTicketKeys = (): Buffer => randomBytes(TICKET_KEY_BYTES);

export type ReloadResult =
  | { ok: true; changed: boolean; fingerprint256: string; not_after: string }
  | { ok: false; code: ErrorCode };

export interface TlsDescription {
  source: 'files' | 'dev-ca';
  cert_file?: string;
  subject: string;
  subject_alt_name?: string;
  not_after: string;
  fingerprint256: string;
  min_version: string;
  max_version: string;
  client_auth: TlsConfig['client_auth'];
  /** The client CRLs in force (<path>.crl_file). */
  crl?: { file: string; crls: number; revoked: number; next_update?: string };
  legacy_tls: boolean;
  watching: boolean;
  reloads: number;
  rejected_reloads: number;
}

export interface ServerTls {
  /** Options for tls.createServer / https.createServer; kept current across rotations. */
  options: TlsOptions;
  /**
   * Starts watching the files (when configured) and swaps the context on every attached server on valid change.
   * Takes a tls.Server or https.Server; the http.Server type is accepted because an https server is often held under
   * its http base type, and anything without setSecureContext is refused at run time.
   */
  attach(server: TlsServer | HttpsServer | HttpServer): void;
  /** Re-reads the configured files now (what the watcher calls). */
  reload(): ReloadResult;
  /** Replaces the session ticket keys on every attached server (and for servers attached later). */
  setTicketKeys(keys: Buffer): void;
  close(): void;
  devCa?: { caCertPath: string };
  describe(): TlsDescription;
}

interface ClientTrust {
  caPem: string | undefined;
  /** The CRL file's text as read (change detection), its CRLs one per element (node's `crl` option) and what they list. */
  crl: { text: string; pems: string[]; crls: CrlInfo[] } | undefined;
}

interface Material extends ClientTrust {
  certPem: string;
  keyPem: string;
  info: CertificateInfo;
}

function readConfigured(file: string, setting: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new GatehouseError('GH_CONFIG_FILE_UNREADABLE', `${setting}: the file cannot be read`, { cause: e });
  }
}

/**
 * A resumed TLS session skips certificate verification: OpenSSL restores the verify result stored in the ticket. The
 * ticket keys survive a reload (on purpose), so once the client CA is replaced, a client whose certificate only the
 * old CA signed would resume as `authorized`. The session id context names the client trust, and OpenSSL resumes
 * no session made under another one (TLS 1.2 session ids and tickets, TLS 1.3 PSKs alike): a full handshake follows.
 */
const sessionIdContext = (caPem: string, crlText: string | undefined): string => {
  // The CRL is part of the client trust: a session resumed after a revocation would skip the check that now fails.
  const h = createHash('sha256').update(caPem);
  if (crlText !== undefined) h.update('\0crl\0').update(crlText);
  return h.digest('hex').slice(0, 32);
};

function contextOptions(m: Material, policy: ProtocolPolicy): SecureContextOptions {
  return {
    cert: m.certPem,
    key: m.keyPem,
    ...(m.caPem ? { ca: m.caPem, sessionIdContext: sessionIdContext(m.caPem, m.crl?.text) } : {}),
    ...(m.crl ? { crl: m.crl.pems } : {}),
    minVersion: policy.minVersion,
    maxVersion: policy.maxVersion,
    ciphers: policy.ciphers,
    honorCipherOrder: policy.honorCipherOrder,
    // No TLS 1.2 renegotiation, client- or server-initiated. A renegotiated handshake can carry another client
    // certificate; Node then leaves `authorized` true (setting only authorizationError) and emits no second
    // secureConnection, so a certificate that does not verify would be read as the client's identity. (TLS 1.3 has
    // no renegotiation.) Part of every context, so a certificate reload keeps it.
    secureOptions: cryptoConstants.SSL_OP_NO_RENEGOTIATION,
  };
}

/** Lets OpenSSL judge the whole set (cipher string, key strength at the security level) before anything serves it. */
function validateContext(opts: SecureContextOptions, path: string): void {
  try {
    createSecureContext(opts);
  } catch (e) {
    const cipher = /cipher/i.test((e as Error).message ?? '');
    throw new GatehouseError(cipher ? 'GH_CONFIG_INVALID' : 'GH_TLS_CERT_INVALID', cipher ? `${path}.ciphers: OpenSSL accepts none of the listed ciphers` : `${path}: OpenSSL refuses the certificate or key`, { cause: e });
  }
}

/**
 * The client CA and CRLs as configured. `devCaPem` stands in for ca_file in development (the generated CA signs the
 * client certificates of `gatehouse certs dev --ca`). Production refuses a dev CA here too: a rotation must not let one in.
 */
function loadClientTrust(cfg: TlsConfig, devCaPem: string | undefined, now: number, profile: ServerTlsOptions['profile'], path: string): ClientTrust {
  if (cfg.client_auth === 'none') {
    if (cfg.crl_file) throw new GatehouseError('GH_CONFIG_INVALID', `${path}.crl_file is set but client_auth is none: there is no client certificate to check`);
    return { caPem: undefined, crl: undefined };
  }
  let caPem: string | undefined;
  if (cfg.ca_file) caPem = readConfigured(cfg.ca_file, `${path}.ca_file`);
  else if (devCaPem !== undefined) caPem = devCaPem;
  else throw new GatehouseError('GH_CONFIG_INVALID', `${path}.client_auth is ${cfg.client_auth}: ca_file (the client CA) is required`);
  checkCaBundle(caPem);
  if (profile === 'production' && pemHasDevCaCertificate(caPem)) throw new GatehouseError('GH_CONFIG_PRODUCTION_REFUSED', `${path}.ca_file holds a Gatehouse development CA`);
  if (!cfg.crl_file) return { caPem, crl: undefined };
  const text = readConfigured(cfg.crl_file, `${path}.crl_file`);
  const { pems, crls } = checkCrlBundle(text, caPem, now);
  return { caPem, crl: { text, pems, crls } };
}

function loadFromFiles(cfg: TlsConfig, now: number, profile: ServerTlsOptions['profile'], path: string): Material {
  const pair = checkCertificatePair(readConfigured(cfg.cert_file as string, `${path}.cert_file`), readConfigured(cfg.key_file as string, `${path}.key_file`), now);
  checkKeyMode(cfg, profile, undefined, path);
  const trust = loadClientTrust(cfg, undefined, now, profile, path);
  // Production refuses dev CA certificates at start (tlsProductionProblems); a rotation must not let them in later.
  // Judged on the text just read, which is what would serve.
  if (profile === 'production' && pemHasDevCaCertificate(pair.certPem)) throw new GatehouseError('GH_CONFIG_PRODUCTION_REFUSED', `${path}.cert_file is issued by a Gatehouse development CA`);
  return { certPem: pair.certPem, keyPem: pair.keyPem, info: pair.info, ...trust };
}

function crlDescription(file: string, crls: readonly CrlInfo[]): NonNullable<TlsDescription['crl']> {
  const next = earliestNextUpdate(crls);
  return { file, crls: crls.length, revoked: crls.reduce((n, c) => n + c.revoked.length, 0), ...(next ? { next_update: next.toISOString() } : {}) };
}

/**
 * The certificates a client connection was accepted with, leaf first, as far as the peer sent them (up to 10): a CRL
 * that lists an intermediate revokes every connection under it.
 */
function chainOf(socket: TLSSocket): X509Certificate[] {
  const out: X509Certificate[] = [];
  let c: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  const seen = new Set<DetailedPeerCertificate>();
  while (c && c.raw && !seen.has(c) && out.length < 10) {
    seen.add(c);
    try {
      out.push(new X509Certificate(c.raw));
    } catch {
      break;
    }
    c = c.issuerCertificate;
  }
  return out;
}

/** A CRL past its nextUpdate makes OpenSSL refuse every client certificate: said a day ahead, and when it happens. */
function warnAboutCrl(m: Material, now: number, logger: Logger): void {
  const next = m.crl ? earliestNextUpdate(m.crl.crls) : undefined;
  if (!next) return;
  const hours = Math.floor((next.getTime() - now) / 3_600_000);
  if (hours < 0) logger.error({ next_update: next.toISOString() }, 'the client CRL is past its nextUpdate: every client certificate is refused until a current CRL is installed');
  else if (hours < 24) logger.warn({ next_update: next.toISOString(), hours_left: hours }, 'the client CRL expires soon: issue a new one (gatehouse certs crl)');
}

/**
 * The key file's mode. Production refuses a key others can read or group/others can write (seed 004: "600 or 400"),
 * at start and on every reload; group-readable (640 with a dedicated group) only warns, as everywhere in development.
 */
function checkKeyMode(cfg: TlsConfig, profile: ServerTlsOptions['profile'], logger: Logger | undefined, path: string): void {
  let mode: number;
  try {
    mode = statSync(cfg.key_file as string).mode;
  } catch {
    return; // already read successfully; a stat failure here changes nothing
  }
  if (profile === 'production' && (mode & 0o026) !== 0) {
    throw new GatehouseError('GH_KEY_FILE_PERMISSIONS', `${path}.key_file is ${(mode & 0o004) !== 0 ? 'readable by others' : 'writable by group or others'} (mode ${(mode & 0o777).toString(8)}): chmod 600 it`);
  }
  if ((mode & 0o077) !== 0) logger?.warn({ key_file: cfg.key_file, setting: `${path}.key_file` }, 'the TLS key file is readable by group or others: chmod 600 it');
}

/** Start-time advice, not refusals: a certificate about to expire. */
function warnAboutFiles(cfg: TlsConfig, info: CertificateInfo, now: number, logger: Logger, path: string): void {
  checkKeyMode(cfg, 'development', logger, path);
  const daysLeft = Math.floor((info.validTo.getTime() - now) / 86_400_000);
  if (daysLeft < 14) logger.warn({ not_after: info.validTo.toISOString(), days_left: daysLeft, setting: `${path}.cert_file` }, 'the TLS certificate expires soon');
}

/**
 * With client_auth `request`, a client without a certificate is let through (another method may identify it), but
 * a client that presents a certificate which does not verify is cut off: a bad credential is never treated as none.
 */
function refuseUnverifiedCertificates(socket: TLSSocket, logger: Logger): void {
  if (socket.authorized || !socket.getPeerX509Certificate()) return;
  logger.debug({ reason: socket.authorizationError ? String(socket.authorizationError).slice(0, 80) : 'unverified' }, 'client certificate did not verify: connection closed');
  socket.destroy();
}

export async function createServerTls(cfg: TlsConfig, opts: ServerTlsOptions): Promise<ServerTls> {
  const path = opts.path ?? 'server.tls';
  if (!cfg.enabled) throw new TypeError(`createServerTls: ${path}.enabled is false`);
  const logger = opts.logger.child({ component: 'tls', ...(path !== 'server.tls' ? { tls_setting: path } : {}) });
  const clock = opts.clock ?? systemClock;
  const policy = resolveProtocolPolicy(cfg, logger, path);
  if (Boolean(cfg.cert_file) !== Boolean(cfg.key_file)) throw new GatehouseError('GH_CONFIG_INVALID', `${path}: cert_file and key_file go together`);

  let material: Material;
  let devCa: { caCertPath: string } | undefined;
  let devCaPem: string | undefined;
  if (cfg.cert_file) {
    material = loadFromFiles(cfg, clock.now(), opts.profile, path);
    warnAboutFiles(cfg, material.info, clock.now(), logger, path);
  } else {
    if (opts.profile === 'production') {
      throw new GatehouseError('GH_CONFIG_PRODUCTION_REFUSED', `${path}.cert_file/key_file are not set: the generated dev CA is for development only`);
    }
    const dev = await ensureDevServerCertificate({ stateDir: opts.stateDir, hosts: opts.hosts ?? [], logger, clock, ...(opts.devCertName !== undefined ? { name: opts.devCertName } : {}) });
    devCaPem = dev.caCertPem;
    // In development the dev CA also signs client certificates (`gatehouse certs dev`), unless ca_file says otherwise.
    const trust = loadClientTrust(cfg, dev.caCertPem, clock.now(), opts.profile, path);
    material = { certPem: dev.certPem, keyPem: dev.keyPem, info: checkCertificatePair(dev.certPem, dev.keyPem, clock.now()).info, ...trust };
    devCa = { caCertPath: dev.caCertPath };
  }
  warnAboutCrl(material, clock.now(), logger);
  const initial = contextOptions(material, policy);
  validateContext(initial, path);

  const options: TlsOptions = {
    ...initial,
    requestCert: cfg.client_auth !== 'none',
    rejectUnauthorized: cfg.client_auth === 'require',
    ALPNProtocols: ['http/1.1'],
  };
  const servers = new Set<TlsServer>();
  // Ours, not OpenSSL's per-context ones: a certificate reload makes a new context, and the keys must survive it.
  let ticketKeys = newTicketKeys();
  let rotation: NodeJS.Timeout | undefined;
  const setTicketKeys = (keys: Buffer): void => {
    if (keys.length !== TICKET_KEY_BYTES) throw new TypeError(`setTicketKeys: ${TICKET_KEY_BYTES} bytes expected`);
    ticketKeys = Buffer.from(keys);
    for (const s of servers) s.setTicketKeys(ticketKeys);
  };
  let watcher: FileWatcher | undefined;
  let crlCheck: NodeJS.Timeout | undefined;
  let reloads = 0;
  let rejected = 0;

  // Connections with a client certificate, so that one a new CRL lists is cut at once, not when the client leaves.
  const clientConnections = new Set<TLSSocket>();
  const closeRevoked = (crls: readonly CrlInfo[]): void => {
    const revoked = revokedTest(crls);
    let closed = 0;
    for (const socket of clientConnections) {
      if (chainOf(socket).some(revoked)) {
        socket.destroy();
        closed++;
      }
    }
    if (closed > 0) logger.info({ closed }, 'connections of revoked client certificates closed');
  };

  function reload(): ReloadResult {
    let result: ReloadResult;
    try {
      // The dev certificate is managed at start; its client CA and CRL files are re-read like configured ones.
      if (!cfg.cert_file && !cfg.ca_file && !cfg.crl_file) throw new TypeError('reload: no cert_file, ca_file or crl_file is configured');
      const next: Material = cfg.cert_file ? loadFromFiles(cfg, clock.now(), opts.profile, path) : { ...material, ...loadClientTrust(cfg, devCaPem, clock.now(), opts.profile, path) };
      const changed = next.certPem !== material.certPem || next.keyPem !== material.keyPem || next.caPem !== material.caPem || next.crl?.text !== material.crl?.text;
      if (changed) {
        const ctx = contextOptions(next, policy);
        validateContext(ctx, path);
        for (const s of servers) {
          s.setSecureContext(ctx);
          s.setTicketKeys(ticketKeys);
        }
        Object.assign(options, ctx);
        const crlChanged = next.crl?.text !== material.crl?.text;
        material = next;
        if (crlChanged && next.crl) closeRevoked(next.crl.crls);
        reloads++;
        logger.info({ fingerprint256: next.info.fingerprint256, not_after: next.info.validTo.toISOString(), ...(next.crl ? { crl_revoked: next.crl.crls.reduce((n, c) => n + c.revoked.length, 0) } : {}) }, 'TLS certificate reloaded: new connections use it');
        warnAboutCrl(next, clock.now(), logger);
      }
      result = { ok: true, changed, fingerprint256: material.info.fingerprint256, not_after: material.info.validTo.toISOString() };
    } catch (e) {
      if (e instanceof TypeError) throw e;
      rejected++;
      const code: ErrorCode = isGatehouseError(e) ? e.code : 'GH_TLS_CERT_INVALID';
      // The message names the problem (mismatch, expiry date); it never holds key material.
      logger.warn({ code, problem: isGatehouseError(e) ? e.message : 'unreadable', serving_fingerprint256: material.info.fingerprint256 }, 'new TLS certificate rejected: the previous one keeps serving');
      result = { ok: false, code };
    }
    opts.onReload?.(result);
    return result;
  }

  return {
    options,
    devCa,
    reload,
    setTicketKeys,
    attach(anyServer) {
      const server = anyServer as TlsServer;
      if (typeof server.setSecureContext !== 'function') throw new TypeError('attach: the server is not a TLS server');
      servers.add(server);
      server.setTicketKeys(ticketKeys);
      if (!rotation && !opts.ticketKeysFromOutside && cfg.ticket_key_rotation > 0) {
        rotation = setInterval(() => setTicketKeys(newTicketKeys()), cfg.ticket_key_rotation);
        rotation.unref();
      }
      if (cfg.client_auth === 'request') server.on('secureConnection', (socket: TLSSocket) => refuseUnverifiedCertificates(socket, logger));
      if (cfg.crl_file) {
        server.on('secureConnection', (socket: TLSSocket) => {
          if (socket.destroyed || !socket.authorized) return;
          clientConnections.add(socket);
          socket.once('close', () => clientConnections.delete(socket));
        });
      }
      const files = [...(cfg.cert_file ? [cfg.cert_file, cfg.key_file as string] : []), ...(material.caPem && cfg.ca_file ? [cfg.ca_file] : []), ...(material.crl && cfg.crl_file ? [cfg.crl_file] : [])];
      if (files.length > 0 && cfg.watch && !watcher) watcher = new FileWatcher(files, () => void reload(), opts.watch);
      // A CRL expires while the gateway runs: said once an hour from a day before until a new one is installed.
      if (material.crl && !crlCheck) {
        crlCheck = setInterval(() => warnAboutCrl(material, clock.now(), logger), 3_600_000);
        crlCheck.unref();
      }
    },
    close() {
      watcher?.close();
      watcher = undefined;
      if (rotation) clearInterval(rotation);
      rotation = undefined;
      if (crlCheck) clearInterval(crlCheck);
      crlCheck = undefined;
      clientConnections.clear();
      servers.clear();
    },
    describe() {
      return {
        source: cfg.cert_file ? 'files' : 'dev-ca',
        ...(cfg.cert_file ? { cert_file: cfg.cert_file } : {}),
        subject: material.info.subject,
        ...(material.info.subjectAltName ? { subject_alt_name: material.info.subjectAltName } : {}),
        not_after: material.info.validTo.toISOString(),
        fingerprint256: material.info.fingerprint256,
        min_version: policy.minVersion,
        max_version: policy.maxVersion,
        client_auth: cfg.client_auth,
        ...(material.crl && cfg.crl_file ? { crl: crlDescription(cfg.crl_file, material.crl.crls) } : {}),
        legacy_tls: policy.legacy,
        watching: watcher !== undefined,
        reloads,
        rejected_reloads: rejected,
      };
    },
  };
}
