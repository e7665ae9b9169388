/** The stdout sink: records as JSON Lines on a stream (process.stdout by default), for log shippers that read it. */
import type { Writable } from 'node:stream';
import type { Logger } from '../../core/types.js';
import { Batcher } from './batcher.js';
import type { AuditSink } from './types.js';

export interface StdoutSinkOptions {
  batchMax: number;
  intervalMs: number;
  maxQueue: number;
  logger: Logger;
  stream?: Writable;
}

export function createStdoutSink(opts: StdoutSinkOptions): AuditSink {
  const stream = opts.stream ?? process.stdout;
  const batcher = new Batcher({
    name: 'stdout',
    batchMax: opts.batchMax,
    intervalMs: opts.intervalMs,
    maxQueue: opts.maxQueue,
    logger: opts.logger,
    send: (lines) =>
      new Promise<void>((resolve, reject) => {
        stream.write(lines.join('\n') + '\n', (err) => (err ? reject(err) : resolve()));
      }),
  });
  return {
    name: 'stdout',
    deliver: (lines) => batcher.push(lines),
    close: () => batcher.close(),
    health: () => batcher.health(),
  };
}
