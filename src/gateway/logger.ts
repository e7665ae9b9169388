import { createLogger, createRedactor, type Redactor } from '../redact/index.js';
import type { GatehouseConfig } from '../config/index.js';
import type { Logger } from '../core/types.js';

/**
 * The gateway's structured JSON logger (pino), one line per event, request id on every request line. Every line
 * passes through the redactor (seed 004): configured rules, built-in patterns and the secrets this process holds.
 * A worker process (server.workers) adds its index, `worker`, to every line.
 */
export function createGatewayLogger(cfg: GatehouseConfig, redactor: Redactor = createRedactor(cfg.redact), worker?: number): Logger {
  const base = worker === undefined ? { svc: 'gatehouse' } : { svc: 'gatehouse', worker };
  return createLogger({ level: cfg.log.level, ...(cfg.log.file ? { file: cfg.log.file } : {}), redactor, base }) as unknown as Logger;
}
