/** Durations as operators write them (seed 001: `--ttl 30d`): 500ms, 90s, 10m, 1h, 7d, 2w, or a plain number of ms. */
const UNIT_MS: Readonly<Record<string, number>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, number>, {
    ms: 1,
    s: 1_000,
    m: 60_000,
    h: 3_600_000,
    d: 86_400_000,
    w: 604_800_000,
  }),
);

// Anchored, no nested quantifiers: linear time. 12 digits bound the input; the product is checked below (12 digits
// of weeks is 6e20 ms, past Number.MAX_SAFE_INTEGER and past any Date).
const DURATION_RE = /^(\d{1,12})(ms|s|m|h|d|w)$/;

/** Parses a duration into milliseconds. Throws TypeError on anything else (caller misuse). */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input) || input < 0) throw new TypeError('duration must be a non-negative integer of milliseconds');
    return input;
  }
  if (typeof input !== 'string' || input.length > 16) throw new TypeError('duration must look like 30d, 1h, 90s or 500ms');
  const m = DURATION_RE.exec(input.trim());
  if (!m) throw new TypeError(`invalid duration "${input}": use a number and one of ms, s, m, h, d, w (e.g. 30d)`);
  const ms = Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  if (!Number.isSafeInteger(ms)) throw new TypeError(`duration "${input}" is too long`);
  return ms;
}

export function isDuration(input: unknown): boolean {
  try {
    parseDuration(input as string);
    return true;
  } catch {
    return false;
  }
}

/** Formats milliseconds with the largest unit that divides it exactly (86400000 → "1d"). */
export function formatDuration(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit] as number;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
