/**
 * The gateway's logger: pino 10, with every line redacted before it is written. Two passes, each cheap:
 * formatters.log redacts the logged object by key name and field path (a { password } or
 * { credentials: {…} } goes whole), and hooks.streamWrite runs the text rules and known secrets over the
 * final JSON line, so the message, bindings and serialized errors are covered too.
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import { createRedactor, type Redactor } from './redactor.js';

export interface LoggerOptions {
  /** trace | debug | info | warn | error | fatal | silent. Default info. */
  level?: string;
  /** Log file (created with its directory); stdout when absent. */
  file?: string;
  /** Default: a redactor with the built-in rules. Pass createRedactor(config.redact) for configured rules. */
  redactor?: Redactor;
  /** Where lines go instead of file/stdout (tests, pipelines). */
  destination?: NodeJS.WritableStream | DestinationStream;
  /** Bound on every line (pino "base"). Default: pid and hostname. */
  base?: Record<string, unknown> | null;
}

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

export function createLogger(opts: LoggerOptions = {}): PinoLogger {
  const level = opts.level ?? 'info';
  if (!LEVELS.has(level)) throw new TypeError(`unknown log level "${String(level).slice(0, 20)}"`);
  const redactor = opts.redactor ?? createRedactor();
  // Synchronous writes (pino's default): a line logged before a crash is not lost in a buffer.
  const destination = opts.destination ?? (opts.file ? pino.destination({ dest: opts.file, mkdir: true, sync: true }) : pino.destination({ dest: 1, sync: true }));
  return pino(
    {
      level,
      ...(opts.base !== undefined ? { base: opts.base } : {}),
      formatters: { log: (obj) => redactor.redactKeys(obj) },
      hooks: { streamWrite: (line) => redactor.redactText(line) },
    },
    destination as DestinationStream,
  );
}
