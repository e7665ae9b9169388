/**
 * The effective config for `gatehouse config check`, with every secret shown as [REDACTED].
 * Decided by key name (secret, password, token, key material …) and by values read from *_file secrets;
 * the redact capability's value detection runs on top of this in the CLI.
 */
import { ENV_NAME_RE } from '../core/ids.js';

const SECRET_KEY = /(^|_)(secret|secrets|password|passwd|pwd|token|tokens|api_key|apikey|private_key|client_secret|value|hash|password_hash|key)$/i;
const NOT_SECRET = new Set(['key_id', 'key_file', 'token_file', 'secret_file', 'password_file', 'private_key_file', 'hmac_keys', 'max_ttl']);
/**
 * Maps whose values are credentials under names the operator chose (auth.header.headers is seed 000's shared-secret
 * headers; sink and alert headers carry authorization values), so no key-name rule can recognise them.
 */
const SECRET_MAPS = new Set(['headers']);
// scheme://userinfo@ — the userinfo runs to the authority's last "@" (a raw "@" in a password is common).
const URL_USERINFO = /^([A-Za-z][A-Za-z0-9+.-]{0,31}:\/\/)([^/?#\s]*)@/;

/** In a PostgreSQL URL a bare userinfo is the role name (store.postgres.url refuses passwords), not a token. */
const POSTGRES_SCHEME = /^postgres(?:ql)?:\/\/$/i;

/** `https://user:pass@host` → `https://user:[REDACTED]@host`; a bare `https://token@host` loses the whole userinfo. */
function redactUserinfo(value: string): string {
  const m = URL_USERINFO.exec(value);
  if (!m) return value;
  const info = m[2] as string;
  const colon = info.indexOf(':');
  if (colon < 0 && POSTGRES_SCHEME.test(m[1] as string)) return value;
  return `${m[1] as string}${colon >= 0 ? info.slice(0, colon + 1) : ''}[REDACTED]@${value.slice(m[0].length)}`;
}

/**
 * URLs whose path or query may be the credential itself (capability URLs: Slack /services/T…/B…/SECRET, Discord
 * /api/webhooks/ID/TOKEN, IFTTT /trigger/EVENT/with/key/KEY, Teams, Zapier, an OTLP path key, signed ?sig= links)
 * can sit in any URL field: an upstream, a sink, a webhook, a tracing endpoint. Every URL value is therefore shown as
 * scheme://host[:port] followed by /[REDACTED]. The exceptions keep their path (not their query): fields whose path
 * is public or a name. Paths as `config check` shows them, array indexes written [].
 */
const PATH_SHOWN = new Set([
  // An issuer is printed in every token it signs; its key set is public by design.
  'auth.jwt.issuers[].issuer', 'auth.jwt.issuers[].jwks_url', 'authz.cross_tenant_grants[].issuer',
  // The database name (the schema refuses a password and query parameters in this URL).
  'store.postgres.url',
]);
// scheme://authority, then the rest (path, query, fragment).
const URL_REST = /^([A-Za-z][A-Za-z0-9+.-]{0,31}:\/\/[^/?#\s]*)(.*)$/s;

/** `https://discord.com/api/webhooks/1/abc?x=y` → `https://discord.com/[REDACTED]`; a bare origin stays as it is. */
function redactUrlPath(value: string): string {
  const m = URL_REST.exec(value);
  if (!m) return value;
  const rest = m[2] as string;
  return rest === '' || rest === '/' ? value : `${m[1] as string}/[REDACTED]`;
}

/** `https://idp.example/realms/x?k=v#f` → `https://idp.example/realms/x?[REDACTED]`: the path kept, query and fragment not. */
function redactUrlQuery(value: string): string {
  const at = value.search(/[?#]/);
  return at < 0 ? value : `${value.slice(0, at)}?[REDACTED]`;
}

/**
 * `*_env` fields name an environment variable; one that holds no such name holds something else, most often the
 * value itself written as `${VAR}`: not shown.
 */

export function redactConfigForDisplay(value: unknown, key = '', seen = new WeakSet<object>()): unknown {
  return redactAt(value, key, key, seen);
}

const isSecretKey = (key: string): boolean => key !== '' && !NOT_SECRET.has(key) && !key.endsWith('_file') && SECRET_KEY.test(key);

function redactAt(value: unknown, key: string, path: string, seen: WeakSet<object>): unknown {
  if (value === null || value === undefined) return value;
  if (typeof value === 'object') {
    if (seen.has(value)) return '[Circular]';
    seen.add(value);
    if (Array.isArray(value)) return value.map((v) => redactAt(v, key, `${path}[]`, seen));
    const out: Record<string, unknown> = {};
    const allSecret = SECRET_MAPS.has(key);
    for (const [k, v] of Object.entries(value)) out[k] = allSecret && typeof v === 'string' ? '[REDACTED]' : redactAt(v, k, path ? `${path}.${k}` : k, seen);
    return out;
  }
  if (typeof value !== 'string') return value;
  if (isSecretKey(key)) return '[REDACTED]';
  if (key.endsWith('_env') && !ENV_NAME_RE.test(value)) return '[REDACTED]';
  if (!URL_REST.test(value)) return value;
  return redactUserinfo(PATH_SHOWN.has(path) ? redactUrlQuery(value) : redactUrlPath(value));
}

/**
 * The credentials a loaded configuration holds, as text: every value `config check` hides by its key name or its map
 * (tokens, secrets, passwords, header values), a URL's userinfo, and, given `env`, the values of the variables that
 * `*_env` fields name. For refusing such a value where an identifier is expected (`token revoke`). Short values
 * (under 8 characters) are left out: they are no identifiers' lookalikes worth refusing.
 */
export function configSecretValues(cfg: unknown, env?: NodeJS.ProcessEnv): string[] {
  const out = new Set<string>();
  const add = (v: string | undefined): void => {
    if (v !== undefined && v.length >= 8) out.add(v);
  };
  const seen = new WeakSet<object>();
  const walk = (value: unknown, key: string, inSecretMap: boolean): void => {
    if (value === null || value === undefined) return;
    if (typeof value === 'object') {
      if (seen.has(value)) return;
      seen.add(value);
      if (Array.isArray(value)) for (const v of value) walk(v, key, inSecretMap);
      else for (const [k, v] of Object.entries(value)) walk(v, k, SECRET_MAPS.has(key));
      return;
    }
    if (typeof value !== 'string') return;
    if (inSecretMap || isSecretKey(key)) add(value);
    else if (key.endsWith('_env')) add(ENV_NAME_RE.test(value) ? env?.[value] : value);
    const m = URL_USERINFO.exec(value);
    if (m) add((m[2] as string).slice((m[2] as string).indexOf(':') + 1));
  };
  walk(cfg, '', false);
  return [...out];
}
