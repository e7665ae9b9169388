import type { Logger } from '../core/types.js';
import { redactText } from '../redact/index.js';
import type { CliContext } from './types.js';

/** A small logger for CLI commands: warnings and errors to stderr as one JSON line, nothing else. */
export function createCliLogger(ctx: Pick<CliContext, 'stderr'>): Logger {
  const write = (level: string) => (obj: object, msg?: string) => {
    // Through the redactor like every other line Gatehouse writes (seed 004).
    ctx.stderr.write(redactText(JSON.stringify({ level, ...obj, ...(msg ? { msg } : {}) })) + '\n');
  };
  const noop = () => {};
  const logger: Logger = { trace: noop, debug: noop, info: noop, warn: write('warn'), error: write('error'), child: () => logger };
  return logger;
}
