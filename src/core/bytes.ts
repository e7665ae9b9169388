// Sizes as operators write them: 16kb, 1mb, 2gb, or a plain number of bytes (binary multiples).
const SIZE_RE = /^(\d{1,12})(b|kb|mb|gb)?$/i;
const MULT: Readonly<Record<string, number>> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

export function parseBytes(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input) || input < 0) throw new TypeError('size must be a non-negative integer of bytes');
    return input;
  }
  const m = typeof input === 'string' && input.length <= 16 ? SIZE_RE.exec(input.trim()) : null;
  if (!m) throw new TypeError(`invalid size "${String(input).slice(0, 20)}": use bytes or a number with kb, mb or gb (e.g. 1mb)`);
  // 12 digits of gb would be 1e21: past Number.MAX_SAFE_INTEGER, where byte counts stop comparing exactly.
  const bytes = Number(m[1]) * (MULT[(m[2] ?? 'b').toLowerCase()] as number);
  if (!Number.isSafeInteger(bytes)) throw new TypeError(`size "${input.trim()}" is too large`);
  return bytes;
}
