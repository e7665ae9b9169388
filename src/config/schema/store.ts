import { isIP } from 'node:net';
import { z } from 'zod';
import { envName, filePath, timerDuration } from './common.js';
import { upstreamTlsSection } from './server.js';

/**
 * The state store (docs/store.md): SQLite (the embedded default), memory, or PostgreSQL shared by several gateway
 * hosts. A PostgreSQL password never sits in the URL, which config check, doctor and logs show: it comes from
 * password_file (read again for every new connection, so a rotated file is picked up) or password_env.
 */

/**
 * A PostgreSQL schema name Gatehouse creates its tables in: lower-case letters, digits and _, at most 63 (NAMEDATALEN
 * − 1), so it never needs case folding and is still quoted as an identifier. Linear: one character class, anchored.
 */
export const POSTGRES_SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

/** Where a postgres:// URL points: a TCP host and port, or a Unix socket directory (host starts with /). */
export interface PostgresTarget {
  host: string;
  port: number;
  user: string;
  database: string;
  /** True when `host` is a Unix socket directory (postgres://user@%2Fvar%2Frun%2Fpostgresql/db). */
  socket: boolean;
}

const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;
const PORT = /^\d{1,5}$/;
const SCHEMES = ['postgres://', 'postgresql://'] as const;
const FORM = 'expected postgres://USER@HOST:PORT/DATABASE';

function decode(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}

/**
 * Parses store.postgres.url, or says what is wrong with it. Messages never repeat the URL: it might hold a password.
 * Query parameters are refused: node-postgres lets sslmode and the like in a connection string override the TLS
 * options Gatehouse builds, so every setting goes through the store.postgres fields instead.
 */
export function parsePostgresUrl(text: string): PostgresTarget | string {
  const scheme = SCHEMES.find((s) => text.slice(0, s.length).toLowerCase() === s);
  if (scheme === undefined) return FORM;
  const rest = text.slice(scheme.length);
  let end = rest.length;
  for (const c of ['/', '?', '#']) {
    const i = rest.indexOf(c);
    if (i >= 0 && i < end) end = i;
  }
  const authority = rest.slice(0, end);
  const tail = rest.slice(end);
  const at = authority.lastIndexOf('@');
  const userinfo = at >= 0 ? authority.slice(0, at) : '';
  // A raw / ? or # inside a password ends the authority early: the @ then appears after it.
  if (userinfo.includes(':') || tail.includes('@')) {
    return 'the URL holds a password (or an @ after the host): put the password in store.postgres.password_file or password_env, never in the URL, which config check and logs show';
  }
  const user = decode(userinfo);
  if (!user) return `${FORM}: the user is missing`;
  const hostPort = authority.slice(at + 1);
  let host: string;
  let port = '';
  const bracketed = hostPort.startsWith('[');
  if (bracketed) {
    const close = hostPort.indexOf(']');
    host = close > 0 ? hostPort.slice(1, close) : '';
    const after = close > 0 ? hostPort.slice(close + 1) : '';
    if (after !== '' && !after.startsWith(':')) return `${FORM}: malformed host`;
    port = after.slice(1);
    if (isIP(host) !== 6) return `${FORM}: malformed IPv6 address`;
  } else {
    const colon = hostPort.lastIndexOf(':');
    host = colon >= 0 ? hostPort.slice(0, colon) : hostPort;
    port = colon >= 0 ? hostPort.slice(colon + 1) : '';
  }
  const socket = host.slice(0, 3).toUpperCase() === '%2F';
  if (socket) {
    const dir = decode(host);
    if (dir === undefined || !dir.startsWith('/') || dir.includes('\0')) return `${FORM}: malformed socket directory`;
    host = dir;
  } else if (!bracketed && !HOST_NAME.test(host) && isIP(host) !== 4) return `${FORM}: the host is missing or malformed`;
  if (port !== '' && (!PORT.test(port) || Number(port) < 1 || Number(port) > 65_535)) return `${FORM}: the port must be 1 to 65535`;
  if (tail.includes('?') || tail.includes('#')) {
    return 'query parameters are not read (sslmode and the like would override store.postgres.tls): use the store.postgres fields';
  }
  const database = decode(tail.slice(1));
  if (!tail.startsWith('/') || !database || database.includes('/')) return `${FORM}: name the database`;
  return { host, port: port === '' ? 5432 : Number(port), user, database, socket };
}


