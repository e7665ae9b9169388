/**
 * The effective config for `gatehouse config check`, with every secret shown as [REDACTED].
 * Decided by key name (secret, password, token, key material …) and by values read from *_file secrets;
 * the redact capability's value detection runs on top of this in the CLI.
 */
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
 * /api/webhooks/ID/TOKEN, IFTTT /trigger/EVENT/with/key/KEY, Teams, signed ?sig= links): shown as scheme://host[:port]
 * followed by /[REDACTED]. Paths as `config check` shows them, array indexes written [].
 */
const CAPABILITY_URLS = new Set(['approval.webhook.url', 'audit.alerts.webhook_url', 'audit.sinks[].url']);
// scheme://authority, then the rest (path, query, fragment).
const URL_REST = /^([A-Za-z][A-Za-z0-9+.-]{0,31}:\/\/[^/?#\s]*)(.*)$/s;

/** `https://discord.com/api/webhooks/1/abc?x=y` → `https://discord.com/[REDACTED]`; a bare origin stays as it is. */
function redactUrlPath(value: string): string {
  const m = URL_REST.exec(value);
  if (!m) return '[REDACTED]';
  const rest = m[2] as string;
  return rest === '' || rest === '/' ? value : `${m[1] as string}/[REDACTED]`;
}

export function redactConfigForDisplay(value: unknown, key = '', seen = new WeakSet<object>()): unknown {
  return redactAt(value, key, key, seen);
}

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
  if (key && !NOT_SECRET.has(key) && !key.endsWith('_file') && SECRET_KEY.test(key)) return '[REDACTED]';
  return redactUserinfo(CAPABILITY_URLS.has(path) ? redactUrlPath(value) : value);
}
