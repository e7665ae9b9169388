/**
 * The settings a control may show as evidence, each read from a field that holds no secret: booleans, enums,
 * durations, counts, names of variables and files, route names. No extractor here returns a secret, a header value
 * or an upstream URL (it may carry userinfo); a route is named by its name, else its prefix.
 */
import type { GatehouseConfig, RouteConfig } from '../config/index.js';
import { formatDuration } from '../core/durations.js';
import type { ConfigEvidence } from './types.js';

type Value = ConfigEvidence['value'];

const dur = (ms: number | undefined): string | null => (ms === undefined ? null : formatDuration(ms));
const label = (r: RouteConfig, i: number): string => r.name ?? `routes[${i}] ${r.prefix}`;
const scheme = (upstream: string): string => {
  const m = /^([A-Za-z][A-Za-z0-9+.-]{0,15}):/.exec(upstream);
  return m ? (m[1] as string).toLowerCase() : 'unknown';
};
const perRoute = (cfg: GatehouseConfig, value: (r: RouteConfig) => string | boolean): string[] => cfg.routes.map((r, i) => `${label(r, i)}: ${String(value(r))}`);

export const FACTS = {
  'auth.methods': (c) => c.auth.methods,
  'auth.header.headers': (c) => `${Object.keys(c.auth.header.headers).length} header(s), values not shown`,
  'auth.header.principal': (c) => c.auth.header.principal,
  'auth.header.trusted_identity.authenticate': (c) => c.auth.header.trusted_identity.authenticate,
  'auth.static.tokens': (c) => c.auth.static.tokens.map((t) => `principal ${t.principal}`),
  'auth.basic.users': (c) => c.auth.basic.users.length,
  'auth.jwt.issuers': (c) => c.auth.jwt.issuers.length,
  'auth.token.default_ttl': (c) => dur(c.auth.token.default_ttl),
  'auth.token.max_ttl.default': (c) => dur(c.auth.token.max_ttl.default),
  'auth.token.max_ttl.admin': (c) => dur(c.auth.token.max_ttl.admin),
  'auth.token.max_ttl.break_glass': (c) => dur(c.auth.token.max_ttl.break_glass),
  'auth.token.rotation.every': (c) => dur(c.auth.token.rotation.every),
  'auth.token.secret': (c) => (c.auth.token.secret === undefined ? 'unset (keys generated in the state directory)' : 'set in configuration, value not shown'),
  'server.listen': (c) => c.server.listen,
  'server.limits.idle_timeout': (c) => dur(c.server.limits.idle_timeout),
  'server.tls.enabled': (c) => c.server.tls.enabled,
  'server.tls.min_version': (c) => c.server.tls.min_version,
  'server.tls.cert_file': (c) => c.server.tls.cert_file ?? null,
  'server.tls.client_auth': (c) => c.server.tls.client_auth,
  'routes[].auth_required': (c) => perRoute(c, (r) => r.auth_required),
  'routes[].upstream (scheme)': (c) => perRoute(c, (r) => scheme(r.upstream)),
  'routes[].tls.insecure_skip_verify': (c) => perRoute(c, (r) => r.tls.insecure_skip_verify),
  'routes[].end_to_end': (c) => perRoute(c, (r) => r.end_to_end),
  'routes[].encryption.required': (c) => perRoute(c, (r) => r.encryption?.required ?? false),
  'authz.http_default': (c) => c.authz.http_default,
  'authz.routes': (c) => c.authz.routes.length,
  'authz.acl_files': (c) => c.authz.acl_files.length,
  'authz.default_tools': (c) => c.authz.default_tools,
  'authz.tools': (c) => Object.keys(c.authz.tools).length,
  'authz (unknown tools)': () => 'denied (built in: GH_TOOL_UNKNOWN)',
  'encryption.enabled': (c) => c.encryption.enabled,
  'encryption.transit.enabled': (c) => c.encryption.transit.enabled,
  'encryption.request_bodies.enabled': (c) => c.encryption.request_bodies.enabled,
  'encryption.kms.key_file': (c) => c.encryption.kms.key_file ?? null,
  'encryption.kms.key_env': (c) => c.encryption.kms.key_env ?? null,
  'secrets.master_key_file': (c) => c.secrets.master_key_file ?? null,
  'secrets.master_key_env': (c) => c.secrets.master_key_env,
  'store.kind': (c) => c.store.kind,
  'audit.enabled': (c) => c.audit.enabled,
  'audit.on_failure': (c) => c.audit.on_failure,
  'audit.sinks': (c) => c.audit.sinks.map((s) => s.type),
  'audit.alerts.enabled': (c) => c.audit.alerts.enabled,
  'audit.alerts.on_critical': (c) => c.audit.alerts.on_critical,
  'audit.alerts.auth_failures': (c) => `${c.audit.alerts.auth_failures.threshold} within ${formatDuration(c.audit.alerts.auth_failures.window)}`,
  'audit.checkpoint.every_records': (c) => c.audit.checkpoint.every_records,
  'audit.checkpoint.private_key_file': (c) => c.audit.checkpoint.private_key_file ?? null,
  'audit.checkpoint.private_key_env': (c) => c.audit.checkpoint.private_key_env ?? null,
  'audit.checkpoint.public_key_file': (c) => c.audit.checkpoint.public_key_file ?? null,
  'audit.retention.max_age': (c) => dur(c.audit.retention.max_age),
  'audit.retention.max_files': (c) => c.audit.retention.max_files ?? null,
  'audit.rotation.max_age': (c) => dur(c.audit.rotation.max_age),
  'audit.compress': (c) => c.audit.compress,
  'audit.hmac_keys': (c) => c.audit.hmac_keys,
  'limits.enabled': (c) => c.limits.enabled,
  'limits.lockout.enabled': (c) => c.limits.lockout.enabled,
  'limits.lockout.max_failures': (c) => c.limits.lockout.max_failures,
  'limits.lockout.window': (c) => dur(c.limits.lockout.window),
  'limits.lockout.duration': (c) => dur(c.limits.lockout.duration),
  'limits.lockout.per': (c) => c.limits.lockout.per,
  'limits.lockout.exempt': (c) => c.limits.lockout.exempt.length,
} as const satisfies Record<string, (cfg: GatehouseConfig) => Value>;

export type FactKey = keyof typeof FACTS;

export function factsOf(cfg: GatehouseConfig, keys: readonly FactKey[]): ConfigEvidence[] {
  return keys.map((key) => ({ key, value: FACTS[key](cfg) }));
}

/** A route as messages name it: its name, else its index and prefix (never the upstream URL). */
export const routeName = label;
