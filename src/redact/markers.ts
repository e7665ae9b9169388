/**
 * What a value under a secret name may be and still be left alone: nothing, a mask, or a marker the redactor
 * wrote on an earlier pass. Nothing else: a secret may well start with "[", "{", "<", "$" or "%" (`[Xk9#mP2$vL`,
 * `$ecretPassw0rd`), so placeholder shapes (`${VAR}`, `<your key>`) are redacted too — the shape cannot tell a
 * reference from a password.
 */
import { CERT_REDACTED, PATH_REDACTED, REDACTED } from './types.js';

/**
 * Every text the built-in rules put in place of a secret, and the fixed markers of the filters most often in
 * front of us (Rails and Phoenix `filter_parameters`: [FILTERED]; GitLab CI masked variables: [MASKED]).
 */
export const MARKERS: readonly string[] = [REDACTED, CERT_REDACTED, PATH_REDACTED, '[FILTERED]', '[MASKED]'];

/** True when `text` at `start` holds a whole marker and the value [start, end) holds nothing after it. */
export function markerAt(text: string, start: number, end: number): boolean {
  if (text.charCodeAt(start) !== 91 /* [ */) return false;
  for (const m of MARKERS) if (text.startsWith(m, start) && start + m.length >= end) return true;
  return false;
}

/** A mask such as "********" (bounded: a long run of asterisks is not a mask anyone typed). */
function isMask(v: string): boolean {
  if (v.length === 0 || v.length > 64) return false;
  for (let i = 0; i < v.length; i++) if (v.charCodeAt(i) !== 42) return false;
  return true;
}

/** A string under a secret name that holds no secret: empty, a mask, or exactly a redaction marker. */
export function holdsNoSecret(v: string): boolean {
  return v.length === 0 || isMask(v) || (v.length <= 22 && markerAt(v, 0, v.length));
}
