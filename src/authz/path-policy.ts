/**
 * Path arguments of file tools (seed 001's planned path-based file access control).
 * Checked at the string level: the file lives on the upstream host, so symlinks cannot be resolved here.
 * Anything a tool might interpret as leaving the prefix is refused rather than normalised away.
 */
import { posix } from 'node:path';

const MAX_PATH = 4096;
// Control characters (NUL truncation in C-based tools) and backslashes (Windows separators).
const FORBIDDEN_CHARS = /[\u0000-\u001f\u007f\\]/;
// Percent-encoded dot, slash, backslash or NUL: a tool that URL-decodes would see a traversal.
const ENCODED_SEPARATORS = /%(2e|2f|5c|00)/i;

/** Normalises a configured prefix: absolute, no trailing slash (except the root). */
export function normalizePrefix(prefix: string): string {
  const n = posix.normalize(prefix);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

function hasDotDot(p: string): boolean {
  return p.split('/').some((seg) => seg === '..');
}

function within(p: string, prefix: string): boolean {
  if (prefix === '/') return true;
  return p === prefix || p.startsWith(prefix + '/');
}

/** Returns undefined when `value` lies under one of `prefixes` (already normalised), else the reason. */
export function checkPath(value: string, prefixes: readonly string[]): string | undefined {
  if (value.length === 0 || value.length > MAX_PATH) return 'is empty or too long';
  if (FORBIDDEN_CHARS.test(value)) return 'contains a control character or a backslash';
  if (ENCODED_SEPARATORS.test(value)) return 'contains a percent-encoded dot, slash or NUL';
  if (!value.startsWith('/')) return 'is not an absolute path';
  // Fullwidth dots and slashes become ".." and "/" under NFKC, which some tools apply: check both forms.
  const folded = value.normalize('NFKC');
  if (hasDotDot(value) || hasDotDot(folded)) return 'contains a ".." segment';
  const norm = posix.normalize(value);
  const normFolded = posix.normalize(folded);
  if (!prefixes.some((p) => within(norm, p) && within(normFolded, p))) return 'is outside the allowed path prefixes';
  return undefined;
}
