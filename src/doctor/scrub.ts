/**
 * A second line of defence: checks describe settings by config path and never quote a credential, and every text of
 * the report is still scrubbed of the configuration's secret values before anyone sees it.
 */
import { redactConfigForDisplay, type GatehouseConfig } from '../config/index.js';
import { REDACTED } from '../redact/index.js';

/** Shorter values are too likely to occur in ordinary words ("true", a port) and are not registered (redact/known.ts: 8). */
const MIN_SECRET_LENGTH = 6;

/**
 * The configuration's secret values: every string `config check` would show as [REDACTED] (secrets by key name,
 * header maps, URL userinfo), found by comparing the config with its display form; with `env`, also the values of the
 * variables its `*_env` settings name (a webhook key, a PEM, a master key).
 */
export function secretValues(cfg: GatehouseConfig, env?: NodeJS.ProcessEnv): string[] {
  const found = new Set<string>();
  const walk = (original: unknown, shown: unknown, key: string): void => {
    if (typeof original === 'string') {
      if (original !== shown) {
        found.add(original);
        for (const part of userinfo(original)) found.add(part);
      }
      const value = env !== undefined && key.endsWith('_env') ? env[original] : undefined;
      if (value) found.add(value);
      return;
    }
    if (original === null || typeof original !== 'object') return;
    const display = shown !== null && typeof shown === 'object' ? (shown as Record<string, unknown>) : {};
    for (const [k, v] of Object.entries(original)) walk(v, display[k], Array.isArray(original) ? key : k);
  };
  walk(cfg, redactConfigForDisplay(cfg), '');
  return [...found].filter((s) => s.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
}

/** The password of a URL's userinfo, or a bare `token@` user, as written and decoded. */
function userinfo(value: string): string[] {
  try {
    const u = new URL(value);
    const secret = u.password || u.username;
    return secret ? [secret, decodeURIComponent(secret)] : [];
  } catch {
    return [];
  }
}

/** `text` with every secret value replaced by [REDACTED]; longest first, so a secret containing another goes whole. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

/** `value` with every string in it scrubbed (plain data: objects, arrays, strings, numbers, booleans, null). */
export function scrubDeep<T>(value: T, secrets: readonly string[]): T {
  if (secrets.length === 0) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return scrub(v, secrets);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}
