/**
 * gatehouse/redact — log sanitization (issue 6, seed 004). No secret leaves in a log line, an error or an
 * audit record. See docs/redaction.md.
 */
export { createRedactor, defaultRedactor, type Redactor, type RedactorOptions } from './redactor.js';
export { registerSecret, forgetSecret, knownSecretCount, MIN_KNOWN_LENGTH, variants as secretForms } from './known.js';
export { scrubEchoes } from './echo.js';
export { createLogger, type LoggerOptions } from './logger.js';
export { createRedactStream, type RedactStreamOptions } from './stream.js';
export { checkPatternSafety, UnsafePatternError } from './safety.js';
export { classifyKeyName, type KeyClass } from './names.js';
export type { SafeError } from './errors.js';
export { REDACTED, CERT_REDACTED, PATH_REDACTED, type Category, type Span } from './types.js';
export type { RedactConfig } from '../config/schema/redact.js';

import { defaultRedactor } from './redactor.js';
import type { SafeError } from './errors.js';

/** Free text through the default redactor (built-in rules and the process-wide known secrets). */
export function redactText(s: string): string {
  return defaultRedactor().redactText(s);
}

/** A redacted copy of any value through the default redactor. */
export function redactValue<T>(v: T): T {
  return defaultRedactor().redactValue(v);
}

/** Any thrown value → { name, code?, message, detail?, stack? }, safe to log. */
export function redactError(err: unknown, opts?: { stack?: boolean }): SafeError {
  return defaultRedactor().redactError(err, opts);
}
