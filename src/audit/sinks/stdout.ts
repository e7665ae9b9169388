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
  /**
   * Several processes write to the same stdout (server.workers): each write(2) then carries whole lines and at most
   * PIPE_BUF bytes, which a pipe never interleaves with another process's write, instead of one write per batch.
   * A single line longer than PIPE_BUF is still written alone, but a pipe may then interleave it.
   */
  sharedStream?: boolean;
}

/** POSIX's atomic pipe write size on Linux. */
export const PIPE_BUF = 4096;

/** Whole lines, each group at most `max` bytes with its newlines (a longer line is a group of its own). */
export function lineGroups(lines: readonly string[], max = PIPE_BUF): string[] {
  const out: string[] = [];
  let cur = '';
  let bytes = 0;
  for (const l of lines) {
    const n = Buffer.byteLength(l) + 1;
    if (bytes > 0 && bytes + n > max) {
      out.push(cur);
      cur = '';
      bytes = 0;
    }
    cur += l + '\n';
    bytes += n;
  }
  if (bytes > 0) out.push(cur);
  return out;
}

const write = (stream: Writable, chunk: string): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    stream.write(chunk, (err) => (err ? reject(err) : resolve()));
  });

export function createStdoutSink(opts: StdoutSinkOptions): AuditSink {
  const stream = opts.stream ?? process.stdout;
  const batcher = new Batcher({
    name: 'stdout',
    batchMax: opts.batchMax,
    intervalMs: opts.intervalMs,
    maxQueue: opts.maxQueue,
    logger: opts.logger,
    send: (lines) => {
      if (!opts.sharedStream) return write(stream, lines.join('\n') + '\n');
      // One chunk at a time: chunks written together would leave the stream as one writev(2), larger than PIPE_BUF.
      let chain = Promise.resolve();
      for (const chunk of lineGroups(lines)) chain = chain.then(() => write(stream, chunk));
      return chain;
    },
  });
  return {
    name: 'stdout',
    deliver: (lines) => batcher.push(lines),
    close: async () => {
      await batcher.close();
    },
    health: () => batcher.health(),
  };
}
