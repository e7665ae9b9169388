import pino from 'pino';
import type { Logger } from '../core/types.js';

/** The gateway's structured JSON logger (pino), one line per event, request id on every request line. */
export function createGatewayLogger(opts: { level: string; file?: string | undefined }): Logger & { flush?(): void } {
  const dest = opts.file ? pino.destination({ dest: opts.file, mkdir: true, sync: false }) : pino.destination({ dest: 1, sync: false });
  return pino({ level: opts.level, base: { svc: 'gatehouse' }, timestamp: pino.stdTimeFunctions.isoTime }, dest) as unknown as Logger & { flush?(): void };
}
