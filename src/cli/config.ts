import { stringify } from 'yaml';
import { redactConfigForDisplay } from '../config/index.js';
import { productionRefusals } from '../gateway/production.js';
import { createRedactor } from '../redact/index.js';
import { configOption, loadCliConfig } from './context.js';
import type { Command } from './types.js';
import { bool, writeLine } from './types.js';

const check: Command = {
  name: 'check',
  summary: 'validate the configuration and print the effective config, secrets shown as [REDACTED]',
  usage: 'gatehouse config check [--config FILE] [--quiet]',
  description:
    'Loads the file exactly as `gatehouse serve` would (${VAR} interpolation, *_file fields, defaults), reports every\n' +
    'problem on its own line and exits 2, or prints the effective configuration. With GATEHOUSE_ENV=production the\n' +
    'production refusals are checked too.',
  options: { ...configOption, quiet: { type: 'boolean', short: 'q', description: 'print nothing on success' } },
  async run(args, ctx) {
    const cfg = await loadCliConfig(args, ctx, { skipProfileCheck: true });
    const problems = cfg.profile === 'production' ? productionRefusals(cfg) : [];
    for (const p of problems) writeLine(ctx.stderr, `error GH_CONFIG_PRODUCTION_REFUSED: production: ${p}`);
    if (problems.length) return 2;
    if (!bool(args, 'quiet')) {
      // Secrets by key name first, then the redactor's value detection over the whole text (issue 6: CLI output).
      const shown = redactConfigForDisplay(cfg);
      ctx.stdout.write(createRedactor(cfg.redact).redactText(`# profile: ${cfg.profile}\n` + stringify(shown, { lineWidth: 0 })));
    }
    return 0;
  },
};

export const configCommand: Command = {
  name: 'config',
  summary: 'validate and show configuration',
  usage: 'gatehouse config <check> [options]',
  subcommands: [check],
};
