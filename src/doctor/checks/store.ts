/** The PostgreSQL state store (docs/store.md § PostgreSQL): where it is, over what, with which credentials, how many connections. */
import { availableParallelism } from 'node:os';
import { parsePostgresUrl } from '../../config/index.js';
import type { CheckDefinition, DoctorContext, Outcome } from '../types.js';
import { isLoopbackHost, judged, skipped, warn } from '../outcome.js';

/** PostgreSQL's default max_connections: pools past it are refused connections when every process fills its pool. */
const DEFAULT_MAX_CONNECTIONS = 100;

function postgresStore({ cfg }: DoctorContext): Outcome {
  const pg = cfg.store.kind === 'postgres' ? cfg.store.postgres : undefined;
  if (pg === undefined) return skipped(`store.kind is ${cfg.store.kind}: no PostgreSQL store`);
  const target = parsePostgresUrl(pg.url);
  // Refused at load: a config that reaches the doctor has a URL that parses.
  if (typeof target === 'string') return judged([warn(`store.postgres.url: ${target}`)], '');
  const where = target.socket ? 'a Unix socket' : isLoopbackHost(target.host) ? 'loopback' : `${target.host} (another host)`;
  const t = pg.tls;
  const tls = !t.enabled ? 'without TLS' : t.insecure_skip_verify ? 'over TLS, certificate not verified' : `over TLS verified against ${t.ca_file ? 'ca_file' : 'the system roots'}${t.pin_sha256 ? ' and pins' : ''}`;
  const password = pg.password_file !== undefined ? 'password_file' : pg.password_env !== undefined ? `$${pg.password_env}` : undefined;
  const credentials = [password !== undefined ? `password from ${password}` : '', t.enabled && t.cert_file ? 'client certificate' : ''].filter(Boolean);
  const workers = cfg.server.workers === 'auto' ? availableParallelism() : cfg.server.workers;
  const connections = pg.pool_size * workers;
  return judged(
    [
      // Trust (or peer) authentication over TCP: whoever reaches the port from this host's address is the role.
      !target.socket && credentials.length === 0 && warn('store.postgres has no password_file, password_env or tls.cert_file: the server must let this role in over TCP without credentials (trust); use scram-sha-256 or client certificates'),
      connections > DEFAULT_MAX_CONNECTIONS && warn(`store.postgres.pool_size ${pg.pool_size} × ${workers} workers = ${connections} connections from this gateway alone, past PostgreSQL's default max_connections (${DEFAULT_MAX_CONNECTIONS})`),
    ],
    `schema ${pg.schema} in database ${target.database} on ${where}, ${tls}, ${credentials.length > 0 ? credentials.join(' and ') : 'no credentials (trust or peer authentication)'}, ${pg.pool_size} connections per process; gatehouse backup does not include it (pg_dump does)`,
  );
}

export const storeChecks: CheckDefinition[] = [
  {
    id: 'store.postgres',
    title: 'PostgreSQL state store reached over TLS with credentials kept out of the URL',
    source: 'seed 000 TLS best practices ("TLS everywhere"); seed 004 ("Use environment variables for all sensitive configuration")',
    fix: 'Keep the database on loopback or a Unix socket, or set store.postgres.tls.enabled with a ca_file; give the role\'s password through password_file (mode 0600) or password_env; keep pool_size × workers × gateways under max_connections.',
    refusals: /^store\.postgres\.url$/,
    inspect: postgresStore,
  },
];
