/** Builds the configured sinks and the alert engine (docs/audit.md § Sinks, § Alerts). */
import { join } from 'node:path';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/types.js';
import type { AuditConfig } from '../../config/schema/audit.js';
import { AlertEngine } from '../alerts.js';
import { HttpSink } from './http.js';
import { createStdoutSink } from './stdout.js';
import { createSyslogSink } from './syslog.js';
import type { AuditSink } from './types.js';

export { HttpSink, batchId } from './http.js';
export { createStdoutSink } from './stdout.js';
export { createSyslogSink, syslogMessage, octetFrame } from './syslog.js';
export type { AuditSink } from './types.js';

export function createSinks(cfg: AuditConfig, opts: { dir: string; logger: Logger; clock: Clock; env?: NodeJS.ProcessEnv }): AuditSink[] {
  const sinks: AuditSink[] = cfg.sinks.map((s, i): AuditSink => {
    switch (s.type) {
      case 'stdout':
        return createStdoutSink({ batchMax: s.batch_max, intervalMs: s.batch_interval, maxQueue: s.max_queue, logger: opts.logger });
      case 'syslog':
        return createSyslogSink({
          transport: s.transport, host: s.host, port: s.port, facility: s.facility, appName: s.app_name, caFile: s.ca_file,
          serverName: s.server_name, batchMax: s.batch_max, intervalMs: s.batch_interval, maxQueue: s.max_queue, logger: opts.logger,
        });
      case 'http':
        return new HttpSink({
          url: s.url, headers: s.headers, batchMax: s.batch_max, intervalMs: s.batch_interval, timeoutMs: s.timeout,
          spoolDir: s.spool_dir ?? join(opts.dir, 'spool', String(i)), spoolMaxBytes: s.spool_max_bytes,
          retryMinMs: s.retry_min, retryMaxMs: s.retry_max, logger: opts.logger,
        });
    }
  });
  if (cfg.alerts.enabled) sinks.push(new AlertEngine(cfg.alerts, { clock: opts.clock, logger: opts.logger, ...(opts.env ? { env: opts.env } : {}) }));
  return sinks;
}
