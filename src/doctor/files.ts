/** Reading what the configuration points at: certificates, keys, modes. Errors name the config path, never content. */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { statSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readFileBounded } from '../core/files.js';
import type { GatehouseConfig } from '../config/index.js';
import type { UpstreamTlsConfig } from '../tls/index.js';
import { fail, warn } from './outcome.js';
import type { Finding } from './types.js';
import { isHttpsUrl } from '../core/net.js';
import { auditDir } from '../audit/index.js';

const MAX_PEM_BYTES = 1_048_576;
const MAX_CERTS = 64;

/** A file named by a config path. */
export interface NamedFile {
  path: string;
  file: string;
  /** Refused at start when group or others have any access (audit and encryption keys: GH_KEY_FILE_PERMISSIONS). */
  strict?: boolean;
}

const FS_CODES = new Set(['ENOENT', 'EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'ELOOP', 'EMFILE', 'EIO']);

/** True when reading the file failed (as opposed to parsing what was read). */
export const isFileError = (e: unknown): boolean => FS_CODES.has((e as NodeJS.ErrnoException).code ?? '') || (e as Error).name === 'BoundedReadError';

/** Why a file could not be read, in words (the errno, never the content). */
export function unreadableReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES') return 'is not readable';
  if ((e as Error).name === 'BoundedReadError') return (e as Error).message;
  return 'cannot be read';
}

/** The certificates of a PEM file, leaf first; throws when there is none OpenSSL reads. */
export function readCertificates(file: string): X509Certificate[] {
  const text = readFileBounded(file, MAX_PEM_BYTES).toString('utf8');
  const end = '-----END CERTIFICATE-----';
  const out: X509Certificate[] = [];
  let at = text.indexOf('-----BEGIN CERTIFICATE-----');
  while (at >= 0 && out.length < MAX_CERTS) {
    const stop = text.indexOf(end, at);
    if (stop < 0) break;
    out.push(new X509Certificate(text.slice(at, stop + end.length)));
    at = text.indexOf('-----BEGIN CERTIFICATE-----', stop);
  }
  if (out.length === 0) throw new TypeError('no PEM certificate');
  return out;
}

export function readPrivateKey(file: string): KeyObject {
  return createPrivateKey(readFileBounded(file, MAX_PEM_BYTES));
}

/** One outbound client's TLS block besides routes[].tls (docs/tls.md § TLS for outbound clients). */
export interface OutboundTls {
  /** The block's config path, e.g. audit.sinks[1].tls. */
  path: string;
  /** How logs name the client: "approval webhook", "audit sink 1", "jwt jwks", "otlp exporter". */
  client: string;
  /** What the client connects to (the JWKS URL, else the issuer discovered); its block applies when it is https. */
  url: string | undefined;
  tls: UpstreamTlsConfig;
  /** For a client whose URL does not say whether it uses TLS (the PostgreSQL store: store.postgres.tls.enabled). */
  enabled?: boolean;
}

/** Whether the client connects with its TLS block: `enabled` when it has one, else an https URL. */
export const usesTls = (c: OutboundTls): boolean => c.enabled ?? isHttpsUrl(c.url);

/**
 * The approval webhook, http audit sinks, JWKS issuers, the span exporter, the alert webhook and the PostgreSQL state
 * store, each when configured to connect.
 */
export function outboundClientTls(cfg: GatehouseConfig): OutboundTls[] {
  const out: OutboundTls[] = [];
  const webhook = cfg.approval.webhook;
  if (webhook.url !== undefined) out.push({ path: 'approval.webhook.tls', client: 'approval webhook', url: webhook.url, tls: webhook.tls });
  cfg.audit.sinks.forEach((s, i) => {
    if (s.type === 'http') out.push({ path: `audit.sinks[${i}].tls`, client: `audit sink ${i}`, url: s.url, tls: s.tls });
  });
  cfg.auth.jwt.issuers.forEach((iss, i) => {
    if (iss.secret === undefined) out.push({ path: `auth.jwt.issuers[${i}].tls`, client: 'jwt jwks', url: iss.jwks_url ?? iss.issuer, tls: iss.tls });
  });
  if (cfg.tracing.enabled) out.push({ path: 'tracing.tls', client: 'otlp exporter', url: cfg.tracing.endpoint, tls: cfg.tracing.tls });
  const alerts = cfg.audit.alerts;
  if (alerts.enabled && alerts.webhook_url !== undefined) out.push({ path: 'audit.alerts.tls', client: 'alert webhook', url: alerts.webhook_url, tls: alerts.tls });
  const pg = cfg.store.kind === 'postgres' ? cfg.store.postgres : undefined;
  if (pg !== undefined) out.push({ path: 'store.postgres.tls', client: 'postgres store', url: pg.url, tls: pg.tls, enabled: pg.tls.enabled });
  return out;
}

/** URL schemes are case-insensitive (RFC 3986 §3.1). */
export { isHttpsUrl };

/** The certificate files the configuration names: server certificate (with chain), client CA, upstream client certificates and CAs. */
export function certificateFiles(cfg: GatehouseConfig): NamedFile[] {
  const out: NamedFile[] = [];
  const tls = cfg.server.tls;
  if (tls.enabled && tls.cert_file) out.push({ path: 'server.tls.cert_file', file: tls.cert_file });
  if (tls.enabled && tls.client_auth !== 'none' && tls.ca_file) out.push({ path: 'server.tls.ca_file', file: tls.ca_file });
  const mtls = cfg.metrics.tls;
  if (cfg.metrics.enabled && mtls.enabled && mtls.cert_file) out.push({ path: 'metrics.tls.cert_file', file: mtls.cert_file });
  if (cfg.metrics.enabled && mtls.enabled && mtls.client_auth !== 'none' && mtls.ca_file) out.push({ path: 'metrics.tls.ca_file', file: mtls.ca_file });
  cfg.routes.forEach((r, i) => {
    if (r.tls.cert_file) out.push({ path: `routes[${i}].tls.cert_file`, file: r.tls.cert_file });
    if (r.tls.ca_file) out.push({ path: `routes[${i}].tls.ca_file`, file: r.tls.ca_file });
  });
  for (const c of outboundClientTls(cfg)) {
    if (!usesTls(c)) continue;
    if (c.tls.cert_file) out.push({ path: `${c.path}.cert_file`, file: c.tls.cert_file });
    if (c.tls.ca_file) out.push({ path: `${c.path}.ca_file`, file: c.tls.ca_file });
  }
  return out;
}

/** Certificate and key pairs: the server's and each route's client certificate. */
export function keyPairs(cfg: GatehouseConfig): { base: string; cert: string; key: string }[] {
  const out: { base: string; cert: string; key: string }[] = [];
  const tls = cfg.server.tls;
  if (tls.enabled && tls.cert_file && tls.key_file) out.push({ base: 'server.tls', cert: tls.cert_file, key: tls.key_file });
  const mtls = cfg.metrics.tls;
  if (cfg.metrics.enabled && mtls.enabled && mtls.cert_file && mtls.key_file) out.push({ base: 'metrics.tls', cert: mtls.cert_file, key: mtls.key_file });
  cfg.routes.forEach((r, i) => {
    if (r.tls.cert_file && r.tls.key_file) out.push({ base: `routes[${i}].tls`, cert: r.tls.cert_file, key: r.tls.key_file });
  });
  for (const c of outboundClientTls(cfg)) {
    if (usesTls(c) && c.tls.cert_file && c.tls.key_file) out.push({ base: c.path, cert: c.tls.cert_file, key: c.tls.key_file });
  }
  return out;
}

/** Private keys and secret files: files whose content is a credential (read into the config or used as keys). */
export function secretFiles(cfg: GatehouseConfig): NamedFile[] {
  const out: NamedFile[] = [];
  const add = (path: string, file: string | undefined, strict = false): void => {
    if (file) out.push({ path, file, ...(strict ? { strict } : {}) });
  };
  const { audit, encryption } = cfg;
  add('auth.token.secret_file', cfg.auth.token.secret_file);
  cfg.auth.jwt.issuers.forEach((iss, i) => add(`auth.jwt.issuers[${i}].secret_file`, iss.secret_file));
  cfg.auth.static.tokens.forEach((t, i) => add(`auth.static.tokens[${i}].token_file`, t.token_file));
  add('auth.basic.users_file', cfg.auth.basic.users_file);
  add('approval.webhook.secret_file', cfg.approval.webhook.secret_file);
  add('approval.hmac_key_file', cfg.approval.hmac_key_file, true);
  add('audit.checkpoint.private_key_file', audit.checkpoint.private_key_file, true);
  add('audit.hmac_key_file', audit.hmac_key_file);
  add('encryption.key_file', encryption.key_file, true);
  add('encryption.kms.key_file', encryption.kms.key_file, true);
  for (const [name, ring] of Object.entries(encryption.keyrings)) add(`encryption.keyrings.${name}.key_file`, ring.key_file, true);
  add('secrets.master_key_file', cfg.secrets.master_key_file, true);
  add('authz.mcp.sessions.key_file', cfg.authz.mcp.sessions.key_file, true);
  if (cfg.store.kind === 'postgres') add('store.postgres.password_file', cfg.store.postgres?.password_file);
  if (cfg.metrics.enabled) add('metrics.token_file', cfg.metrics.token_file);
  const client = cfg.client.security;
  const auth = client.auth;
  if (auth.type === 'basic') add('client.security.auth.password_file', auth.password_file);
  else if (auth.type === 'token') add('client.security.auth.token_file', auth.token_file);
  else if (auth.type === 'oauth2') add('client.security.auth.client_secret_file', auth.client_secret_file);
  add('client.security.encryption.key_file', client.encryption.key_file);
  return out;
}

/**
 * Judges a private file's mode (seed 004 "Restrict file permissions (600 or 400)"): writable by group or others lets
 * them swap it, readable by others gives it away — both fail; readable by a group (ssl-cert style) is a warning.
 * Undefined when the mode is fine, or on Windows where modes say nothing.
 */
export function judgeMode(path: string, st: Stats, strict = false): Finding | undefined {
  if (process.platform === 'win32') return undefined;
  const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
  if (strict && (st.mode & 0o077) !== 0) return fail(`${path} is accessible by group or others (mode ${mode}): the gateway refuses the key`);
  if ((st.mode & 0o022) !== 0) return fail(`${path} is writable by group or others (mode ${mode})`);
  if ((st.mode & 0o004) !== 0) return fail(`${path} is readable by others (mode ${mode})`);
  if ((st.mode & 0o040) !== 0) return warn(`${path} is readable by its group (mode ${mode})`);
  return undefined;
}

/** The finding for one private file: unreadable metadata fails, a loose mode is judged. */
export function privateFileFinding(named: NamedFile): Finding | undefined {
  let st: Stats;
  try {
    st = statSync(named.file);
  } catch (e) {
    return fail(`${named.path} ${unreadableReason(e)}`);
  }
  return judgeMode(named.path, st, named.strict);
}

/** A directory holding files the gateway trusts, labelled as the gateway's refusal names it. */
export interface TrustedDir {
  label: string;
  dir: string;
}

/**
 * The directories holding trusted files, state_dir first, then those that may lie outside it: the one holding
 * store.path (SQLite), audit.dir and each HTTP sink's spool_dir (configured or default). Absolute, without duplicates.
 */
export function trustedDirsOf(cfg: GatehouseConfig): TrustedDir[] {
  const out: TrustedDir[] = [{ label: 'state_dir', dir: resolve(cfg.state_dir) }];
  if (cfg.store.kind === 'sqlite' && cfg.store.path) out.push({ label: 'the directory of store.path', dir: dirname(resolve(cfg.store.path)) });
  if (cfg.audit.enabled) {
    const audit = auditDir(cfg.audit, cfg.state_dir);
    out.push({ label: 'audit.dir', dir: audit });
    cfg.audit.sinks.forEach((s, i) => {
      if (s.type === 'http') out.push({ label: `audit.sinks[${i}].spool_dir`, dir: resolve(s.spool_dir ?? join(audit, 'spool', String(i))) });
    });
  }
  const seen = new Set<string>();
  return out.filter((d) => !seen.has(d.dir) && seen.add(d.dir));
}
