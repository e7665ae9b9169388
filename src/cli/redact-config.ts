/**
 * The configuration side of `gatehouse redact`: the redact section of --config and a --rules file, checked like the
 * config section. Loaded only when one of them is given, so a plain `gatehouse redact` starts without the YAML parser,
 * the config schema or the state store.
 */
import { resolve } from 'node:path';
import { parse as parseYaml, YAMLError } from 'yaml';
import { ConfigError } from '../config/error.js';
import { describeYamlError } from '../config/yaml-error.js';
import { BoundedReadError, readFileBounded } from '../core/files.js';
import { redactSection, type RedactConfig } from '../config/schema/redact.js';
import { loadCliConfig } from './context.js';
import type { CliContext, ParsedArgs } from './types.js';
import { str } from './types.js';

const MAX_RULES_FILE = 1024 * 1024;

/** Reads a YAML/JSON rules file ({ rules, allow, keys, fields, paths, entropy }) and checks it like the config section. */
async function readRulesFile(file: string, cwd: string): Promise<RedactConfig> {
  const path = resolve(cwd, file);
  let text: string;
  try {
    text = readFileBounded(path, MAX_RULES_FILE).toString('utf8');
  } catch (e) {
    if (e instanceof BoundedReadError) throw new ConfigError([`${file}: ${e.reason === 'too_large' ? 'larger than 1 MiB' : 'not a regular file'}`]);
    throw new ConfigError([`${file}: cannot be read`], 'GH_CONFIG_FILE_UNREADABLE');
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (e) {
    // Code and position only (config/yaml-error.ts): the parser's message quotes the text it stopped at, which may be
    // the very secret a rule was written to catch.
    throw new ConfigError([`${file}: not valid YAML or JSON (${e instanceof YAMLError ? describeYamlError(e) : 'unreadable'})`]);
  }
  const parsed = redactSection.safeParse(doc ?? {});
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${file}: ${i.path.join('.') || '(top)'}: ${i.message}`));
  }
  return parsed.data;
}

/** The configured redact section (only when --config or $GATEHOUSE_CONFIG names a file), else the defaults. */
async function configuredSection(args: ParsedArgs, ctx: CliContext): Promise<RedactConfig> {
  if (!str(args, 'config') && !ctx.env['GATEHOUSE_CONFIG']) return redactSection.parse(undefined);
  return (await loadCliConfig(args, ctx, { skipProfileCheck: true })).redact;
}

/** The section the command redacts with: the configured one (or the defaults) plus the --rules file's entries. */
export async function redactOptions(args: ParsedArgs, ctx: CliContext): Promise<RedactConfig & { source: string }> {
  const section = await configuredSection(args, ctx);
  const file = str(args, 'rules');
  const extra = file ? await readRulesFile(file, ctx.cwd) : undefined;
  return {
    ...section,
    rules: [...section.rules, ...(extra?.rules ?? [])],
    allow: [...section.allow, ...(extra?.allow ?? [])],
    keys: [...section.keys, ...(extra?.keys ?? [])],
    fields: [...section.fields, ...(extra?.fields ?? [])],
    paths: [...section.paths, ...(extra?.paths ?? [])],
    source: file ? `${file}: redact` : 'redact',
  };
}