/** routes[].tls's block plus `enabled` (off by default): nothing but `enabled: true` turns TLS on. */
const postgresTlsSection = upstreamTlsSection
  .unwrap()
  .safeExtend({ enabled: z.boolean().default(false) })
  .superRefine((t, ctx) => {
    if (t.enabled) return;
    // A CA or a pin on a connection that does not use TLS would look like protection and be none.
    for (const k of ['ca_file', 'cert_file', 'key_file', 'server_name', 'pin_sha256'] as const) {
      if (t[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'is set but store.postgres.tls.enabled is false: the connection would not use it (set enabled: true)' });
    }
    if (t.insecure_skip_verify) ctx.addIssue({ code: 'custom', path: ['insecure_skip_verify'], message: 'is set but store.postgres.tls.enabled is false' });
  })
  .prefault({});

export const postgresSection = z
  .strictObject({
    /** postgres://USER@HOST:PORT/DATABASE; no password, no query parameters. */
    url: z.string().min(1).max(2048).superRefine((v, ctx) => {
      const parsed = parsePostgresUrl(v);
      if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
    }),
    /** The role's password, read for every new connection (rotation without restart). Neither: trust or certificate auth. */
    password_file: filePath().optional(),
    password_env: envName.optional(),
    /** Connections per gateway process (each worker has its own pool). */
    pool_size: z.number().int().min(1).max(100).default(10),
    /** The schema holding the store's tables (created when missing, with the tables). */
    schema: z
      .string()
      .regex(POSTGRES_SCHEMA_RE, 'a schema name is 1 to 63 of a-z 0-9 _, not starting with a digit')
      .refine((s) => !s.startsWith('pg_'), 'names starting with pg_ are reserved by PostgreSQL')
      .default('gatehouse'),
    /** Time to open a connection (TCP, TLS, authentication) or wait for a free one in the pool. */
    connect_timeout: timerDuration('5s').refine((ms) => ms >= 100 && ms <= 120_000, 'from 100ms to 2m'),
    /** Server-side limit on one statement (lock waits included); the client gives up a second later. */
    statement_timeout: timerDuration('5s').refine((ms) => ms >= 100 && ms <= 600_000, 'from 100ms to 10m'),
    tls: postgresTlsSection,
  })
  .refine((p) => !(p.password_file !== undefined && p.password_env !== undefined), { path: ['password_env'], message: 'set password_file or password_env, not both' });

export type PostgresStoreConfig = z.infer<typeof postgresSection>;

export const storeSection = z
  .strictObject({
    kind: z.enum(['sqlite', 'memory', 'postgres']).default('sqlite'),
    /** The SQLite file. Default: <state_dir>/state.db */
    path: z.string().optional(),
    /** Read with kind: postgres only. */
    postgres: postgresSection.optional(),
  })
  .superRefine((s, ctx) => {
    if (s.kind === 'postgres' && s.postgres === undefined) {
      ctx.addIssue({ code: 'custom', path: ['postgres', 'url'], message: 'required with store.kind postgres (postgres://USER@HOST:PORT/DATABASE)' });
    }
    if (s.kind === 'postgres' && s.path !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['path'], message: 'names the SQLite file, which store.kind postgres does not use: remove it' });
    }
    if (s.kind !== 'postgres' && s.postgres !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['postgres'], message: `is read only with store.kind: postgres (store.kind is ${s.kind})` });
    }
  })
  .prefault({});

export type StoreSectionConfig = z.infer<typeof storeSection>;
