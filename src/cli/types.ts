import type { Readable, Writable } from 'node:stream';
import { GatehouseError } from '../core/errors.js';

/** Everything a command touches of the outside world, so tests can run commands in-process. */
export interface CliContext {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** One line for --help. */
  description: string;
  /** Placeholder shown in --help, e.g. FILE. */
  value?: string;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

export interface Command {
  name: string;
  summary: string;
  /** e.g. "gatehouse token mint --agent NAME --scopes SCOPES --ttl DURATION [--tenant T]" */
  usage: string;
  /** Longer help text, examples welcome. */
  description?: string;
  options?: Record<string, OptionSpec>;
  /** A group (token, audit, keys …) has subcommands instead of run. */
  subcommands?: Command[];
  /** Returns the exit code: 0 ok, 1 failure (e.g. verify found a break), 2 usage or config error. */
  run?(args: ParsedArgs, ctx: CliContext): Promise<number>;
}

/** Helpers shared by commands. */
export function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}
export function bool(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}
export function list(args: ParsedArgs, name: string): string[] {
  const v = args.values[name];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}
export function writeLine(stream: Writable, line = ''): void {
  stream.write(line + '\n');
}

/** Who ran a command, for the audit trail: cli:<login name>. */
export const operator = (ctx: Pick<CliContext, 'env'>): string => `cli:${ctx.env['USER'] ?? ctx.env['LOGNAME'] ?? 'unknown'}`;

/** The --config option every command that reads the configuration takes. */
export const configOption: Record<string, OptionSpec> = {
  config: { type: 'string', short: 'c', value: 'FILE', description: 'configuration file (default: the embedded default)' },
};

/**
 * All of stdin as bytes, at most `maxBytes` (GH_USAGE past it, naming `what`): how secrets reach a command without
 * appearing in the process list or the shell history.
 */
export async function readStdin(ctx: CliContext, maxBytes: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of ctx.stdin as AsyncIterable<Buffer | string>) {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    size += b.length;
    if (size > maxBytes) {
      for (const x of chunks) x.fill(0);
      throw new GatehouseError('GH_USAGE', `the ${what} on stdin is larger than ${maxBytes} bytes`);
    }
    chunks.push(b);
  }
  const all = Buffer.concat(chunks);
  for (const x of chunks) x.fill(0);
  return all;
}
