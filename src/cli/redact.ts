/**
 * `gatehouse redact [--json] [--rules FILE] [--config FILE] < input > output` (issue 6): redacts a log stream
 * line by line, for pipelines (`journalctl -f | gatehouse redact`). Memory stays bounded by the longest line.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parse as parseYaml } from 'yaml';
import { GatehouseError } from '../core/errors.js';
import { ConfigError } from '../config/index.js';
import { redactSection, type RedactConfig } from '../config/schema/redact.js';
import { createRedactor, createRedactStream } from '../redact/index.js';
import { configOption, loadCliConfig } from './context.js';
import type { CliContext, Command } from './types.js';
import { bool, str, writeLine } from './types.js';

const MAX_RULES_FILE = 1024 * 1024;

/** Reads a YAML/JSON rules file ({ rules, allow, keys, fields, paths, entropy }) and checks it like the config section. */
async function readRulesFile(file: string, cwd: string): Promise<RedactConfig> {
  const path = resolve(cwd, file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new ConfigError([`${file}: cannot be read`], 'GH_CONFIG_FILE_UNREADABLE');
  }
  if (text.length > MAX_RULES_FILE) throw new ConfigError([`${file}: larger than 1 MiB`]);
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError([`${file}: not valid YAML or JSON (${(e as Error).message.split('\n')[0]})`]);
  }
  const parsed = redactSection.safeParse(doc ?? {});
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${file}: ${i.path.join('.') || '(top)'}: ${i.message}`));
  }
  return parsed.data;
}

/** The configured redact section (only when --config or $GATEHOUSE_CONFIG names a file), else the defaults. */
async function configuredSection(args: Parameters<NonNullable<Command['run']>>[0], ctx: CliContext): Promise<RedactConfig> {
  if (!str(args, 'config') && !ctx.env['GATEHOUSE_CONFIG']) return redactSection.parse(undefined);
  return (await loadCliConfig(args, ctx, { skipProfileCheck: true })).redact;
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
    const section = await configuredSection(args, ctx);
    const file = str(args, 'rules');
    const extra = file ? await readRulesFile(file, ctx.cwd) : undefined;
    let redactor;
    try {
      redactor = createRedactor({
        ...section,
        rules: [...section.rules, ...(extra?.rules ?? [])],
        allow: [...section.allow, ...(extra?.allow ?? [])],
        keys: [...section.keys, ...(extra?.keys ?? [])],
        fields: [...section.fields, ...(extra?.fields ?? [])],
        paths: [...section.paths, ...(extra?.paths ?? [])],
        source: file ? `${file}: redact` : 'redact',
      });
    } catch (e) {
      if (e instanceof GatehouseError && e.code === 'GH_REDACT_RULE_UNSAFE') {
        writeLine(ctx.stderr, `error ${e.code}: ${e.message}`);
        return 2;
      }
      throw e;
    }
    try {
      await pipeline(ctx.stdin, createRedactStream({ redactor, json: bool(args, 'json') }), toStdout(ctx.stdout));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EPIPE') return 0; // the reader went away (| head)
      throw e;
    }
    return 0;
  },
};
