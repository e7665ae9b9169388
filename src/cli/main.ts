import { parseArgs } from 'node:util';
import { GatehouseError } from '../core/errors.js';
import { gatehouseVersion } from '../core/version.js';
import { ConfigError } from '../config/error.js';
import { nearestKey } from '../config/schema-walk.js';
import { commands, loadCommands } from './commands.js';
import type { CliContext, Command, OptionSpec, ParsedArgs } from './types.js';
import { writeLine } from './types.js';

const EXIT_USAGE = 2;

function optionLines(options: Record<string, OptionSpec> | undefined): string[] {
  if (!options) return [];
  return Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
    return `  ${flag.padEnd(30)} ${o.description}${o.multiple ? ' (repeatable)' : ''}`;
  });
}

/** A command's help, or with no command the top-level help listing `all` (the loaded commands). */
export function helpText(cmd: Command | undefined, path: string[], all: readonly Command[] = []): string {
  if (!cmd) {
    const lines = [
      'gatehouse — a security gateway and toolkit for internal services',
      '',
      'Usage: gatehouse <command> [options]',
      '',
      'Commands:',
      ...all.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`),
      '',
      'Run `gatehouse <command> --help` for a command\'s options.',
      'Environment: GATEHOUSE_HOME (state directory, default ./.gatehouse), GATEHOUSE_ENV=production|development.',
    ];
    return lines.join('\n');
  }
  const lines = [`gatehouse ${path.join(' ')} — ${cmd.summary}`, '', `Usage: ${cmd.usage}`];
  if (cmd.description) lines.push('', cmd.description);
  if (cmd.subcommands?.length) {
    lines.push('', 'Commands:', ...cmd.subcommands.map((c) => `  ${c.name.padEnd(14)} ${c.summary}`));
  }
  const opts = optionLines(cmd.options);
  if (opts.length) lines.push('', 'Options:', ...opts);
  lines.push('  -h, --help                     show this help');
  return lines.join('\n');
}

function defaultContext(partial: Partial<CliContext>): CliContext {
  return {
    stdin: partial.stdin ?? process.stdin,
    stdout: partial.stdout ?? process.stdout,
    stderr: partial.stderr ?? process.stderr,
    env: partial.env ?? process.env,
    cwd: partial.cwd ?? process.cwd(),
  };
}

/** A command word as one is spelt; anything else (a token pasted one word too early) is never repeated. */
const COMMAND_WORD = /^[a-z][a-z0-9-]{0,31}$/;
const quotedWord = (word: string): string => (COMMAND_WORD.test(word) ? ` "${word}"` : '');

/** Runs the CLI in-process and returns the exit code. */
export async function runCli(argv: string[], partial: Partial<CliContext> = {}): Promise<number> {
  const ctx = defaultContext(partial);
  const args = [...argv];
  if (args.length === 0 || args[0] === '--help' || args[0] === '-h' || args[0] === 'help') {
    writeLine(args.length === 0 ? ctx.stderr : ctx.stdout, helpText(undefined, [], await loadCommands()));
    return args.length === 0 ? EXIT_USAGE : 0;
  }
  if (args[0] === '--version' || args[0] === '-v') {
    writeLine(ctx.stdout, gatehouseVersion());
    return 0;
  }
  const entry = commands.find((c) => c.name === args[0]);
  const path: string[] = [];
  if (!entry) {
    writeLine(ctx.stderr, `error GH_USAGE: unknown command${quotedWord(String(args[0]))}; run gatehouse --help`);
    return EXIT_USAGE;
  }
  let cmd = await entry.load();
  path.push(cmd.name);
  args.shift();
  while (cmd.subcommands?.length) {
    const next: string | undefined = args[0];
    if (next === undefined || next === '--help' || next === '-h') {
      writeLine(next ? ctx.stdout : ctx.stderr, helpText(cmd, path));
      return next ? 0 : EXIT_USAGE;
    }
    const sub: Command | undefined = cmd.subcommands.find((c) => c.name === next);
    if (!sub) {
      writeLine(ctx.stderr, `error GH_USAGE: unknown ${path.join(' ')} command${quotedWord(next)}; run gatehouse ${path.join(' ')} --help`);
      return EXIT_USAGE;
    }
    cmd = sub;
    path.push(sub.name);
    args.shift();
  }
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, o] of Object.entries(cmd.options ?? {})) {
    options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  if (asksForHelp(args, options)) {
    writeLine(ctx.stdout, helpText(cmd, path));
    return 0;
  }
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true }) as ParsedArgs;
  } catch (e) {
    writeLine(ctx.stderr, `error GH_USAGE: ${unknownOption(e, cmd, path) ?? (e as Error).message.split('\n')[0]}`);
    writeLine(ctx.stderr, `usage: ${cmd.usage}`);
    return EXIT_USAGE;
  }
  if (!cmd.run) {
    writeLine(ctx.stderr, helpText(cmd, path));
    return EXIT_USAGE;
  }
  try {
    return await cmd.run(parsed, ctx);
  } catch (e) {
    return await reportError(e, ctx);
  }
}

/**
 * True when --help or -h stands as an option, not as the value of one or after `--`: `token revoke ID --reason --help`
 * from a script must not print help and exit 0 with nothing revoked (parsed strictly, that value is refused as ambiguous).
 */
function asksForHelp(args: string[], options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>): boolean {
  const { tokens } = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: false, allowPositionals: true, tokens: true });
  return tokens.some((t) => t.kind === 'option' && t.name === 'help');
}

/** For a misspelt flag, the message names the closest valid one (as config keys do) instead of parseArgs' advice about `--`. */
function unknownOption(e: unknown, cmd: Command, path: readonly string[]): string | undefined {
  if ((e as NodeJS.ErrnoException).code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return undefined;
  const m = /^Unknown option '(-{1,2})([^'=]{1,64})/.exec((e as Error).message);
  if (!m) return undefined;
  const [, dashes, name] = m as unknown as [string, string, string];
  const near = dashes === '--' ? nearestKey(name, [...Object.keys(cmd.options ?? {}), 'help']) : undefined;
  return `unknown option ${dashes}${name}${near ? ` (did you mean --${near}?)` : `; run gatehouse ${path.join(' ')} --help`}`;
}

/** Prints an error without secrets: the code and its message; config errors one line per problem. */
export async function reportError(e: unknown, ctx: Pick<CliContext, 'stderr'>): Promise<number> {
  // Loaded on this path only: a command that succeeds never pays for the redactor's rule tables.
  const { redactText } = await import('../redact/index.js');
  // Messages are secret-free by construction; the redactor is a second line of defence (issue 6).
  if (e instanceof ConfigError) {
    for (const p of e.problems) writeLine(ctx.stderr, redactText(`error ${e.code}: ${p}`));
    return EXIT_USAGE;
  }
  if (e instanceof GatehouseError) {
    writeLine(ctx.stderr, redactText(`error ${e.code}: ${e.message}`));
    return e.code.startsWith('GH_CONFIG') || e.code === 'GH_USAGE' ? EXIT_USAGE : 1;
  }
  if (e instanceof TypeError) {
    writeLine(ctx.stderr, `error GH_USAGE: ${e.message}`);
    return EXIT_USAGE;
  }
  // Unknown errors may carry anything in their message: print only the class and code.
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  writeLine(ctx.stderr, `error GH_INTERNAL: unexpected ${(e as Error | undefined)?.name ?? 'error'}${code ? ` (${code})` : ''}`);
  return 1;
}

/**
 * The reader of our output went away (`gatehouse secrets list | head -1`): stop quietly with the status so far, as
 * Unix tools do, instead of dying on an unhandled EPIPE with a stack trace.
 */
function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  });
}

export const main = (argv: string[]): Promise<number> => {
  quietOnClosedPipe(process.stdout);
  return runCli(argv);
};
