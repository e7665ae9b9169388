/**
 * `gatehouse redact [--json] [--rules FILE] [--config FILE] < input > output` (issue 6): redacts a log stream
 * line by line, for pipelines (`journalctl -f | gatehouse redact`). Memory stays bounded by the longest line.
 */
import { createReadStream, fstatSync } from 'node:fs';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GatehouseError } from '../core/errors.js';
import { createRedactor, createRedactStream, type Redactor } from '../redact/index.js';
import type { CliContext, Command } from './types.js';
import { bool, configOption, str, writeLine } from './types.js';

/** Bytes per read when stdin is a regular file (`gatehouse redact < app.log`): fewer thread-pool round trips than 64 KiB. */
const FILE_READ_BYTES = 1024 * 1024;

/** The process's stdin as a 1 MiB-chunk file stream when it is a regular file; otherwise the context's stdin as is. */
function input(ctx: CliContext): Readable {
  if (ctx.stdin !== process.stdin) return ctx.stdin as Readable;
  try {
    if (!fstatSync(0).isFile()) return ctx.stdin as Readable;
  } catch {
    return ctx.stdin as Readable;
  }
  return createReadStream('', { fd: 0, autoClose: false, highWaterMark: FILE_READ_BYTES });
}

/** Writes to the command's stdout with backpressure, without ending it (stdout outlives the command). */
function toStdout(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      if (out.write(chunk)) cb();
      else out.once('drain', () => cb());
    },
  });
}

export const redactCommand: Command = {
  name: 'redact',
  summary: 'redact secrets from a log stream (stdin → stdout), line by line',
  usage: 'gatehouse redact [--json] [--rules FILE] [--config FILE] < input > output',
  description: [
    'Applies the built-in rules (seed 004: Bearer/Basic credentials, api_key/password values, certificates,',
    'sensitive file paths, URL passwords, provider token formats), the redact section of --config, and',
    '--rules FILE (YAML or JSON: rules, allow, keys, fields, paths). With --json, each line that is a JSON',
    'object or array is redacted structurally (by key name and field path) and re-serialised.',
    '',
    'Examples:',
    '  journalctl -u myapp -f | gatehouse redact',
    '  gatehouse redact --json --rules extra-rules.yaml < app.jsonl > app.redacted.jsonl',
  ].join('\n'),
  options: {
    json: { type: 'boolean', description: 'redact JSON lines structurally (other lines as text)' },
    rules: { type: 'string', value: 'FILE', description: 'extra rules and allow-list entries (YAML or JSON)' },
    ...configOption,
  },
  async run(args, ctx) {
    // Without --config, $GATEHOUSE_CONFIG or --rules the built-in defaults apply (the redact section's defaults are the
    // redactor's own), and the configuration modules are not loaded at all.
    const configured = str(args, 'config') !== undefined || str(args, 'rules') !== undefined || Boolean(ctx.env['GATEHOUSE_CONFIG']);
    const options = configured ? await (await import('./redact-config.js')).redactOptions(args, ctx) : { source: 'redact' };
    let redactor: Redactor;
    try {
      redactor = createRedactor(options);
    } catch (e) {
      if (e instanceof GatehouseError && e.code === 'GH_REDACT_RULE_UNSAFE') {
        writeLine(ctx.stderr, `error ${e.code}: ${e.message}`);
        return 2;
      }
      throw e;
    }
    try {
      await pipeline(input(ctx), createRedactStream({ redactor, json: bool(args, 'json') }), toStdout(ctx.stdout));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EPIPE') return 0; // the reader went away (| head)
      throw e;
    }
    return 0;
  },
};
