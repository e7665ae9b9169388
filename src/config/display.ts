/**
 * The effective config for `gatehouse config check`, with every secret shown as [REDACTED].
 * Decided by key name (secret, password, token, key material …) and by values read from *_file secrets;
 * the redact capability's value detection runs on top of this in the CLI.
 */
const SECRET_KEY = /(^|_)(secret|secrets|password|passwd|pwd|token|tokens|api_key|apikey|private_key|client_secret|value|hash|password_hash|key)$/i;
const NOT_SECRET = new Set(['key_id', 'key_file', 'token_file', 'secret_file', 'password_file', 'private_key_file', 'hmac_keys', 'max_ttl']);

export function redactConfigForDisplay(value: unknown, key = '', seen = new WeakSet<object>()): unknown {
  if (value === null || value === undefined) return value;
  if (typeof value === 'object') {
    if (seen.has(value)) return '[Circular]';
    seen.add(value);
    if (Array.isArray(value)) return value.map((v) => redactConfigForDisplay(v, key, seen));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactConfigForDisplay(v, k, seen);
    return out;
  }
  if (key && !NOT_SECRET.has(key) && !key.endsWith('_file') && SECRET_KEY.test(key) && typeof value === 'string') return '[REDACTED]';
  return value;
}
