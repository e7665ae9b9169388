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
 * header maps, URL userinfo), found by comparing the config with its display form.
 */
export function secretValues(cfg: GatehouseConfig): string[] {
  const found = new Set<string>();
  const walk = (original: unknown, shown: unknown): void => {
    if (typeof original === 'string') {
      if (original !== shown) {
        found.add(original);
        for (const part of userinfo(original)) found.add(part);
      }
      return;
    }
    if (original === null || typeof original !== 'object' || shown === null || typeof shown !== 'object') return;
    for (const [k, v] of Object.entries(original)) walk(v, (shown as Record<string, unknown>)[k]);
  };
  walk(cfg, redactConfigForDisplay(cfg));
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
