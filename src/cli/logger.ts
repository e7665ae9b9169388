import type { Logger } from '../core/types.js';
import type { CliContext } from './types.js';

/** A small logger for CLI commands: warnings and errors to stderr as one JSON line, nothing else. */
export function createCliLogger(ctx: Pick<CliContext, 'stderr'>): Logger {
  const write = (level: string) => (obj: object, msg?: string) => {
    ctx.stderr.write(JSON.stringify({ level, ...obj, ...(msg ? { msg } : {}) }) + '\n');
  };
  const noop = () => {};
  const logger: Logger = { trace: noop, debug: noop, info: noop, warn: write('warn'), error: write('error'), child: () => logger };
  return logger;
}
