/**
 * Making any thrown value safe to log or to put in a response: the code and name stay, every string is
 * redacted, nothing else of the object is copied (a foreign error may carry request bodies, headers,
 * connection strings).
 */
import { GatehouseError } from '../core/errors.js';

export interface SafeError {
  name: string;
  code?: string;
  message: string;
  detail?: string;
  stack?: string;
  cause?: SafeError;
}

const MAX_MESSAGE = 2000;
const MAX_STACK = 8000;

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}… [${s.length - max} more characters]` : s;
}

/** A property of a foreign error; a getter that throws gives "[Unreadable]" (an error path must not throw again). */
function read(get: () => unknown): unknown {
  try {
    return get();
  } catch {
    return '[Unreadable]';
  }
}

export function safeError(err: unknown, text: (s: string) => string, opts: { stack?: boolean } = {}, depth = 0): SafeError {
  if (err instanceof Error) {
    const out: SafeError = { name: clip(read(() => String(err.name)) as string, 100), message: clip(text(read(() => String(err.message)) as string), MAX_MESSAGE) };
    const code = read(() => (err as { code?: unknown }).code);
    if (typeof code === 'string' || typeof code === 'number') out.code = clip(text(String(code)), 100);
    if (err instanceof GatehouseError && err.detail) out.detail = clip(text(err.detail), MAX_MESSAGE);
    const stack = opts.stack ? read(() => err.stack) : undefined;
    if (typeof stack === 'string') out.stack = clip(text(stack), MAX_STACK);
    const cause = read(() => err.cause);
    if (cause !== undefined && depth < 3) out.cause = safeError(cause, text, opts, depth + 1);
    return out;
  }
  if (typeof err === 'string') return { name: 'Error', message: clip(text(err), MAX_MESSAGE) };
  return { name: 'Error', message: `non-error thrown (${err === null ? 'null' : typeof err})` };
}
