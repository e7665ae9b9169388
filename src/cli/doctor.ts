/**
 * `gatehouse doctor`: the production hardening checklist (docs/doctor.md) against a configuration file. Exit 0 when
 * nothing fails (warnings allowed), 1 when a check fails (or warns, with --strict), 2 for a configuration error.
 */
import { isAbsolute, resolve } from 'node:path';
import { doctorExitCode, formatJson, formatText, runDoctor } from '../doctor/index.js';
import { configOption, loadCliConfig } from './context.js';
import type { Command } from './types.js';
import { bool, str } from './types.js';

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'check the configuration against the production hardening checklist',
  usage: 'gatehouse doctor [--config FILE] [--json] [--production] [--strict]',
  description:
    'Reports every setting production refuses and what the seed deployment checklists ask beyond them: certificate\n' +
    'expiry and key modes, token lifetimes, approvers, remote audit sinks, rate limits, redaction. Files the\n' +
    'configuration names are read, nothing is written. Secrets are never printed, only the config paths holding them.\n' +
    'Exit status: 0 nothing failed, 1 a check failed (or warned, with --strict), 2 a configuration error.\n' +
    'Example (CI, before a deploy):\n' +
    '  gatehouse doctor --config /etc/gatehouse/gatehouse.yaml --production --strict',
  options: {
    ...configOption,
    json: { type: 'boolean', description: 'print the report as JSON' },
    production: { type: 'boolean', description: 'evaluate as production whatever GATEHOUSE_ENV says' },
    strict: { type: 'boolean', description: 'exit 1 on warnings too' },
  },
  async run(args, ctx) {
    const production = bool(args, 'production');
    // The profile comes from the environment at load: --production sets it, so a misspelt or absent GATEHOUSE_ENV does not matter.
    const env = production ? { ...ctx.env, GATEHOUSE_ENV: 'production' } : ctx.env;
    // skipProfileCheck: the production refusals become failing checks instead of an exception.
    const cfg = await loadCliConfig(args, { ...ctx, env }, { skipProfileCheck: true });
    const path = str(args, 'config') ?? ctx.env['GATEHOUSE_CONFIG'];
    const configFile = path ? (isAbsolute(path) ? path : resolve(ctx.cwd, path)) : undefined;
    const report = await runDoctor(cfg, { env: ctx.env, ...(production ? { profile: 'production' } : {}), ...(configFile ? { configFile } : {}) });
    ctx.stdout.write(bool(args, 'json') ? formatJson(report) : formatText(report));
    return doctorExitCode(report, bool(args, 'strict'));
  },
};
