/**
 * Server-side TLS (issue 2 "TLS, server side"; seeds 000 and 002): the listener's options, mTLS, the development CA
 * when no certificate is configured, and certificate rotation without restart.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { createSecureContext, type SecureContextOptions, type Server as TlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError, isGatehouseError, type ErrorCode } from '../core/errors.js';
import type { Logger } from '../core/types.js';
import type { TlsConfig } from '../config/index.js';
import { checkCaBundle, checkCertificatePair, pemHasDevCaCertificate, type CertificateInfo } from './certificate.js';
import { ensureDevServerCertificate } from './devstate.js';
import { resolveProtocolPolicy, type ProtocolPolicy } from './policy.js';
import { FileWatcher, type FileWatchOptions } from './watch.js';

export interface ServerTlsOptions {
  stateDir: string;
  logger: Logger;
  /** Extra names and addresses for the generated dev certificate (the listen host). */
  hosts?: string[];
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

interface Material {
  certPem: string;
  keyPem: string;
  caPem: string | undefined;
  info: CertificateInfo;
}

function readConfigured(path: string, field: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new GatehouseError('GH_CONFIG_FILE_UNREADABLE', `server.tls.${field}: the file cannot be read`, { cause: e });
  }
}

/**
 * A resumed TLS session skips certificate verification: OpenSSL restores the verify result stored in the ticket. The
 * ticket keys survive a reload (on purpose), so once the client CA is replaced, a client whose certificate only the
 * old CA signed would resume as `authorized`. The session id context names the client trust, and OpenSSL resumes
 * no session made under another one (TLS 1.2 session ids and tickets, TLS 1.3 PSKs alike): a full handshake follows.
 */
const sessionIdContext = (caPem: string): string => createHash('sha256').update(caPem).digest('hex').slice(0, 32);

function contextOptions(m: Material, policy: ProtocolPolicy): SecureContextOptions {
  return {
    cert: m.certPem,
    key: m.keyPem,
    ...(m.caPem ? { ca: m.caPem, sessionIdContext: sessionIdContext(m.caPem) } : {}),
    minVersion: policy.minVersion,
    maxVersion: policy.maxVersion,
    ciphers: policy.ciphers,
    honorCipherOrder: policy.honorCipherOrder,
  };
}

/** Lets OpenSSL judge the whole set (cipher string, key strength at the security level) before anything serves it. */
function validateContext(opts: SecureContextOptions): void {
  try {
    createSecureContext(opts);
  } catch (e) {
    const cipher = /cipher/i.test((e as Error).message ?? '');
    throw new GatehouseError(cipher ? 'GH_CONFIG_INVALID' : 'GH_TLS_CERT_INVALID', cipher ? 'server.tls.ciphers: OpenSSL accepts none of the listed ciphers' : 'OpenSSL refuses the certificate or key', { cause: e });
  }
}

function loadFromFiles(cfg: TlsConfig, now: number, profile: ServerTlsOptions['profile']): Material {
  const pair = checkCertificatePair(readConfigured(cfg.cert_file as string, 'cert_file'), readConfigured(cfg.key_file as string, 'key_file'), now);
  let caPem: string | undefined;
  if (cfg.client_auth !== 'none') {
    if (!cfg.ca_file) throw new GatehouseError('GH_CONFIG_INVALID', `server.tls.client_auth is ${cfg.client_auth}: ca_file (the client CA) is required`);
    caPem = readConfigured(cfg.ca_file, 'ca_file');
    checkCaBundle(caPem);
  }
  // Production refuses dev CA certificates at start (tlsProductionProblems); a rotation must not let them in later.
  // Judged on the text just read, which is what would serve.
  if (profile === 'production') {
    if (pemHasDevCaCertificate(pair.certPem)) throw new GatehouseError('GH_CONFIG_PRODUCTION_REFUSED', 'server.tls.cert_file is issued by a Gatehouse development CA');
    if (caPem !== undefined && pemHasDevCaCertificate(caPem)) throw new GatehouseError('GH_CONFIG_PRODUCTION_REFUSED', 'server.tls.ca_file holds a Gatehouse development CA');
  }
  return { certPem: pair.certPem, keyPem: pair.keyPem, caPem, info: pair.info };
}

