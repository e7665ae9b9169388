/**
 * A second line of defence: evidence is built from fields that hold no secret (facts.ts) and doctor texts already
 * scrubbed, and still every string of the report is cleared of the configuration's secret values — what `config check`
 * shows as [REDACTED], and the values of the environment variables its `*_env` settings name — before anyone sees it.
 */
import { redactConfigForDisplay, type GatehouseConfig } from '../config/index.js';
import { REDACTED } from '../redact/index.js';

/** Shorter values are too likely to occur in ordinary words (as the doctor's scrub). */
const MIN_SECRET_LENGTH = 6;

export function secretValuesOf(cfg: GatehouseConfig, env: NodeJS.ProcessEnv): string[] {
  const found = new Set<string>();
  const walk = (original: unknown, shown: unknown, key: string): void => {
    if (typeof original === 'string') {
      if (original !== shown) found.add(original);
      // A *_env setting names a variable: its value is the secret (a webhook key, a PEM, a master key).
      if (key.endsWith('_env')) {
        const value = env[original];
        if (value) found.add(value);
      }
      return;
    }
    if (original === null || typeof original !== 'object') return;
    const display = shown !== null && typeof shown === 'object' ? (shown as Record<string, unknown>) : {};
    for (const [k, v] of Object.entries(original)) walk(v, display[k], Array.isArray(original) ? key : k);
  };
  walk(cfg, redactConfigForDisplay(cfg), '');
  return [...found].filter((s) => s.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
}

const scrubText = (text: string, secrets: readonly string[]): string => {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
};

/** `value` with every string in it scrubbed (plain data: objects, arrays, strings, numbers, booleans, null). */
export function scrubDeep<T>(value: T, secrets: readonly string[]): T {
  if (secrets.length === 0) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return scrubText(v, secrets);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}