/** Start-time advice, not refusals: a key others can read, a certificate about to expire. */
function warnAboutFiles(cfg: TlsConfig, info: CertificateInfo, now: number, logger: Logger): void {
  try {
    if ((statSync(cfg.key_file as string).mode & 0o077) !== 0) logger.warn({ key_file: cfg.key_file }, 'the TLS key file is readable by group or others: chmod 600 it');
  } catch {
    // already read successfully; a stat failure here changes nothing
  }
  const daysLeft = Math.floor((info.validTo.getTime() - now) / 86_400_000);
  if (daysLeft < 14) logger.warn({ not_after: info.validTo.toISOString(), days_left: daysLeft }, 'the TLS certificate expires soon');
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
  if (!cfg.enabled) throw new TypeError('createServerTls: server.tls.enabled is false');
  const logger = opts.logger.child({ component: 'tls' });
  const clock = opts.clock ?? systemClock;
  const policy = resolveProtocolPolicy(cfg, logger);
  if (Boolean(cfg.cert_file) !== Boolean(cfg.key_file)) throw new GatehouseError('GH_CONFIG_INVALID', 'server.tls: cert_file and key_file go together');

  let material: Material;
  let devCa: { caCertPath: string } | undefined;
  if (cfg.cert_file) {
    material = loadFromFiles(cfg, clock.now(), opts.profile);
    warnAboutFiles(cfg, material.info, clock.now(), logger);
  } else {
    if (opts.profile === 'production') {
      throw new GatehouseError('GH_CONFIG_PRODUCTION_REFUSED', 'server.tls.cert_file/key_file are not set: the generated dev CA is for development only');
    }
    const dev = await ensureDevServerCertificate({ stateDir: opts.stateDir, hosts: opts.hosts ?? [], logger, clock });
    // In development the dev CA also signs client certificates (`gatehouse certs dev`), unless ca_file says otherwise.
    const caPem = cfg.client_auth === 'none' ? undefined : cfg.ca_file ? readConfigured(cfg.ca_file, 'ca_file') : dev.caCertPem;
    if (caPem) checkCaBundle(caPem);
    material = { certPem: dev.certPem, keyPem: dev.keyPem, caPem, info: checkCertificatePair(dev.certPem, dev.keyPem, clock.now()).info };
    devCa = { caCertPath: dev.caCertPath };
  }
  const initial = contextOptions(material, policy);
  validateContext(initial);

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
  let reloads = 0;
  let rejected = 0;

  function reload(): ReloadResult {
    let result: ReloadResult;
    try {
      if (!cfg.cert_file) throw new TypeError('reload: no cert_file is configured (the dev certificate is managed at start)');
      const next = loadFromFiles(cfg, clock.now(), opts.profile);
      const changed = next.certPem !== material.certPem || next.keyPem !== material.keyPem || next.caPem !== material.caPem;
      if (changed) {
        const ctx = contextOptions(next, policy);
        validateContext(ctx);
        for (const s of servers) {
          s.setSecureContext(ctx);
          s.setTicketKeys(ticketKeys);
        }
        Object.assign(options, ctx);
        material = next;
        reloads++;
        logger.info({ fingerprint256: next.info.fingerprint256, not_after: next.info.validTo.toISOString() }, 'TLS certificate reloaded: new connections use it');
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
      if (cfg.cert_file && cfg.watch && !watcher) {
        const files = [cfg.cert_file, cfg.key_file as string, ...(material.caPem && cfg.ca_file ? [cfg.ca_file] : [])];
        watcher = new FileWatcher(files, () => void reload(), opts.watch);
      }
    },
    close() {
      watcher?.close();
      watcher = undefined;
      if (rotation) clearInterval(rotation);
      rotation = undefined;
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
        legacy_tls: policy.legacy,
        watching: watcher !== undefined,
        reloads,
        rejected_reloads: rejected,
      };
    },
  };
}
